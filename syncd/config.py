"""Configuration: a TOML file, overridden by `SYNCD_*` environment variables.

Precedence, lowest first: model defaults, the TOML file, the environment
(`SYNCD_SYNC__INTERVAL=30s`, `SYNCD_TRACKERS__JIRA__TOKEN=…`; `__` descends one level,
and overrides deep-merge so one env var never drops its siblings from the file).

After merging, any key `x_file` anywhere in the tree fills an absent sibling `x` with
that file's contents: Kubernetes mounts secrets as files, and the same rule then works
for tracker tokens, webhook secrets and the SMTP password alike.

Relative paths resolve against the config file's directory, so the daemon behaves the
same whatever directory it was started from.

Tracker sections stay raw dicts here: each connector validates its own section with its
own model (`connectors.registry.build`), so the core never needs to know their fields.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources.utils import parse_env_vars

from syncd.common.durations import format_duration, parse_duration
from syncd.common.globs import match_glob, normalise_rel

SectionT = TypeVar("SectionT", bound=BaseModel)
CONFIG_ENV = "SYNCD_CONFIG"
ENV_PREFIX = "SYNCD_"
ENV_NESTED_DELIMITER = "__"
REDACTED = "***"
FILE_SUFFIX = "_file"

_SECRET_KEYS = frozenset({"token", "password", "secret", "webhook_secret", "api_key"})
_SECRET_SUFFIXES = ("_token", "_password", "_secret")
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
# Lower-case only: env var names are case-insensitive, so `[trackers.Jira]` could never be
# reached by `SYNCD_TRACKERS__JIRA__…` (pydantic-settings lower-cases the path).
_TRACKER_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class ConfigError(Exception):
    """The configuration cannot be used. `problems` lists "key: message" lines.

    `secrets` are values known to be secret when the error was raised: `render` removes
    them (and any 6-character piece of them) as a second net behind messages that are
    built without input values in the first place.
    """

    def __init__(
        self, message: str, problems: Sequence[str] = (), *, secrets: Sequence[str] = ()
    ) -> None:
        self.message = message
        self.problems = list(problems)
        self.secrets = [s for s in secrets if s]
        super().__init__(_scrub(message + "".join(f"\n  {p}" for p in self.problems), secrets))

    def render(self) -> str:
        """The one text every command prints for this error (once, on stderr)."""
        return (
            f"syncd: configuration error: {self}\n"
            "  (the configuration reference: docs/configuration.md; exit code 1)"
        )


def report_config_error(exc: ConfigError) -> int:
    """Print `exc` the one way every command does, and return the exit code (1)."""
    print(exc.render(), file=sys.stderr)
    return 1


_FIXED_TEXTS: set[str] = set()  # the tool's own hint texts: never input, never scrubbed


def _fixed(text: str) -> str:
    """`text` (built from templates and key names only), remembered so that the
    piece-by-piece scrub below never masks a word of it."""
    _FIXED_TEXTS.add(text)
    return text


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """Mask every secret, and any 6-character piece of one, in the input-derived parts
    of `text`; the fixed hint texts (`_fixed`) between them are kept as written."""
    fixed = sorted((f for f in _FIXED_TEXTS if f in text), key=len, reverse=True)
    if fixed:
        parts = re.split("(" + "|".join(re.escape(f) for f in fixed) + ")", text)
        return "".join(p if p in _FIXED_TEXTS else _scrub_piece(p, secrets) for p in parts)
    return _scrub_piece(text, secrets)


def _scrub_piece(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
        # any 6-character piece (a secret cut by a message's truncation)
        for i in range(len(secret) - 5):
            piece = secret[i : i + 6]
            if piece in text:
                text = text.replace(piece, REDACTED)
    return text


def secret_values(node: Any, key: str = "") -> list[str]:
    """Every value under a secret-named key (or a SecretStr) in a raw config tree."""
    if isinstance(node, Mapping):
        return [s for k, v in node.items() for s in secret_values(v, str(k))]
    if isinstance(node, list | tuple):
        return [s for v in node for s in secret_values(v, key)]
    if isinstance(node, SecretStr):
        return [node.get_secret_value()]
    if isinstance(node, str) and is_secret_key(key) and len(node) >= 4:
        return [node]
    return []


def secret_hint(where: str) -> str:
    """Where a secret at dotted key `where` (e.g. trackers.jira.token) can come from."""
    section, _, key = where.rpartition(".")
    env = ENV_PREFIX + where.upper().replace(".", ENV_NESTED_DELIMITER)
    return _fixed(
        f'set {key} in [{section}], or {key}{FILE_SUFFIX} = "path/to/file" (a file holding'
        f" it, e.g. a mounted Kubernetes secret), or the environment variable {env}"
    )


def describe_errors(
    errors: Iterable[Mapping[str, Any]], model: type[BaseModel] | None, prefix: str = ""
) -> list[str]:
    """pydantic errors as "dotted.key: what is wrong; what to do" lines, never with the
    input value (a tracker section holds its token)."""
    lines = []
    for err in errors:
        loc = tuple(err["loc"])
        where = _join(prefix, _dotted(loc)) if loc else prefix
        kind = err["type"]
        last = str(loc[-1]) if loc else ""
        if kind == "missing":
            if is_secret_key(last):
                message = f"required secret is missing; {secret_hint(where)}"
            else:
                section = where.rpartition(".")[0]
                message = f'required key is missing; add {last} = "..." to [{section}]'
        elif kind == "extra_forbidden":
            known = _known_keys(model, loc[:-1])
            close = difflib.get_close_matches(last, known, n=1)
            if close:
                message = f"unknown key; did you mean {close[0]!r}?"
            elif known:
                message = f"unknown key; known keys here: {', '.join(known)}"
            else:
                message = "unknown key"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


def _known_keys(model: type[BaseModel] | None, loc: Sequence[Any]) -> list[str]:
    """The field names of the (nested) model at `loc`, for a "did you mean" hint."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        current = fields[part].annotation
    fields = getattr(current, "model_fields", None)
    if not fields:
        return []
    return sorted((f.alias or name) for name, f in fields.items())


