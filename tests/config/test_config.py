from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from syncd.common.durations import format_duration, parse_duration
from syncd.config import (
    ConfigError,
    Settings,
    deep_merge,
    load_config,
    match_glob,
    redact,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"

JIRA_TOKEN = "jira-tok-5ecret-0001"
GH_TOKEN = "ghp_5ecret0002"
SMTP_PASSWORD = "smtp-5ecret-0003"
HOOK_SECRET = "hook-5ecret-0004"

BASIC = """
[docs]
root = "pms"

[state]
path = "var/state.db"

[trackers.jira]
kind = "jira"
url = "https://example.atlassian.net"
project = "OPS"
email = "bot@example.com"

[trackers.github]
kind = "github"
url = "https://api.github.com"
repo = "acme/reliability"

[routing]
default = "jira"

[[routing.rules]]
match = "payments/**"
tracker = "github"

[[routing.rules]]
match = "infra/*.md"
tracker = "jira"
project = "INFRA"

[owners."@sri"]
jira = "5b10-sri"
github = "sri-gh"
email = "sri@example.com"

[owners.Alex]
jira = "5b10-alex"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write(tmp_path / "etc" / "syncd.toml", BASIC)


def load(config_file: Path, **env: str) -> Settings:
    return load_config(config_file, env=env)


def problems_of(excinfo: pytest.ExceptionInfo[ConfigError]) -> str:
    return str(excinfo.value)


# ----------------------------------------------------------------------------- sources


def test_no_file_means_defaults_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_config(env={})
    assert s.source is None
    assert s.docs.root == tmp_path / "postmortems"
    assert s.state.path == tmp_path / ".syncd" / "state.db"
    assert s.docs.include == ["**/*.md"]
    assert s.docs.exclude == ["**/TEMPLATE*.md", "**/README.md", "**/_*.md"]
    assert s.docs.git.commit is True and s.docs.git.push is None
    assert s.trackers == {} and s.route("a.md") is None
    assert s.sync.interval == timedelta(minutes=5)
    assert s.sync.overlap == timedelta(minutes=2)
    assert s.sync.conflict_winner == "tracker"
    assert (s.server.host, s.server.port, s.server.max_body_bytes) == ("127.0.0.1", 8089, 1_000_000)
    assert s.digest.from_ == "postmortem-syncd@localhost"
    assert s.digest.targets["P0"].percent == 90 and s.digest.targets["P0"].within_days == 7
    assert s.digest.targets["P2"].within_days == 90
    assert s.smtp.port == 25 and s.smtp.password is None
    assert s.log.format == "auto" and s.log.level == "info"


def test_config_path_from_env(config_file):
    s = load_config(env={"SYNCD_CONFIG": str(config_file)})
    assert s.source == config_file
    assert s.trackers["jira"]["project"] == "OPS"


def test_explicit_path_beats_env(config_file, tmp_path):
    other = write(tmp_path / "other.toml", '[docs]\nroot = "elsewhere"\n')
    s = load_config(other, env={"SYNCD_CONFIG": str(config_file)})
    assert s.docs.root == tmp_path / "elsewhere"


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(env={"SYNCD_CONFIG": str(tmp_path / "nope.toml")})


def test_invalid_toml_reports_position(tmp_path):
    path = write(tmp_path / "bad.toml", "[docs]\nroot = \n")
    with pytest.raises(ConfigError, match=r"invalid TOML.*line 2"):
        load_config(path, env={})


def test_env_overrides_deep_merge_into_file(config_file):
    s = load(
        config_file,
        SYNCD_TRACKERS__JIRA__TOKEN=JIRA_TOKEN,
        SYNCD_SYNC__INTERVAL="30s",
        SYNCD_DOCS__GIT__PUSH="false",
        SYNCD_SERVER__PORT="9000",
    )
    jira = s.trackers["jira"]
    assert jira["token"] == JIRA_TOKEN
    # siblings from the file survive the override
    assert jira["url"] == "https://example.atlassian.net"
    assert jira["project"] == "OPS"
    assert s.trackers["github"]["repo"] == "acme/reliability"
    assert s.sync.interval == timedelta(seconds=30)
    assert s.docs.git.push is False and s.docs.git.commit is True
    assert s.server.port == 9000


def test_env_can_define_a_tracker_and_lists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_config(
        env={
            "SYNCD_TRACKERS__GH__KIND": "github",
            "SYNCD_TRACKERS__GH__REPO": "acme/x",
            "SYNCD_DIGEST__TO": "a@example.com, b@example.com",
            "SYNCD_DIGEST__CC": '["c@example.com"]',
            "SYNCD_DIGEST__FROM": "bot@example.com",
            "UNRELATED": "ignored",
        }
    )
    assert s.trackers == {"gh": {"kind": "github", "repo": "acme/x"}}
    assert s.route("any/doc.md") == "gh"  # the only tracker is the default
    assert s.digest.to == ["a@example.com", "b@example.com"]
    assert s.digest.cc == ["c@example.com"]
    assert s.digest.from_ == "bot@example.com"


def test_env_null_unsets_a_file_value(config_file):
    s = load(config_file, SYNCD_ROUTING__DEFAULT="null")
    assert s.routing.default is None
    assert s.route("x.md") is None  # two trackers, no default


def test_env_var_names_are_case_insensitive(config_file):
    s = load(config_file, syncd_trackers__jira__token=JIRA_TOKEN)
    assert s.trackers["jira"]["token"] == JIRA_TOKEN


def test_deep_merge_replaces_non_tables():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert deep_merge(base, {"a": {"c": [3]}, "d": {"x": 1}}) == {
        "a": {"b": 1, "c": [3]},
        "d": {"x": 1},
    }
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # inputs untouched


# ----------------------------------------------------------------------------- *_file


def test_file_secrets_anywhere_in_the_tree(tmp_path):
    write(tmp_path / "secrets" / "jira", JIRA_TOKEN + "\n")
    write(tmp_path / "secrets" / "hook", HOOK_SECRET)
    write(tmp_path / "secrets" / "smtp", SMTP_PASSWORD + "\r\n")
    path = write(
        tmp_path / "syncd.toml",
        """
        [trackers.jira]
        kind = "jira"
        url = "https://example.atlassian.net"
        token_file = "secrets/jira"
        webhook_secret_file = "%s"

        [smtp]
        password_file = "secrets/smtp"
        """
        % (tmp_path / "secrets" / "hook"),
    )
    s = load_config(path, env={})
    jira = s.trackers["jira"]
    assert jira["token"] == JIRA_TOKEN  # relative to the config dir, newline stripped
    assert jira["webhook_secret"] == HOOK_SECRET  # absolute path
    assert "token_file" not in jira and "webhook_secret_file" not in jira
    assert isinstance(s.smtp.password, SecretStr)
    assert s.smtp.password.get_secret_value() == SMTP_PASSWORD


def test_file_secret_via_env(tmp_path):
    secret = write(tmp_path / "gh-token", GH_TOKEN + "\n")
    s = load_config(env={"SYNCD_TRACKERS__GITHUB__TOKEN_FILE": str(secret), "SYNCD_CONFIG": ""})
    assert s.trackers["github"]["token"] == GH_TOKEN


def test_explicit_value_beats_file_and_file_is_not_read(tmp_path):
    path = write(
        tmp_path / "syncd.toml",
        '[trackers.jira]\nkind = "jira"\ntoken_file = "/does/not/exist"\n',
    )
    s = load_config(path, env={"SYNCD_TRACKERS__JIRA__TOKEN": JIRA_TOKEN})
    assert s.trackers["jira"] == {"kind": "jira", "token": JIRA_TOKEN}


def test_missing_secret_file_names_the_key(tmp_path):
    path = write(
        tmp_path / "syncd.toml",
        '[trackers.jira]\nkind = "jira"\ntoken_file = "secrets/jira"\n'
        '[smtp]\npassword_file = "/nonexistent/smtp"\n',
    )
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    message = problems_of(excinfo)
    assert "trackers.jira.token_file" in message
    assert str(tmp_path / "secrets" / "jira") in message
    assert "smtp.password_file" in message  # every problem at once
    assert excinfo.value.__cause__ is None


def test_unreadable_secret_file_never_shows_contents(tmp_path):
    write(tmp_path / "empty", "\n")
    (tmp_path / "binary").write_bytes(b"\xff\xfe" + JIRA_TOKEN.encode())
    path = write(
        tmp_path / "syncd.toml",
        '[trackers.a]\ntoken_file = "empty"\n[trackers.b]\ntoken_file = "binary"\n',
    )
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    message = problems_of(excinfo)
    assert "trackers.a.token_file" in message and "empty" in message
    assert "trackers.b.token_file" in message and "UTF-8" in message
    assert JIRA_TOKEN not in message


# ----------------------------------------------------------------------------- paths


def test_relative_paths_resolve_against_config_dir(config_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # cwd differs from the config dir on purpose
    s = load(config_file)
    assert s.docs.root == config_file.parent / "pms"
    assert s.state.path == config_file.parent / "var" / "state.db"


def test_absolute_and_home_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(
        tmp_path / "syncd.toml",
        f'[docs]\nroot = "{tmp_path / "abs"}"\n[state]\npath = "~/state.db"\n',
    )
    s = load_config(path, env={})
    assert s.docs.root == tmp_path / "abs"
    assert s.state.path == tmp_path / "home" / "state.db"


def test_env_relative_path_also_resolves_against_config_dir(config_file):
    s = load(config_file, SYNCD_STATE__PATH="other.db")
    assert s.state.path == config_file.parent / "other.db"


# ----------------------------------------------------------------------------- routing


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("payments/**", "payments/2024/outage.md", True),
        ("payments/**", "payments/outage.md", True),
        ("payments/**", "paymentsx/outage.md", False),
        ("payments/**", "other/payments/outage.md", False),
        ("payments/", "payments/a/b.md", True),
        ("**/*.md", "top.md", True),
        ("**/*.md", "a/b/c.md", True),
        ("**/*.md", "a/b/c.txt", False),
        ("*.md", "top.md", True),
        ("*.md", "a/top.md", False),
        ("infra/*.md", "infra/x.md", True),
        ("infra/*.md", "infra/sub/x.md", False),
        ("a/**/z.md", "a/z.md", True),
        ("a/**/z.md", "a/b/c/z.md", True),
        ("**/TEMPLATE*.md", "TEMPLATE.md", True),
        ("**/TEMPLATE*.md", "teams/TEMPLATE-incident.md", True),
        ("**/_*.md", "x/_draft.md", True),
        ("202?-*.md", "2024-db.md", True),
        ("202[0-3]-*.md", "2024-db.md", False),
        ("202[!0-3]-*.md", "2024-db.md", True),
        ("a+b(1).md", "a+b(1).md", True),  # regex specials are literal
        ("payments/**", "./payments/x.md", True),
        ("payments/**", "payments\\x.md", True),
    ],
)
def test_match_glob(pattern, path, expected):
    assert match_glob(pattern, path) is expected


def test_docs_selection_with_defaults():
    docs = Settings().docs
    assert docs.selects("2024/db-outage.md")
    assert docs.selects("top.md")
    assert not docs.selects("TEMPLATE.md")
    assert not docs.selects("team/README.md")
    assert not docs.selects("team/_draft.md")
    assert not docs.selects("notes.txt")


def test_route_rules_default_and_project(config_file):
    s = load(config_file)
    assert s.route("payments/2024/outage.md") == "github"
    assert s.route("payments/outage.md") == "github"
    assert s.route("infra/dns.md") == "jira"
    assert s.route_with_project("infra/dns.md") == ("jira", "INFRA")
    assert s.route_with_project("infra/deep/dns.md") == ("jira", None)  # default, no rule
    assert s.route("search/outage.md") == "jira"


def test_front_matter_tracker_wins_when_configured(config_file):
    s = load(config_file)
    assert s.route("infra/dns.md", front_matter_tracker="github") == "github"
    assert s.route("infra/dns.md", front_matter_tracker="GitHub") == "github"
    assert s.route_with_project("infra/dns.md", "github") == ("github", None)
    # unknown front matter tracker falls through to the rules
    assert s.route("payments/x.md", front_matter_tracker="linear") == "github"


def test_first_matching_rule_wins(tmp_path):
    path = write(
        tmp_path / "c.toml",
        """
        [trackers.a]
        [trackers.b]
        [[routing.rules]]
        match = "x/**"
        tracker = "b"
        [[routing.rules]]
        match = "**"
        tracker = "a"
        """,
    )
    s = load_config(path, env={})
    assert s.route("x/1.md") == "b"
    assert s.route("y/1.md") == "a"
    assert s.default_tracker is None


def test_routing_to_unknown_tracker_is_an_error(tmp_path):
    path = write(
        tmp_path / "c.toml",
        '[trackers.jira]\n[routing]\ndefault = "jria"\n'
        '[[routing.rules]]\nmatch = "a/**"\ntracker = "gh"\n',
    )
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    message = problems_of(excinfo)
    assert "routing.default: unknown tracker 'jria'" in message
    assert "routing.rules[0].tracker: unknown tracker 'gh'" in message
    assert "(configured: jira)" in message


def test_tracker_names_must_be_lower_case(tmp_path):
    path = write(tmp_path / "c.toml", '[trackers.Jira]\nkind = "jira"\n')
    with pytest.raises(ConfigError, match="trackers: tracker name 'Jira' must be lower-case"):
        load_config(path, env={})


# ----------------------------------------------------------------------------- owners


@pytest.mark.parametrize(
    ("owner", "tracker", "kind", "expected"),
    [
        ("@sri", "jira", "jira", "5b10-sri"),
        ("sri", "jira", "jira", "5b10-sri"),
        ("@SRI", "github", "github", "sri-gh"),
        (" Sri ", "github", "github", "sri-gh"),
        ("@sri", "gh-enterprise", "github", "sri-gh"),  # by kind when the name is absent
        ("@sri", "linear", "linear", None),
        ("alex", "jira", "jira", "5b10-alex"),
        ("@alex", "jira", "jira", "5b10-alex"),
        ("@nobody", "jira", "jira", None),
    ],
)
def test_owner_identity(config_file, owner, tracker, kind, expected):
    assert load(config_file).owner_identity(owner, tracker, kind) == expected


def test_owner_lookup_prefers_exact_key(tmp_path):
    path = write(
        tmp_path / "c.toml",
        '[owners."@pat"]\njira = "at-key"\n[owners.pat]\njira = "plain-key"\n',
    )
    s = load_config(path, env={})
    assert s.owner_identity("pat", "jira", "jira") == "plain-key"
    assert s.owner_identity("@pat", "jira", "jira") == "at-key"


def test_owner_email(config_file):
    s = load(config_file)
    assert s.owner_email("@sri") == "sri@example.com"
    assert s.owner_email("SRI") == "sri@example.com"
    assert s.owner_email("alex") is None
    assert s.owner_email("nobody") is None


# ----------------------------------------------------------------------------- secrets


@pytest.fixture
def secret_settings(config_file: Path) -> Settings:
    return load(
        config_file,
        SYNCD_TRACKERS__JIRA__TOKEN=JIRA_TOKEN,
        SYNCD_TRACKERS__GITHUB__TOKEN=GH_TOKEN,
        SYNCD_TRACKERS__GITHUB__WEBHOOK_SECRET=HOOK_SECRET,
        SYNCD_TRACKERS__GITHUB__API_KEY="apikey-5ecret",
        SYNCD_TRACKERS__GITHUB__REFRESH_TOKEN="refresh-5ecret",
        SYNCD_TRACKERS__GITHUB__PROXY="https://user:proxy-5ecret@proxy.example.com:3128",
        SYNCD_SMTP__PASSWORD=SMTP_PASSWORD,
    )


SECRETS = (JIRA_TOKEN, GH_TOKEN, HOOK_SECRET, SMTP_PASSWORD, "apikey-5ecret", "refresh-5ecret")


def test_secrets_never_appear_in_repr_str_or_redacted(secret_settings):
    s = secret_settings
    views = [
        repr(s),
        str(s),
        json.dumps(s.redacted()),
        repr(s.redacted()),
        repr(s.trackers),
        str(s.trackers["github"]),
        f"{s.trackers['jira']}",
        repr(s.smtp),
    ]
    for view in views:
        for secret in (*SECRETS, "proxy-5ecret"):
            assert secret not in view, (secret, view)
    # the values themselves are intact for the code that needs them
    assert s.trackers["jira"]["token"] == JIRA_TOKEN
    assert s.smtp.password is not None
    assert s.smtp.password.get_secret_value() == SMTP_PASSWORD


def test_redacted_keeps_structure(secret_settings):
    red = secret_settings.redacted()
    github = red["trackers"]["github"]
    assert github["token"] == "***"
    assert github["webhook_secret"] == "***"
    assert github["api_key"] == "***"
    assert github["refresh_token"] == "***"
    assert github["proxy"] == "https://***@proxy.example.com:3128"
    assert github["repo"] == "acme/reliability"
    assert red["smtp"]["password"] == "***"
    assert red["smtp"]["username"] is None  # not a secret, and unset stays visible as unset
    assert red["sync"]["interval"] == "5m"
    assert red["digest"]["from"] == "postmortem-syncd@localhost"
    assert red["docs"]["root"].endswith("pms")


def test_redact_helper():
    assert redact({"a": [{"password": "x", "db_password": "y", "tokens": 1}]}) == {
        "a": [{"password": "***", "db_password": "***", "tokens": 1}]
    }
    assert redact({"secret": None}) == {"secret": None}


def test_validation_errors_never_echo_input(tmp_path):
    path = write(
        tmp_path / "c.toml",
        f'[smtp]\npassword = "{SMTP_PASSWORD}"\nport = "{JIRA_TOKEN}"\n'
        f'[trackers.UPPER]\ntoken = "{GH_TOKEN}"\n',
    )
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env={})
    message = problems_of(excinfo)
    assert "smtp.port" in message
    for secret in SECRETS:
        assert secret not in message
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ("[bogus]\nx = 1\n", {}, "bogus: unknown key"),
        ('[docs]\nrooot = "x"\n', {}, "docs.rooot: unknown key"),
        ("[docs.git]\npush_it = true\n", {}, "docs.git.push_it: unknown key"),
        ("", {"SYNCD_SYNC__INTERVALL": "30s"}, "sync.intervall: unknown key"),
        ('[[routing.rules]]\nmatch = "a"\ntracker = "x"\nprio = 1\n', {}, "routing.rules[0].prio"),
        ('[sync]\ninterval = "5 minutes"\n', {}, "sync.interval: invalid duration"),
        ('[sync]\ninterval = "0s"\n', {}, "sync.interval: must be longer than zero"),
        ('[sync]\nconflict_winner = "me"\n', {}, "sync.conflict_winner"),
        ("[sync]\njitter = 1.5\n", {}, "sync.jitter"),
        ('[digest]\ntimezone = "Mars/Olympus"\n', {}, "digest.timezone: unknown time zone"),
        ('[digest]\nschedule = "every monday"\n', {}, "digest.schedule: must be a cron"),
        ("[digest.targets]\nP0 = { percent = 120, within_days = 7 }\n", {}, "digest.targets.P0"),
        ("[smtp]\nstarttls = true\nssl = true\n", {}, "starttls or ssl"),
        ('[log]\nlevel = "loud"\n', {}, "log.level: must be one of"),
        ('[log]\nformat = "xml"\n', {}, "log.format"),
        ('[docs]\ndoc_url = "https://x/"\n', {}, "docs.doc_url: must contain the {path}"),
        ('[docs]\ndoc_url = "https://x/{path}/{rev}"\n', {}, "docs.doc_url: only the {path}"),
        ('[owners."@x"]\njira = 1\n', {}, "owners.@x.jira"),
    ],
)
def test_invalid_values_name_the_key(tmp_path, toml, env, expected):
    path = write(tmp_path / "c.toml", toml)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env=env)
    assert expected in str(excinfo.value)


def test_bad_json_in_env_is_a_config_error(config_file):
    with pytest.raises(ConfigError, match="environment override"):
        load(config_file, SYNCD_LINT__IGNORE="{not json")


def test_digest_targets_and_teams(tmp_path):
    path = write(
        tmp_path / "c.toml",
        """
        [digest]
        from = "pm@example.com"
        timezone = "Europe/Berlin"
        [digest.targets]
        P1 = { percent = 75, within_days = 30 }
        [digest.teams]
        payments = ["@sri", "@alex"]
        """,
    )
    d = load_config(path, env={}).digest
    assert d.from_ == "pm@example.com"
    assert str(d.tz) == "Europe/Berlin"
    assert set(d.targets) == {"P1"}  # a stated table replaces the defaults
    assert d.targets["P1"].percent == 75
    assert d.teams == {"payments": ["@sri", "@alex"]}


def test_settings_are_immutable(config_file):
    s = load(config_file)
    with pytest.raises(ValueError, match="frozen"):
        s.sync.jitter = 0.5  # type: ignore[misc]


def test_settings_constructed_directly_ignore_the_process_env(monkeypatch):
    monkeypatch.setenv("SYNCD_SYNC__INTERVAL", "1s")
    assert Settings().sync.interval == timedelta(minutes=5)


def test_doc_url_template():
    s = Settings(docs={"doc_url": "https://git/x/blob/main/{path}"})
    assert s.docs.url_for("./a/b.md") == "https://git/x/blob/main/a/b.md"
    assert Settings().docs.url_for("a.md") is None


def test_example_config_loads():
    # The example points *_file at Kubernetes mounts; explicit env values win over them.
    s = load_config(
        EXAMPLE,
        env={
            "SYNCD_TRACKERS__JIRA__TOKEN": JIRA_TOKEN,
            "SYNCD_TRACKERS__GITHUB__TOKEN": GH_TOKEN,
            "SYNCD_SMTP__PASSWORD": SMTP_PASSWORD,
        },
    )
    assert set(s.trackers) == {"jira", "github"}
    assert s.trackers["jira"]["project"] == "OPS"
    assert s.route("payments/2024/x.md") == "jira"
    assert s.route_with_project("payments/x.md") == ("jira", "PAY")
    assert s.route("platform/x.md") == "github"
    assert s.owner_identity("@sri", "github", "github") == "sri"
    assert s.owner_email("sri") == "sri@example.com"
    assert s.sync.interval == timedelta(minutes=5)
    assert s.smtp.starttls and s.smtp.port == 587
    assert s.lint.ignore == {"legacy/**": ["missing-owner", "missing-due"]}
    assert s.docs.root == EXAMPLE.parent / "postmortems"
    assert JIRA_TOKEN not in repr(s)


# ----------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5m", timedelta(minutes=5)),
        ("30s", timedelta(seconds=30)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1H 30M", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5h", timedelta(minutes=90)),
        ("90", timedelta(seconds=90)),
        (90, timedelta(seconds=90)),
        (2.5, timedelta(seconds=2.5)),
        ("PT5M", timedelta(minutes=5)),
        ("0", timedelta(0)),
        (timedelta(seconds=3), timedelta(seconds=3)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "5x", "1h30", "5 minutes", "-5s", -1, True, None, "P"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    "value",
    [
        timedelta(0),
        timedelta(seconds=45),
        timedelta(hours=1, minutes=30),
        timedelta(days=1, seconds=1),
        timedelta(milliseconds=1500),
        timedelta(microseconds=7),
    ],
)
def test_format_duration_round_trips(value):
    assert parse_duration(format_duration(value)) == value


def test_format_duration_is_compact():
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"
    assert format_duration(timedelta(milliseconds=250)) == "250ms"
