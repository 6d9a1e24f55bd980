"""`syncd` command line: parse, lint, plan, sync, status, state, demo, sandbox, run, digest.

Exit codes: 0 ok; 1 findings (lint) or configuration error; 2 some items failed and
will be retried (sync).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncd import __version__
from syncd.common.gcpause import collector_paused

if TYPE_CHECKING:
    from syncd.documents.options import ParseOptions

Command = Callable[[argparse.Namespace], int]
ARCHIVE_COMMANDS = ("similar", "search")  # docs only: no trackers, no config validation


def write_json(data: Any) -> None:
    """One write of the whole document: indented for people on a terminal, compact (and
    several times faster: C encoder, no per-token writes) for programs."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(data, indent=indent, ensure_ascii=False) + "\n")


def _display(file: Path, root: Path, given_file: bool) -> str:
    return file.as_posix() if given_file else file.relative_to(root).as_posix()


def _documents(paths: Sequence[str]) -> list[tuple[Path, Path, str]]:
    """(file, root, display path) for every document named on the command line."""
    found = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise SystemExit(f"syncd: no such file or directory: {raw}")
        # start-up: the parser (markdown-it) is loaded by the commands that read documents,
        # not by `syncd similar`/`search`, which answer from their index
        from syncd.documents.discover import DEFAULT_INCLUDE, discover

        for file, root in discover([path], DEFAULT_INCLUDE):
            found.append((file, root, _display(file, root, path.is_file())))
    return found


def cmd_parse(args: argparse.Namespace) -> int:
    with collector_paused():
        return _cmd_parse(args)


Job = tuple[Any, ...]  # file, shown path[, ParseOptions]


def _parse_one(job: Job) -> dict[str, Any]:
    # start-up: the parser only for commands that read documents (see `_documents`)
    from syncd.documents.discover import doc_json
    from syncd.documents.parser import parse_file

    options = job[2] if len(job) == 3 else None
    return doc_json(parse_file(job[0], options=options)[0], job[1])


PARALLEL_FROM = 400  # documents; below this, starting workers costs more than it saves