# --------------------------------------------------------------------------- helpers


def is_secret_key(key: str) -> bool:
    key = key.lower()
    return key in _SECRET_KEYS or key.endswith(_SECRET_SUFFIXES)


def redact(value: Any) -> Any:
    """A copy of `value` with secret-named keys and URL credentials replaced by "***"."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED if is_secret_key(str(k)) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _URL_USERINFO.sub(REDACTED + "@", value)
    return value


class _RedactingDict(dict[str, Any]):
    """A plain dict whose repr hides secrets, so logging a tracker section is safe."""

    def __repr__(self) -> str:
        return repr(redact(self))

    __str__ = __repr__


def _redacting(value: dict[str, Any]) -> dict[str, Any]:
    return _RedactingDict(
        {k: _redacting(v) if isinstance(v, dict) else v for k, v in value.items()}
    )


def _parse_str_list(value: Any) -> Any:
    # Env vars carry lists either as JSON or, friendlier in a Kubernetes manifest,
    # comma-separated: SYNCD_DIGEST__TO=a@x.org,b@x.org.
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a valid JSON list ({exc.msg})") from None
    return [part.strip() for part in text.split(",") if part.strip()]


def _check_url_template(value: str | None) -> str | None:
    if value is None:
        return None
    if "{path}" not in value:
        raise ValueError("must contain the {path} placeholder")
    try:
        value.format(path="x")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"only the {{path}} placeholder is allowed ({exc})") from None
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
StrList = Annotated[list[str], NoDecode, BeforeValidator(_parse_str_list)]
UrlTemplate = Annotated[str | None, BeforeValidator(_check_url_template)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- sections


class PullRequestSettings(_Section):
    """Where `[docs.git] mode = "pull-request"` opens its pull request (GitHub)."""

    tracker: str | None = Field(
        default=None,
        description="A configured GitHub tracker whose `url` and `token` (and, unless `repo` is"
        " set, repository) are reused; or give `url` and `token` here.",
    )
    repo: str | None = Field(
        default=None, description='The docs repository on GitHub, "owner/name".'
    )
    url: str | None = Field(
        default=None,
        description="GitHub API URL (default: the tracker's, else https://api.github.com).",
    )
    token: SecretStr | None = Field(
        default=None,
        description="Token allowed to open pull requests (pull requests: write); the branch"
        " itself is pushed with the work tree's git credentials. Never printed.",
    )
    branch: str = Field(
        default="postmortem-syncd/updates",
        description="The tool's own branch, rebuilt on the base branch each run.",
    )
    base: str | None = Field(
        default=None,
        description="The branch the pull request merges into (default: the checked-out one).",
    )
    title: str = Field(
        default="postmortem-syncd: ticket keys and statuses",
        description="Title of the pull request.",
    )


class GitSettings(_Section):
    commit: bool = Field(
        True, description="Commit the tool's edits when `docs.root` is inside a git work tree."
    )
    push: bool | None = Field(
        None, description="Push after committing. Unset: push when the branch has an upstream."
    )
    pull: bool | None = Field(
        None,
        description="`git pull --rebase` before each run. Unset: when the branch has an upstream.",
    )
    remote: str = Field("origin", description="The remote pushed to and pulled from.")
    author_name: str = Field("postmortem-syncd", description="Author name of the tool's commits.")
    author_email: str = Field(
        "postmortem-syncd@users.noreply.localhost",
        description="Author email of the tool's commits.",
    )
    message_prefix: str = Field(
        "postmortem-syncd: ", description="Prefix of the tool's commit messages."
    )
    mode: Literal["push", "pull-request"] = Field(
        default="push",
        description='`"push"`: commit to the checked-out branch and push it. `"pull-request"`:'
        " commit to `pull_request.branch` and open or update one GitHub pull request; a doc"
        " edit counts as landed once it is merged (docs/sync.md).",
    )
    pull_request: PullRequestSettings = Field(
        default_factory=PullRequestSettings,
        description='Where `mode = "pull-request"` opens its pull request.',
    )


class DocsSettings(_Section):
    root: Path = Field(
        Path("postmortems"),
        description="Directory holding the postmortem Markdown documents (a folder or a git"
        " work tree).",
    )
    include: StrList = Field(
        default_factory=lambda: ["**/*.md"],
        description="Globs relative to `root` of the documents to manage. `*` stays within a"
        " directory, `**` crosses directories (`**/` also matches none).",
    )
    exclude: StrList = Field(
        default_factory=lambda: ["**/TEMPLATE*.md", "**/README.md", "**/_*.md"],
        description="Globs relative to `root` of documents never read, even when included.",
    )
    doc_url: UrlTemplate = Field(
        None,
        description="Link to a document in ticket descriptions; `{path}` is its path relative"
        " to `root`. Unset: no links.",
    )
    git: GitSettings = Field(
        default_factory=GitSettings, description="How the tool's document edits reach git."
    )
    date_order: Literal["mdy", "dmy"] = Field(
        "mdy",
        description="Day/month order of numeric due dates such as `03/04/2026`; ambiguous"
        " ones are reported.",
    )
    action_sections: StrList = Field(
        default_factory=list,
        description="Regexes over heading text: sections always read for action items.",
    )
    ignore_sections: StrList = Field(
        default_factory=list,
        description="Regexes over heading text: sections never read for action items.",
    )

    @field_validator("action_sections", "ignore_sections")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regex: {exc}") from None
        return value

    def selects(self, rel_path: str) -> bool:
        """Whether a document (path relative to `root`) is one this tool manages."""
        return any(match_glob(p, rel_path) for p in self.include) and not any(
            match_glob(p, rel_path) for p in self.exclude
        )

    def url_for(self, rel_path: str) -> str | None:
        return self.doc_url.format(path=normalise_rel(rel_path)) if self.doc_url else None


class StateSettings(_Section):
    path: Path = Field(
        Path(".syncd/state.db"),
        description="SQLite file with the last-synced snapshot, pending creates and listing"
        " cursors. Losing it is safe (tickets are re-adopted by marker) but costs a full"
        " listing.",
    )


class RoutingRule(_Section):
    match: str = Field(description="Glob relative to `docs.root`; the first matching rule wins.")
    tracker: str = Field(description="The `[trackers.NAME]` the matching documents go to.")
    project: str | None = Field(
        None, description="A different Jira project (or repository) for this rule."
    )


class RoutingSettings(_Section):
    default: str | None = Field(
        None,
        description="Tracker for documents no rule matches; may be omitted with one tracker."
        " A document's front matter `tracker: NAME` overrides everything.",
    )
    rules: list[RoutingRule] = Field(
        default_factory=list, description="`[[routing.rules]]` tables, tried in order."
    )


class SyncSettings(_Section):
    interval: Duration = Field(
        timedelta(minutes=5),
        description="Time between runs of `syncd run`: `30s`, `5m`, `1h30m` or seconds.",
    )
    jitter: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Random spread added to each wait, as a fraction of `interval`.",
    )
    conflict_winner: Literal["tracker", "doc"] = Field(
        "tracker", description="Who wins when a field changed on both sides since the last sync."
    )
    overlap: Duration = Field(
        timedelta(minutes=2),
        description="Incremental listings re-read this far before the last cursor (clock skew,"
        " eventually consistent searches).",
    )
    max_creates_per_run: int | None = Field(
        None,
        ge=0,
        description="Refuse to create more tickets than this in one run (a guard against a"
        " mis-parsed document). Unset: no limit.",
    )
    write_status: bool = Field(True, description="Write ticket status back into the documents.")
    full_reconcile_every: Duration = Field(
        timedelta(hours=24),
        description="Read every known ticket by key this often, whatever the cursor or its"
        " labels (a removed label, clock skew, a missed webhook); `syncd sync --full` forces one.",
    )
    retry_backoff: Duration = Field(
        timedelta(minutes=1),
        description="An item whose write the tracker refused is retried on the next run, then"
        " after this, doubling up to `retry_backoff_max`; it is reported (exit 2) meanwhile.",
    )
    retry_backoff_max: Duration = Field(
        timedelta(hours=1), description="The longest wait between retries of a refused write."
    )

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value


class ServerSettings(_Section):
    host: str = Field(
        "127.0.0.1", description="Address of the webhook receiver and health endpoints."
    )
    port: int = Field(8089, ge=0, le=65535, description="Their port (0: any free port).")
    max_body_bytes: int = Field(
        1_000_000, gt=0, description="Largest webhook body accepted, in bytes."
    )


class CompletionTarget(_Section):
    percent: float = Field(ge=0, le=100, description="Share of items to close in time.")
    within_days: int = Field(gt=0, description="Days after the clock start (`target_clock`).")


def _default_targets() -> dict[str, CompletionTarget]:
    return {
        "P0": CompletionTarget(percent=90, within_days=7),
        "P1": CompletionTarget(percent=80, within_days=14),
        "P2": CompletionTarget(percent=80, within_days=90),
    }


class ReminderSettings(_Section):
    """`[digest.reminders]`: one email a week to each owner with overdue or due-soon items."""

    enabled: bool = Field(False, description="Send the weekly owner reminders.")
    due_soon_days: int = Field(
        7, ge=0, description="Items due within this many days count as due soon."
    )


class DigestSettings(_Section):
    to: StrList = Field(default_factory=list, description="Recipients of the weekly digest.")
    cc: StrList = Field(default_factory=list, description="Copy recipients.")
    from_: str = Field("postmortem-syncd@localhost", alias="from", description="Sender address.")
    schedule: str = Field(
        "0 9 * * MON",
        description="Cron expression (minute hour day-of-month month day-of-week) in `timezone`.",
    )
    timezone: str = Field("UTC", description="IANA time zone of `schedule` and of dates.")
    doc_url: UrlTemplate = Field(
        None, description="Link template for documents in the email; `{path}` is relative."
    )
    lookback_days: int = Field(
        180,
        gt=0,
        description="Recurrence window: an incident recurs when an earlier one within this many"
        " days shares a contributing factor or component, and themes are factors shared by"
        " incidents within it. Every postmortem is still read.",
    )
    recurrence_target: float = Field(
        15,
        ge=0,
        le=100,
        description="Recurrence rate (percent of incidents sharing a factor with an earlier"
        " one) to stay under; the digest flags it when at or over.",
    )
    targets: dict[str, CompletionTarget] = Field(
        default_factory=_default_targets,
        description="Completion targets per priority (`P0 = { percent = 90, within_days = 7 }`)."
        " Setting the table replaces all the defaults.",
    )
    teams: dict[str, list[str]] = Field(
        default_factory=dict, description="Team name -> owners, for per-team sections."
    )
    target_clock: Literal["incident", "set"] = Field(
        "incident",
        description="Where a completion target starts: `incident` (the incident date) or `set`"
        " (the first commit holding the item, else the incident date).",
    )
    top_rows: int = Field(
        25, gt=0, description='Rows per email section; the rest are "and K more".'
    )
    report_path: Path | None = Field(
        None, description="Where the full HTML report is written on every digest run."
    )
    report_url: str | None = Field(
        None, description="Where readers open `report_path` (linked in the email)."
    )
    attach_report: bool = Field(False, description="Also attach the full report to the email.")
    postmortem_severities: StrList = Field(
        default_factory=lambda: ["SEV1", "SEV2"],
        description="Severities whose postmortems should be completed quickly.",
    )
    postmortem_within_business_days: int = Field(
        5, gt=0, description="Business days after the incident to complete those postmortems."
    )
    postmortem_target_percent: float = Field(
        90.0, ge=0, le=100, description="Share of them to complete in time."
    )
    slack_webhook_url: SecretStr | None = Field(
        None, description="A Slack incoming webhook the summary is also posted to (a secret)."
    )
    reminders: ReminderSettings = Field(
        default_factory=ReminderSettings,
        description="One email a week to each owner with overdue or due-soon items.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("schedule")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("must be a cron expression with 5 fields, e.g. '0 9 * * MON'")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SmtpSettings(_Section):
    host: str = Field("127.0.0.1", description="SMTP server for the digest.")
    port: int = Field(25, ge=1, le=65535, description="Its port (587 with STARTTLS, 465 SSL).")
    starttls: bool = Field(False, description="STARTTLS on a plain connection.")
    ssl: bool = Field(False, description="Implicit TLS (usually port 465); not with starttls.")
    username: str | None = Field(None, description="Login name; unset: no login.")
    password: SecretStr | None = Field(
        None, description="Login password (a secret: prefer `password_file`)."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds per SMTP operation.")

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpSettings:
        if self.starttls and self.ssl:
            raise ValueError("choose starttls or ssl, not both")
        return self


class LintSettings(_Section):
    disable: StrList = Field(default_factory=list, description="Rule ids to switch off everywhere.")
    ignore: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Glob (relative to `docs.root`) -> rule ids to ignore in matching documents.",
    )
    today: date | Literal["today"] | None = Field(
        None,
        description="The date the `overdue` rule compares due dates against: YYYY-MM-DD, or"
        ' "today" (findings then change with the calendar). Unset: the rule is off.',
    )

    def today_date(self) -> date | None:
        return date.today() if self.today == "today" else self.today


class LogSettings(_Section):
    format: Literal["auto", "json", "console"] = Field(
        "auto",
        description="`json` for log collectors, `console` for people, `auto`: by whether"
        " stderr is a terminal.",
    )
    level: str = Field("info", description="debug, info, warning, error or critical.")

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value.lower()


# --------------------------------------------------------------------------- settings


class Settings(BaseSettings):
    """The whole configuration. Build it with `load_config`; it is immutable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_parse_none_str="null",  # SYNCD_ROUTING__DEFAULT=null unsets a file value
        extra="forbid",
        frozen=True,
    )

    docs: DocsSettings = Field(
        default_factory=DocsSettings, description="Where the postmortems are."
    )
    state: StateSettings = Field(default_factory=StateSettings, description="Local state.")
    trackers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="One `[trackers.NAME]` table per tracker; `kind` picks the connector,"
        " which validates the rest (see below).",
    )
    routing: RoutingSettings = Field(
        default_factory=RoutingSettings, description="Which tracker a document's items go to."
    )
    owners: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Owners as written in documents (`[owners."@sri"]`) -> identity per'
        " tracker name or kind, and `email` for the digest.",
    )
    sync: SyncSettings = Field(default_factory=SyncSettings, description="The reconcile.")
    server: ServerSettings = Field(
        default_factory=ServerSettings, description="Webhooks, health and metrics (`syncd run`)."
    )
    digest: DigestSettings = Field(
        default_factory=DigestSettings, description="The weekly leadership digest."
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings, description="Email delivery.")
    lint: LintSettings = Field(default_factory=LintSettings, description="`syncd lint`.")
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")

    _source: Path | None = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # `load_config` merges file and environment itself, because *_file secrets and
        # relative paths must be resolved on the merged tree. Constructing Settings
        # directly therefore reads nothing from the process: handy and predictable in tests.
        return (init_settings,)

    @field_validator("trackers")
    @classmethod
    def _tracker_sections(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name in value:
            if not _TRACKER_NAME.fullmatch(name):
                raise ValueError(
                    f"tracker name {name!r} must be lower-case letters, digits, '_' or '-'"
                    " (environment overrides cannot address other names)"
                )
        return _redacting(value)

    @model_validator(mode="after")
    def _routes_name_known_trackers(self) -> Settings:
        known = f"(configured: {', '.join(sorted(self.trackers)) or 'none'})"
        problems = []
        if self.routing.default is not None and self.routing.default not in self.trackers:
            problems.append(f"routing.default: unknown tracker {self.routing.default!r} {known}")
        for i, rule in enumerate(self.routing.rules):
            if rule.tracker not in self.trackers:
                problems.append(
                    f"routing.rules[{i}].tracker: unknown tracker {rule.tracker!r} {known}"
                )
        if problems:
            # One pydantic error carries them all; the indent lines them up with the
            # other "key: message" lines of ConfigError.
            raise ValueError("\n  ".join(problems))
        return self

    @model_validator(mode="after")
    def _pull_request_target(self) -> Settings:
        if self.docs.git.mode == "pull-request":
            self.pull_request_target()  # raises ValueError naming the key to set
        return self

    def pull_request_target(self) -> tuple[str, str, str]:
        """(API url, token, "owner/name") for pull-request mode: `[docs.git.pull_request]`
        first, then the GitHub tracker it names."""
        pr = self.docs.git.pull_request
        where = "docs.git.pull_request"
        section: Mapping[str, Any] = {}
        if pr.tracker is not None:
            section = self.trackers.get(pr.tracker) or {}
            if section.get("kind") != "github":
                raise ValueError(
                    f"{where}.tracker: {pr.tracker!r} is not a configured GitHub tracker"
                    f" (configured: {', '.join(sorted(self.trackers)) or 'none'})"
                )
        token = pr.token.get_secret_value() if pr.token is not None else section.get("token")
        if isinstance(token, SecretStr):
            token = token.get_secret_value()
        repo = pr.repo or section.get("repo")
        if not token:
            raise ValueError(
                f"{where}.token: required in pull-request mode; {secret_hint(where + '.token')}"
                f", or name a GitHub tracker in {where}.tracker to reuse its token"
            )
        if not repo:
            raise ValueError(f'{where}.repo: required in pull-request mode ("owner/name")')
        url = pr.url or section.get("url") or "https://api.github.com"
        return str(url), str(token), str(repo)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Every field, but tracker sections go through redaction (SecretStr fields
        # already hide themselves).
        for name, value in super().__repr_args__():
            yield name, (redact(value) if name == "trackers" else value)

    # ------------------------------------------------------------------ queries

    @property
    def source(self) -> Path | None:
        """The config file this came from, or None when only defaults/env were used."""
        return self._source

    @property
    def default_tracker(self) -> str | None:
        if self.routing.default is not None:
            return self.routing.default
        return next(iter(self.trackers)) if len(self.trackers) == 1 else None

    def redacted(self) -> dict[str, Any]:
        """The whole configuration as plain data with every secret replaced by "***"."""
        result: dict[str, Any] = redact(self.model_dump(mode="json", by_alias=True))
        return result

    def route(self, rel_path: str, front_matter_tracker: str | None = None) -> str | None:
        """Which tracker a document's items go to (path relative to the docs root)."""
        return self.route_with_project(rel_path, front_matter_tracker)[0]

    def route_with_project(
        self, rel_path: str, front_matter_tracker: str | None = None
    ) -> tuple[str | None, str | None]:
        """(tracker, project): front matter naming a configured tracker wins, then the
        first matching rule (whose `project` comes along), then the default."""
        if front_matter_tracker and (name := self._tracker_named(front_matter_tracker)):
            return name, None
        for rule in self.routing.rules:
            if match_glob(rule.match, rel_path):
                return rule.tracker, rule.project
        return self.default_tracker, None

    def _tracker_named(self, name: str) -> str | None:
        name = name.strip()
        if name in self.trackers:
            return name
        return next((t for t in self.trackers if t.lower() == name.lower()), None)

    def owner_identity(self, owner: str, tracker: str, kind: str) -> str | None:
        """The tracker identity of a doc owner: `[owners.X]` by tracker name, then kind."""
        entry = self._owner_entry(owner)
        if entry is None:
            return None
        return entry.get(tracker) or entry.get(kind) or None

    def owner_email(self, owner: str) -> str | None:
        entry = self._owner_entry(owner)
        return (entry.get("email") or None) if entry else None

    def _owner_entry(self, owner: str) -> dict[str, str] | None:
        if owner in self.owners:
            return self.owners[owner]
        wanted = _owner_key(owner)
        return next((e for k, e in self.owners.items() if _owner_key(k) == wanted), None)


def _owner_key(owner: str) -> str:
    return owner.strip().lstrip("@").lower()


# --------------------------------------------------------------------------- loading


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    read_secrets: bool = True,
) -> Settings:
    """Load the TOML file (`path`, else `$SYNCD_CONFIG`, else none) with env overrides.

    `read_secrets=False` (commands that need only the docs: digest without --send) drops
    every `x_file` reference unread, so a laptop without the mounted secrets works.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    config_path = _config_path(path, environ)
    base_dir = config_path.parent if config_path else Path.cwd()

    raw = _read_toml(config_path) if config_path else {}
    raw = deep_merge(raw, _env_overrides(environ))
    raw = _resolve_secret_files(raw, base_dir) if read_secrets else _drop_file_refs(raw)
    try:
        settings = _validate(raw, config_path)
    except ConfigError as exc:
        raise ConfigError(exc.message, exc.problems, secrets=secret_values(raw)) from None
    settings = _resolve_paths(settings, base_dir)
    settings._source = config_path
    return settings


def require_config(
    path: str | Path | None, env: Mapping[str, str] | None = None
) -> str | Path | None:
    """`path` back, unless there is no configuration at all: then a ConfigError naming
    --config and SYNCD_CONFIG, so a command never runs on bare defaults (and never
    creates .syncd/state.db in whatever directory it was started from). Settings given
    only through SYNCD_* variables count as a configuration (containers)."""
    environ: Mapping[str, str] = os.environ if env is None else env
    if path is not None and str(path):
        return path
    if environ.get(CONFIG_ENV) or any(
        k.upper().startswith(ENV_PREFIX) and k.upper() != CONFIG_ENV for k in environ
    ):
        return path
    raise ConfigError(
        "no configuration: pass --config FILE or set SYNCD_CONFIG=FILE"
        " (config/example.toml is a commented starting point)"
    )


def load_section(
    name: str,
    model: type[SectionT],
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> SectionT:
    """One section (`[lint]`, `[docs]`) and its SYNCD_NAME__* overrides, nothing else: a
    pre-commit hook must not need tracker or SMTP secrets, nor fail on a section it
    never reads."""
    environ: Mapping[str, str] = os.environ if env is None else env
    config_path = _config_path(path, environ)
    raw = _read_toml(config_path) if config_path else {}
    prefix = f"{ENV_PREFIX}{name.upper()}{ENV_NESTED_DELIMITER}"
    own_env = {k: v for k, v in environ.items() if k.upper().startswith(prefix)}
    section = deep_merge(raw, _env_overrides(own_env)).get(name, {})
    try:
        return model.model_validate(_drop_file_refs(section))
    except ValidationError as exc:
        origin = f" in {config_path}" if config_path else ""
        errors = exc.errors(include_input=False, include_url=False)
        raise ConfigError(
            f"invalid configuration{origin}:", describe_errors(errors, model, name)
        ) from None


def _drop_file_refs(node: Any) -> Any:
    if isinstance(node, list):
        return [_drop_file_refs(v) for v in node]
    if not isinstance(node, Mapping):
        return node
    return {k: _drop_file_refs(v) for k, v in node.items() if not _is_file_ref(k, v)}


def _config_path(path: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    chosen = path if path is not None and str(path) else environ.get(CONFIG_ENV) or None
    if chosen is None:
        return None
    # absolute(), not resolve(): Kubernetes mounts config through symlinks into a
    # timestamped directory, and relative paths must stay next to the visible file.
    resolved = Path(chosen).expanduser().absolute()
    if not resolved.is_file():
        raise ConfigError(f"config file not found: {resolved}")
    return resolved


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' env parsing (nesting, JSON for complex fields), fed from an
    explicit mapping so tests and callers need not touch os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    try:
        return _MappingEnvSource(Settings, environ)()
    except SettingsError as exc:
        # pydantic-settings names only the top-level field ('error parsing value for
        # field "lint"'); say which variables that covers, and why, without the value.
        field = re.search(r'field "([^"]+)"', str(exc))
        names = f"{ENV_PREFIX}{field.group(1).upper()}*" if field else f"{ENV_PREFIX}*"
        reason = exc.__cause__ or exc
        raise ConfigError(f"environment override {names}: cannot parse value ({reason})") from None


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`; tables merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolve_secret_files(raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    problems: list[str] = []
    resolved = _fill_from_files(raw, base_dir, "", problems)
    if problems:
        raise ConfigError("cannot read secret files:", problems)
    result: dict[str, Any] = resolved
    return result


def _fill_from_files(node: Any, base_dir: Path, where: str, problems: list[str]) -> Any:
    """Replace every `x_file` key by `x` read from that file, unless `x` is already set.

    The `x_file` key itself is always dropped: the models (and the connectors' models)
    then see one spelling of each secret.
    """
    if isinstance(node, list):
        return [
            _fill_from_files(v, base_dir, f"{where}[{i}]", problems) for i, v in enumerate(node)
        ]
    if not isinstance(node, Mapping):
        return node
    refs = {k: v for k, v in node.items() if _is_file_ref(k, v)}
    out = {
        k: _fill_from_files(v, base_dir, _join(where, k), problems)
        for k, v in node.items()
        if k not in refs
    }
    for key, file_name in refs.items():
        target = key.removesuffix(FILE_SUFFIX)
        if file_name is None or out.get(target) is not None:
            continue
        secret = _read_secret(base_dir, file_name, _join(where, key), problems)
        if secret is not None:
            out[target] = secret
    return out


def _is_file_ref(key: Any, value: Any) -> bool:
    return (
        isinstance(key, str)
        and key.endswith(FILE_SUFFIX)
        and len(key) > len(FILE_SUFFIX)
        and (value is None or isinstance(value, str))
    )


def _read_secret(base_dir: Path, file_name: str, key: str, problems: list[str]) -> str | None:
    path = _absolute(Path(file_name), base_dir)
    # Messages name the key and the path, never the contents.
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"{key}: file {path} does not exist")
        return None
    except UnicodeDecodeError:
        problems.append(f"{key}: file {path} is not UTF-8 text")
        return None
    except OSError as exc:
        problems.append(f"{key}: cannot read {path}: {exc.strerror}")
        return None
    secret = text.rstrip("\r\n")
    if not secret:
        problems.append(f"{key}: file {path} is empty")
        return None
    return secret


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _validate(raw: dict[str, Any], source: Path | None) -> Settings:
    try:
        return Settings(**raw)
    except ValidationError as exc:
        origin = f" in {source}" if source else ""
        errors = exc.errors(include_input=False, include_url=False)
        # `from None`: the ValidationError's own text would echo input values (secrets).
        raise ConfigError(
            f"invalid configuration{origin}:", describe_errors(errors, Settings)
        ) from None


def tracker_error(name: str, exc: ValidationError, model: type[BaseModel] | None) -> list[str]:
    """A connector's model rejected `[trackers.NAME]`: the same lines as for the core."""
    errors = exc.errors(include_input=False, include_url=False)
    return describe_errors(errors, model, f"trackers.{name}")


def empty_secrets(name: str, section: Mapping[str, Any]) -> list[str]:
    """`token = ""` passes a str model but is never usable (PyGithub asserts on it)."""
    return [
        f"trackers.{name}.{key}: is empty; {secret_hint(f'trackers.{name}.{key}')}"
        for key, value in section.items()
        if is_secret_key(str(key)) and isinstance(value, str) and not value.strip()
    ]


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out = f"{out}[{part}]" if isinstance(part, int) else _join(out, part)
    return out


def _absolute(path: Path, base_dir: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else base_dir / path


def _resolve_paths(settings: Settings, base_dir: Path) -> Settings:
    docs = settings.docs.model_copy(update={"root": _absolute(settings.docs.root, base_dir)})
    state_path = settings.state.path
    if str(state_path) != ":memory:":
        state_path = _absolute(state_path, base_dir)
    state = settings.state.model_copy(update={"path": state_path})
    return settings.model_copy(update={"docs": docs, "state": state})
