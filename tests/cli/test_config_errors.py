"""Every configuration error path, through the real `syncd` script: one message with a
dotted key and what to do, exit 1, no traceback, and no secret nor any 6-character
piece of one, whether the secret came from the TOML, the environment or a *_file."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import SYNCD

SECRETS = {
    "toml": "tomlSEKRETq7Z9xw41",
    "env": "envSEKRETk3P8vn62",
    "file": "fileSEKRETm5R2tb93",
}
BASE = '[docs]\nroot = "pm"\n'
CASES = {
    "linear-missing-team": ('[trackers.linear]\nkind = "linear"\n', "trackers.linear.team"),
    "github-missing-repo": ('[trackers.github]\nkind = "github"\n', "trackers.github.repo"),
    "jira-misspelled-project": (
        '[trackers.jira]\nkind = "jira"\nurl = "http://127.0.0.1:9"\nprojct = "OPS"\n',
        "did you mean 'project'",
    ),
    "wrong-type": (
        '[trackers.github]\nkind = "github"\nrepo = "a/b"\npage_size = "many"\n',
        "trackers.github.page_size",
    ),
    "unknown-kind": ('[trackers.x]\nkind = "nope"\n', "trackers.x.kind"),
    "core-wrong-type": ("[server]\nport = 'eighty'\n", "server.port"),
    "malformed-toml": ("[docs\n", "invalid TOML"),
}


def run(tmp_path, toml: str, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pm").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    extra = ""
    section = next(
        (line[1:-1] for line in toml.splitlines() if line.startswith("[trackers.")), None
    )
    if section and source == "toml":
        extra = f'token = "{SECRETS["toml"]}"\n'
    elif section and source == "file":
        (tmp_path / "tok").write_text(SECRETS["file"] + "\n")
        extra = 'token_file = "tok"\n'
    elif section:
        env[f"SYNCD_{section.upper().replace('.', '__')}__TOKEN"] = SECRETS["env"]
    # the SMTP password from every source too: it is in the tree whatever fails
    env["SYNCD_SMTP__PASSWORD"] = SECRETS["env"]
    config = tmp_path / "syncd.toml"
    config.write_text(BASE + toml + extra)
    return subprocess.run(
        [str(SYNCD), "plan", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def pieces(secret: str) -> list[str]:
    return [secret[i : i + 6] for i in range(len(secret) - 5)]


@pytest.mark.parametrize("source", ["toml", "env", "file"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_config_error_is_one_clear_message_without_secrets(tmp_path, case, source):
    toml, expected = CASES[case]
    proc = run(tmp_path, toml, source)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert expected in output
    assert "Traceback" not in output and "input_value" not in output
    assert "errors.pydantic.dev" not in output
    assert output.count("configuration error") == 1  # printed once
    for secret in SECRETS.values():
        for piece in pieces(secret):
            assert piece not in output, (piece, output)


@pytest.mark.parametrize("kind", ["jira", "github", "linear"])
def test_missing_or_empty_token_says_where_a_secret_comes_from(tmp_path, kind):
    section = {
        "jira": 'url = "http://127.0.0.1:9"\nproject = "OPS"\n',
        "github": 'repo = "a/b"\n',
        "linear": 'team = "ENG"\n',
    }[kind]
    config = tmp_path / "syncd.toml"
    for token in ("", 'token = ""\n'):
        config.write_text(BASE + f'[trackers.{kind}]\nkind = "{kind}"\n{section}{token}')
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        proc = subprocess.run(
            [str(SYNCD), "plan", "--config", str(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 1, proc.stderr
        assert f"trackers.{kind}.token" in proc.stderr
        assert "token_file" in proc.stderr
        assert f"SYNCD_TRACKERS__{kind.upper()}__TOKEN" in proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [["sync", "--once"], ["status"], ["plan"]])
def test_no_config_is_an_error_and_creates_nothing(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    proc = subprocess.run(
        [str(SYNCD), *command], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 1
    assert "--config" in proc.stderr and "SYNCD_CONFIG" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_lint_reads_only_its_section_and_today_turns_on_overdue(tmp_path):
    (tmp_path / "pm.md").write_text(
        "# Outage\n\n## Action items\n\n| Action | Owner | Due |\n|---|---|---|\n"
        "| Fix it | @sri | 2026-01-01 |\n"
    )
    config = tmp_path / "syncd.toml"
    config.write_text(
        '[trackers.jira]\nkind = "jira"\ntoken_file = "/nonexistent"\n'
        '[smtp]\npassword_file = "/nonexistent"\n[lint]\ndisable = []\n'
    )
    proc = subprocess.run(
        [str(SYNCD), "lint", "--config", str(config), str(tmp_path / "pm.md")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr and "configuration error" not in proc.stderr
    assert "overdue" not in proc.stdout
    proc = subprocess.run(
        [str(SYNCD), "lint", "--today", "2026-02-01", str(tmp_path / "pm.md")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "overdue" in proc.stdout
    config.write_text("[lint]\nbogus = 1\n")
    proc = subprocess.run(
        [str(SYNCD), "lint", "--config", str(config), str(tmp_path / "pm.md")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "lint.bogus" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_corrupt_state_names_the_recovery_and_reset_recovers(tmp_path):
    (tmp_path / "pm").mkdir()
    (tmp_path / "state.db").write_text("not a database")
    config = tmp_path / "syncd.toml"
    config.write_text('[docs]\nroot = "pm"\n[state]\npath = "state.db"\n')
    base = [str(SYNCD)]
    proc = subprocess.run(
        [*base, "status", "--config", str(config)], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "syncd state reset --yes" in proc.stderr
    proc = subprocess.run(
        [*base, "state", "reset", "--yes", "--config", str(config)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [*base, "status", "--config", str(config)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_the_hint_text_is_never_masked_only_input_is(tmp_path):
    # a token sharing words with the tool's own hint ("secret", "[trackers"): the hint
    # reads as written, and still no 6-character piece of the token is printed
    token = "my-secret-[trackers.linear]-Kubernetes-q9"
    config = tmp_path / "syncd.toml"
    config.write_text(
        BASE + f'[trackers.linear]\nkind = "linear"\nteam = "ENG"\nwebhook_secret = "{token}"\n'
        '[trackers.github]\nkind = "github"\nrepo = "a/b"\n'
    )
    (tmp_path / "pm").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    proc = subprocess.run(
        [str(SYNCD), "plan", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "e.g. a mounted Kubernetes secret), or the environment variable" in proc.stderr
    assert "set token in [trackers.github]" in proc.stderr
    assert "SYNCD_TRACKERS__GITHUB__TOKEN" in proc.stderr
    for piece in pieces(token):
        leftover = proc.stderr
        for hint in ("Kubernetes secret", "[trackers.github]", "[trackers.linear]"):
            leftover = leftover.replace(hint, "")
        assert piece not in leftover, (piece, proc.stderr)