def parse_all(jobs: Sequence[Job]) -> list[dict[str, Any]]:
    """Parse documents into their JSON form, on every core for a large tree (parsing is
    pure CPU per file; workers are forked, so they start in milliseconds)."""
    # start-up: multiprocessing only for large trees
    import multiprocessing

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(cores or 1, 4)
    forking = "fork" in multiprocessing.get_all_start_methods()
    if len(jobs) < PARALLEL_FROM or workers < 2 or not forking:
        return [_parse_one(job) for job in jobs]
    # start-up: the process pool only for large trees
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(_parse_one, jobs, chunksize=max(16, len(jobs) // (workers * 8))))


def _parse_options(config_arg: str | None) -> ParseOptions:
    """The config's `[docs]` parse settings (section rules, date order) when a config is
    given, else the built-in defaults."""
    # start-up: the parser only for commands that read documents
    from syncd.documents.options import DEFAULT_OPTIONS, ParseOptions

    config_path = config_arg or os.environ.get("SYNCD_CONFIG")
    if not config_path:
        return DEFAULT_OPTIONS
    # start-up: pydantic-settings only when a config is given; only [docs] is read, so
    # parse and lint never need tracker or SMTP secrets
    from syncd.config import DocsSettings, load_section

    return ParseOptions.from_settings(load_section("docs", DocsSettings, config_path))


def _cmd_parse(args: argparse.Namespace) -> int:
    try:
        options = _parse_options(args.config)
    except ValueError as exc:
        print(f"syncd parse: {exc}", file=sys.stderr)
        return 1
    if args.explain:
        return _explain(args, options)
    docs = parse_all([(file, shown, options) for file, _root, shown in _documents(args.paths)])
    if args.format == "json":
        write_json({"documents": docs})
        return 0
    for doc in docs:
        print(
            f"{doc['path']}: {doc['title'] or '(untitled)'}"
            f" [{doc['date'] or 'no date'}, {doc['severity'] or 'no severity'}]"
        )
        for item in doc["action_items"]:
            fields = [item["owner"] or "no owner", item["due"] or "no due date", item["status"]]
            if item["priority"]:
                fields.append(item["priority"])
            if item["ticket"]:
                fields.append(item["ticket"])
            print(f"  {item['line']:>4}  {item['action']}  ({', '.join(fields)})")
        for problem in doc["problems"]:
            print(f"  {problem['line']:>4}  problem: {problem['message']}")
    return 0


def _explain(args: argparse.Namespace, options: ParseOptions) -> int:
    # start-up: the explanation renderer is only needed by --explain
    from syncd.documents.explain import explanation_json, render_explanation
    from syncd.documents.parser import explain_file

    found = [
        (explain_file(file, options=options), shown)
        for file, _root, shown in _documents(args.paths)
    ]
    if args.format == "json":
        write_json({"documents": [explanation_json(exp, shown) for exp, shown in found]})
    else:
        print("\n\n".join(render_explanation(exp, shown) for exp, shown in found))
    return 0


def _lint_config(args: argparse.Namespace) -> Any:
    # start-up: lint rules are not needed by `syncd parse`
    from syncd.documents.lint import LintConfig

    disable: set[str] = set(args.disable or [])
    ignore: list[tuple[str, frozenset[str]]] = []
    today = args.today
    config_path = args.config or os.environ.get("SYNCD_CONFIG")
    if config_path:
        # start-up: pydantic only when a config is given; only [lint] and [docs] are read
        from syncd.config import LintSettings, load_section

        settings = load_section("lint", LintSettings, config_path)
        disable |= set(settings.disable)
        ignore = [(glob, frozenset(rules)) for glob, rules in settings.ignore.items()]
        today = today or settings.today_date()
    return LintConfig(disable=frozenset(disable), ignore=tuple(ignore), today=today)


def _today(raw: str) -> date:
    if raw == "today":
        return date.today()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD or 'today'): {raw}") from None


def cmd_lint(args: argparse.Namespace) -> int:
    with collector_paused():
        return _cmd_lint(args)


def _cmd_lint(args: argparse.Namespace) -> int:
    # start-up: lint rules are not needed by `syncd parse`
    from syncd.documents.lint import describe_rules, lint_document

    if args.list_rules:
        for rule_id, description in describe_rules():
            print(f"{rule_id:22} {description}")
        return 0
    if not args.paths:
        print("syncd lint: give one or more files or directories", file=sys.stderr)
        return 1
    try:
        config = _lint_config(args)
        options = _parse_options(args.config)  # possible-missed-items honours its own hint
    except ValueError as exc:
        print(f"syncd lint: {exc}", file=sys.stderr)
        return 1
    findings = []
    for file, _root, shown in _documents(args.paths):
        # start-up: the parser only for commands that read documents (see `_documents`)
        from syncd.documents.parser import parse_file

        doc, _text = parse_file(file, options=options)
        findings.extend(lint_document(doc, config, shown))
    if args.format == "json":
        write_json({"findings": [f.as_dict() for f in findings]})
    else:
        for finding in findings:
            print(finding.format())
        if findings:
            print(f"{len(findings)} finding(s)", file=sys.stderr)
    return 1 if findings else 0


def build_parser(
    *, sync_commands: bool = True, digest_command: bool = False, archive_command: bool = False
) -> argparse.ArgumentParser:
    """The CLI; `sync_commands=False` leaves out what needs trackers (faster start-up for
    parse, lint and digest, which is added alone with `digest_command`)."""
    parser = argparse.ArgumentParser(prog="syncd", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("parse", help="print the action items the parser finds")
    p.add_argument("paths", nargs="+", help="files or directories")
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument(
        "--explain",
        action="store_true",
        help="show why each section was read or skipped and which rule read each field",
    )
    p.add_argument("--config", help="TOML config whose [docs] action_sections apply")
    p.set_defaults(func=cmd_parse)

    p = sub.add_parser("lint", help="check action items against the postmortem rules")
    p.add_argument("paths", nargs="*", help="files or directories")
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--disable", action="append", metavar="RULE", help="turn a rule off")
    p.add_argument("--config", help="TOML config whose [lint] section applies")
    p.add_argument(
        "--today",
        type=_today,
        metavar="YYYY-MM-DD",
        help="the date the overdue rule compares against ('today' for the current date);"
        " without it (or [lint] today) the rule is off, so results never change by themselves",
    )
    p.add_argument("--list-rules", action="store_true", help="list rule ids and exit")
    p.set_defaults(func=cmd_lint)

    if sync_commands or archive_command:
        # start-up: similar/search need neither trackers nor the digest's renderers
        from syncd.cli import archive

        archive.register(sub)
    if sync_commands:
        _register_sync_commands(sub)
    elif digest_command:
        # start-up: the digest loads jinja2 and Pillow, needed only by `syncd digest`
        from syncd import digest

        digest.register(sub)
    return parser


def _register_sync_commands(sub: Any) -> None:
    """Commands that need configuration and trackers live in `syncd.cli.commands`."""
    # start-up: `parse`/`lint` skip the sync stack (connectors, SQLite), a third of their time
    from syncd.cli import commands, sandbox

    commands.register(sub)
    sandbox.register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # parse and lint (pre-commit hooks, CI) need neither trackers nor logging: skip
    # importing the sync stack, a third of their start-up time
    first = argv[0] if argv else ""
    if first in ARCHIVE_COMMANDS:
        # start-up: similar/search have their own small parser (no parse/lint, no sync stack)
        from syncd.cli import archive

        return archive.main(argv)
    parser = build_parser(
        sync_commands=first not in ("parse", "lint", "digest", *ARCHIVE_COMMANDS),
        digest_command=first == "digest",
        archive_command=first in ARCHIVE_COMMANDS,
    )
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except BrokenPipeError:
        return 0
    except Exception as exc:
        code = report_user_error(exc)
        if code is None:
            raise
        return code


def report_user_error(exc: BaseException) -> int | None:
    """The exit code for an error a user can fix, after printing it once and plainly
    (no traceback); None for a bug, which keeps its traceback."""
    config = sys.modules.get("syncd.config")  # loaded if it raised: no import for parse
    if config is not None and isinstance(exc, config.ConfigError):
        code: int = config.report_config_error(exc)
        return code
    state = sys.modules.get("syncd.sync.state")
    if state is not None and isinstance(exc, state.StateError):
        print(
            f"syncd: {exc}\n  to recover: syncd state reset --yes --config FILE moves the"
            " file aside and starts afresh; the next sync re-adopts every ticket by its"
            " marker, so nothing is created twice",
            file=sys.stderr,
        )
        return 1
    return None


if __name__ == "__main__":
    raise SystemExit(main())
