"""`syncd similar DOC...` and `syncd search "QUERY"`: have we seen this before?

Both read only the postmortems (and keep their index, `archive.db`, in the state
directory): no tracker, SMTP or secret is needed, so they run in pre-commit hooks and
CI jobs. The docs root and state directory come from `--root` / `--state-dir`, else
from the config's [docs] and [state] sections (only those are read: a config whose
tracker secrets are absent here still works), else `postmortems` and `.syncd`.

Exit codes: 0 done (also "nothing similar"); 1 configuration or input error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from syncd.common.exits import EXIT_CONFIG, EXIT_OK
from syncd.digest.archive import (
    DEFAULT_PARSE,
    Archive,
    ArchiveError,
    Hit,
    ParseSettings,
    Similar,
    Subject,
    subject_of,
)

DEFAULT_INCLUDE = ("**/*.md",)
DEFAULT_EXCLUDE = ("**/TEMPLATE*.md", "**/README.md", "**/_*.md")  # as [docs] exclude


class Where(NamedTuple):
    root: Path
    db: Path
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    parse: ParseSettings = DEFAULT_PARSE


def _where(args: argparse.Namespace) -> Where:
    """Docs root, index file and globs. Reads the config's [docs] and [state] tables with
    tomllib rather than `load_config`: validating the whole configuration would need the
    tracker and SMTP secrets these commands never use, and pydantic alone costs more
    start-up than the 200 ms the lookup is allowed."""
    config = args.config or os.environ.get("SYNCD_CONFIG") or None
    docs: dict[str, Any] = {}
    state: dict[str, Any] = {}
    base = Path.cwd()
    if config:
        path = Path(config).expanduser().absolute()
        # start-up: tomllib only when a config is given
        import tomllib

        try:
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
        except (OSError, ValueError) as exc:  # TOMLDecodeError is a ValueError
            raise ArchiveError(f"config {path}: {exc}") from None
        docs, state, base = raw.get("docs", {}), raw.get("state", {}), path.parent
    root_raw = args.root or os.environ.get("SYNCD_DOCS__ROOT") or docs.get("root", "postmortems")
    root = Path(root_raw) if args.root else _under(base, root_raw)
    if args.state_dir:
        db = Path(args.state_dir) / "archive.db"
    else:
        state_path = os.environ.get("SYNCD_STATE__PATH") or state.get("path", ".syncd/state.db")
        db = _under(base, state_path).parent / "archive.db"
    include = tuple(docs.get("include", DEFAULT_INCLUDE))
    exclude = tuple(docs.get("exclude", DEFAULT_EXCLUDE))
    parse = (
        tuple(docs.get("action_sections", ())),
        tuple(docs.get("ignore_sections", ())),
        str(docs.get("date_order", "mdy")),
    )
    return Where(root, db, include, exclude, parse)


def _under(base: Path, raw: str) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base / path


def _open(where: Where) -> Archive:
    archive = Archive.open(where.root, where.db, where.parse)
    refresh = archive.refresh(where.include, where.exclude)
    if refresh.rebuilt or refresh.added or refresh.changed or refresh.removed:
        print(f"syncd: {refresh.describe()} in {where.db}", file=sys.stderr)
    return archive


# --------------------------------------------------------------------------- similar


def _subject(archive: Archive, raw: str) -> Subject:
    path = Path(raw)
    if not path.is_file():
        raise ArchiveError(f"no such file: {raw}")
    try:
        rel: str | None = path.resolve().relative_to(archive.root.resolve()).as_posix()
    except ValueError:
        rel = None  # a draft outside the archive
    if rel is not None:
        indexed = archive.subject(rel)
        if indexed is not None:
            return indexed  # indexed this run from the same bytes: no need to parse again
    # start-up: the Markdown parser only for a document the index does not hold
    from syncd.documents.parser import parse_file

    archive.learn_stems()
    doc, _text = parse_file(path, options=archive.parse_options())
    return subject_of(doc, rel)


def cmd_similar(args: argparse.Namespace) -> int:
    try:
        where = _where(args)
        with _open(where) as archive:
            results = [(raw, _subject(archive, raw)) for raw in args.docs]
            found = [(raw, s, archive.similar(s, args.top)) for raw, s in results]
    except ArchiveError as exc:
        print(f"syncd similar: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.format == "json":
        out = {
            "documents": [
                {"path": raw, "title": s.title, "similar": [m.as_json() for m in matches]}
                for raw, s, matches in found
            ]
        }
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(markdown(found))
    else:
        for raw, s, matches in found:
            sys.stdout.write(_text(raw, s, matches))
    return EXIT_OK


def _item_line(i: Any) -> str:
    fields = [i.owner or "no owner", f"due {i.due}" if i.due else "no due date"]
    fields.append(i.ticket or "no ticket")
    return f"{i.action} ({', '.join(fields)}; {i.status.replace('_', ' ')})"


def _text(raw: str, s: Subject, matches: Sequence[Similar]) -> str:
    if not s.factors:
        return f"{raw}: no contributing factors, so nothing to compare\n"
    if not matches:
        return f"{raw}: no similar past incident\n"
    lines = [f"{raw}: {len(matches)} similar past incident(s)"]
    for n, m in enumerate(matches, 1):
        c = m.comparison
        lines.append(f"{n}. {m.path}  {m.title or ''} ({m.date or 'no date'})  score {c.score:.2f}")
        for f in c.factors:
            lines.append(f'   this:    "{f.sentence}"')
            lines.append(f'   earlier: "{f.other}"')
            lines.append(f"   shared:  {', '.join(t.describe() for t in f.shared)}")
        if m.open_items:
            lines.append(f"   still open ({len(m.open_items)}):")
            lines.extend(f"     - {_item_line(i)}" for i in m.open_items)
        else:
            lines.append("   no action item of it is still open")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    # Inline text from a postmortem, kept literal in Markdown (no stray emphasis/links).
    return "".join("\\" + ch if ch in "\\`*_[]<>|#" else ch for ch in text)


def markdown(found: Sequence[tuple[str, Subject, Sequence[Similar]]]) -> str:
    """The block for a pull request: similar past incidents and their open action items."""
    out = ["### Similar past incidents and their open action items", ""]
    for raw, s, matches in found:
        out.append(f"**{_md(raw)}**" + (f" — {_md(s.title)}" if s.title else ""))
        out.append("")
        if not s.factors:
            out += ["No contributing factors yet, so nothing to compare.", ""]
            continue
        if not matches:
            out += ["No similar past incident.", ""]
            continue
        for m in matches:
            c = m.comparison
            title = _md(m.title or "")
            out.append(f"- **{_md(m.path)}** {title} ({m.date or 'no date'}), score {c.score:.2f}")
            for f in c.factors:
                shared = ", ".join(_md(t.describe()) for t in f.shared)
                out.append(f"  - “{_md(f.sentence)}” ~ “{_md(f.other)}” (shared: {shared})")
            if m.open_items:
                out.append(f"  - Still open ({len(m.open_items)}):")
                out.extend(f"    - [ ] {_md(_item_line(i))}" for i in m.open_items)
            else:
                out.append("  - No action item of it is still open.")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- search


def cmd_search(args: argparse.Namespace) -> int:
    try:
        where = _where(args)
        with _open(where) as archive:
            hits = archive.search(args.query, args.top)
    except ArchiveError as exc:
        print(f"syncd search: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.format == "json":
        sys.stdout.write(
            json.dumps({"query": args.query, "hits": [h.as_json() for h in hits]}) + "\n"
        )
        return EXIT_OK
    if not hits:
        print(f"no document matches {args.query!r}")
    for n, h in enumerate(hits, 1):
        print(_hit(n, h))
    return EXIT_OK


def _hit(n: int, h: Hit) -> str:
    return (
        f"{n}. {h.path}  {h.title or ''} ({h.date or 'no date'})  score {h.score:.2f}\n"
        f"   {h.line}: {h.snippet}"
    )


# --------------------------------------------------------------------------- parser


def _where_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config whose [docs] and [state] apply")
    p.add_argument("--root", help="docs root (default: [docs] root, else postmortems)")
    p.add_argument("--state-dir", help="where the index lives (default: beside [state] path)")


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter with the width found without `shutil`: argparse builds a
    formatter for every `add_argument`, and `shutil` (which loads bz2 and lzma) is a
    measurable part of the 200 ms these commands are allowed."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        kwargs.setdefault("width", _columns() - 2)  # as argparse does with shutil
        super().__init__(prog, **kwargs)


def _columns() -> int:
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno() if sys.__stdout__ else 1).columns
    except (OSError, ValueError):
        return 80


def main(argv: Sequence[str]) -> int:
    """`syncd similar|search ...` on their own: `syncd.cli.main` hands them over before
    building the full parser, so they load neither the parser for parse/lint nor the
    sync stack (see bench/archive.py for what start-up costs)."""
    parser = argparse.ArgumentParser(prog="syncd", formatter_class=_Formatter)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except BrokenPipeError:  # `syncd search x | head`
        return EXIT_OK
    return code


def register(sub: Any) -> None:
    p = sub.add_parser(
        "similar",
        help="past incidents that share a contributing factor, with evidence and open items",
        formatter_class=_Formatter,
    )
    p.add_argument("docs", nargs="+", metavar="DOC", help="postmortem(s) to look from")
    p.add_argument("--top", type=_positive, default=5, metavar="N")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    _where_options(p)
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser(
        "search",
        help="search the postmortem archive, ranked, with snippets",
        formatter_class=_Formatter,
    )
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--top", type=_positive, default=10, metavar="N")
    p.add_argument("--format", choices=["text", "json"], default="text")
    _where_options(p)
    p.set_defaults(func=cmd_search)
