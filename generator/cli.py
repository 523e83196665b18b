"""The `factsheet` command: the only module that prints or sets an exit status.

Exit status: 0 success, 1 content errors (or warnings under --strict), 2 usage errors,
3 an internal error (a bug, reported in one line instead of a traceback).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from .cache import default_folder
from .diagnostics import Diagnostic, Location, Severity
from .jsonschema import documents, dumps, file_name
from .model import Corpus
from .parse import web_address_problem
from .pipeline import Options, Result, build, load
from .schema import ID_PATTERN, KINDS, SINGULAR, kind_for
from .skeleton import relative_path, skeleton
from .workers import WorkerLost

USAGE_ERROR = 2
INTERNAL_ERROR = 3
STOPPED = 4  # the build could not go on (a worker process was killed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factsheet",
        description="Build a cross-linked static fact-sheet site from stories and facts.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    build_cmd = commands.add_parser("build", help="check the content and build the site")
    _content_option(build_cmd)
    build_cmd.add_argument("--out", type=Path, default=Path("site"), help="output folder")
    build_cmd.add_argument(
        "--base-url", type=_web_address, help="the address the site is published at"
    )
    build_cmd.add_argument("--drafts", action="store_true", help="build draft stories too")
    build_cmd.add_argument("--strict", action="store_true", help="warnings fail the build")
    build_cmd.add_argument(
        "--jobs",
        type=_jobs,
        default=os.cpu_count() or 1,
        metavar="N",
        help="render on N processes (default: all cores)",
    )
    caching = build_cmd.add_mutually_exclusive_group()
    caching.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="the build cache's folder (default: .factsheet-cache beside the content folder)",
    )
    caching.add_argument(
        "--no-cache", action="store_true", help="build without reading or writing a cache"
    )
    loudness = build_cmd.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    loudness.add_argument("-v", "--verbose", action="store_true", help="print more detail")

    check_cmd = commands.add_parser("check", help="validate the content, write nothing")
    _content_option(check_cmd)
    check_cmd.add_argument("--strict", action="store_true", help="warnings fail the check")

    serve_cmd = commands.add_parser(
        "serve", help="build, serve on 127.0.0.1, rebuild on save and reload the browser"
    )
    _content_option(serve_cmd)
    serve_cmd.add_argument("--port", type=_port, default=8000, help="the port (default 8000)")

    new_cmd = commands.add_parser("new", help="write a skeleton file for a new record or story")
    new_cmd.add_argument("kind", metavar="KIND", help=f"one of {', '.join(_KIND_WORDS)}")
    new_cmd.add_argument("id", metavar="ID", help="the new record's id, e.g. hikmet-hajiyev")
    _content_option(new_cmd)

    schema_cmd = commands.add_parser("schema", help="write a JSON Schema per kind, for editors")
    schema_cmd.add_argument(
        "--out", type=Path, default=Path(SCHEMAS), help=f"the folder (default {SCHEMAS})"
    )
    return parser


SCHEMAS = "schemas"  # `factsheet schema`'s folder; `new` uses the one beside the content
_KIND_WORDS = tuple(SINGULAR[kind] for kind in KINDS)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (0 to 65535)")
    return int(text)


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of processes (1 or more)")
    return int(text)


def _web_address(text: str) -> str:
    problem = web_address_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"'{text}' {problem}")
    return text


def _content_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--content", type=Path, default=Path("content"), help="the content folder")


def _report(diagnostics: Sequence[Diagnostic]) -> tuple[int, int]:
    for diagnostic in diagnostics:
        print(diagnostic.format(), file=sys.stderr)
    return _tally(diagnostics)


def _tally(diagnostics: Sequence[Diagnostic]) -> tuple[int, int]:
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    return errors, len(diagnostics) - errors


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def _counts(errors: int, warnings: int) -> str:
    return f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and USAGE_ERROR
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("interrupted; the output folder was left as it was", file=sys.stderr)
        return 130
    except WorkerLost as error:
        print(f"factsheet: {error}; the output folder was left as it was", file=sys.stderr)
        return STOPPED
    except Exception as error:  # a bug of ours: say so plainly, never a traceback
        print(
            f"factsheet: internal error ({type(error).__name__}: {error}). This is a bug in "
            "factsheet, not in your content; the output folder was left as it was.",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


def _run(args: argparse.Namespace) -> int:
    commands = {
        "build": _build,
        "check": _check,
        "serve": _serve,
        "new": _new,
        "schema": _schema,
    }
    return commands[args.command](args)


def _check(args: argparse.Namespace) -> int:
    _, _, diagnostics = load(Options(content=args.content))
    errors, warnings = _report(diagnostics)
    failed = errors > 0 or (args.strict and warnings > 0)
    print(
        f"{'check failed' if failed else 'check passed'}: {_counts(errors, warnings)}",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _build(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    options = Options(
        content=args.content,
        out=args.out,
        drafts=args.drafts,
        strict=args.strict,
        base_url=args.base_url,
        jobs=args.jobs,
        cache=None if args.no_cache else args.cache or default_folder(args.content),
    )
    stages = _Stages(live=sys.stderr.isatty() and not args.quiet and not args.verbose)
    result = build(options, stages, once=True)
    durations = stages.finish()
    errors, warnings = _report(result.diagnostics)
    if args.verbose:
        for stage, seconds in durations:
            print(f"  {stage:<8} {seconds * 1000:7.1f} ms", file=sys.stderr)
    if not result.written:
        reason = "warnings are errors under --strict" if not errors and warnings else ""
        print(
            f"build failed: {_counts(errors, warnings)}{'; ' + reason if reason else ''}; "
            f"{args.out} was left as it was",
            file=sys.stderr,
        )
        return 1
    if not args.quiet:
        print(_built(result, args.out, time.perf_counter() - started), file=sys.stderr)
    return 0


def _built(result: Result, out: Path, seconds: float) -> str:
    errors, warnings = _tally(result.diagnostics)
    done = (
        f"built {_plural(result.pages, 'page')} from {_plural(result.records, 'record')} "
        f"into {out} in {seconds:.2f} s ({_counts(errors, warnings)})"
    )
    return f"{done}; nothing changed since the last build" if result.unchanged else done


class _Stages:
    """Told each stage as it starts: a progress line on a terminal, and stage timings."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.starts: list[tuple[str, float]] = []

    def __call__(self, stage: str) -> None:
        self.starts.append((stage, time.perf_counter()))
        if self.live:
            sys.stderr.write(f"\r\x1b[K{stage}…")
            sys.stderr.flush()

    def finish(self) -> list[tuple[str, float]]:
        """How long each stage took; the progress line is cleared."""
        if self.live:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
        ends = [start for _, start in self.starts[1:]] + [time.perf_counter()]
        return [(stage, end - start) for (stage, start), end in zip(self.starts, ends, strict=True)]


def _serve(args: argparse.Namespace) -> int:
    from .serve import DevServer, ServeError  # the watcher is loaded only when serving

    # As `factsheet build` by default: on every core, with the build cache beside the content
    # (a serve after a build starts from it; see `DevServer.rebuild` for the rebuilds).
    options = Options(
        content=args.content, jobs=os.cpu_count() or 1, cache=default_folder(args.content)
    )
    if not args.content.is_dir():
        _report(load(options)[2])
        return 1
    try:
        server = DevServer(options, args.port)
    except ServeError as error:
        print(f"factsheet serve: {error}", file=sys.stderr)
        return USAGE_ERROR

    def rebuilt(result: Result, seconds: float, changed: tuple[str, ...]) -> None:
        errors, warnings = _report(result.diagnostics)
        cause = _cause(changed)
        if result.written:
            print(cause + _built(result, options.out, seconds), file=sys.stderr)
        else:
            print(
                f"{cause}build failed: {_counts(errors, warnings)}; the browser shows them "
                f"until the files are fixed and saved; {options.out} was left as it was",
                file=sys.stderr,
            )

    def stopped(changed: tuple[str, ...], error: WorkerLost) -> None:
        print(
            f"{_cause(changed)}{error}; {options.out} was left as it was; save a file to "
            "build again",
            file=sys.stderr,
        )

    try:
        with server:
            rebuilt(*server.rebuild(), ())
            server.start()
            print(
                f"serving {options.out} at {server.url}; rebuilding when {args.content} or "
                "the templates change; Ctrl-C to stop",
                file=sys.stderr,
            )
            server.watch(rebuilt, lost=stopped)
    except KeyboardInterrupt:
        pass
    print("stopped", file=sys.stderr)
    return 0


def _cause(changed: tuple[str, ...]) -> str:
    """What serve says a rebuild followed: the first files saved ("" for the first build)."""
    if not changed:
        return ""
    return f"{', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''} changed: "


def _schema(args: argparse.Namespace) -> int:
    try:
        written, unchanged = _write_schemas(args.out)
    except OSError as error:
        print(f"factsheet schema: cannot write into {args.out}: {error.strerror}", file=sys.stderr)
        return USAGE_ERROR
    print(
        f"wrote {_plural(written, 'JSON Schema')} into {args.out} "
        f"({_plural(unchanged, 'file')} already up to date)",
        file=sys.stderr,
    )
    return 0


def _write_schemas(folder: Path) -> tuple[int, int]:
    """Write each kind's JSON Schema into `folder`: how many changed, how many did not."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    schemas = documents()
    for name, document in schemas.items():
        path, text = folder / name, dumps(document)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written += 1
    return written, len(schemas) - written


def _new(args: argparse.Namespace) -> int:
    kind = kind_for(args.kind)
    if kind is None:
        print(
            f"factsheet new: unknown kind '{args.kind}'; use one of {', '.join(_KIND_WORDS)} "
            "(or the plural: actors, stories, ...)",
            file=sys.stderr,
        )
        return USAGE_ERROR
    content = args.content.resolve()
    target = content / relative_path(kind, args.id)
    shown = Location(target.relative_to(content.parent).as_posix())
    corpus = load(Options(content=args.content))[0] if content.is_dir() else None
    problem = _new_problem(content, kind, args.id, shown, corpus)
    if problem:
        print(problem.format(), file=sys.stderr)
        return 1
    known = {k: [r.id for r in corpus.of_kind(k)] for k in KINDS} if corpus else {}
    schemas = content.parent / SCHEMAS
    try:
        _write_schemas(schemas)
        url = Path(os.path.relpath(schemas / file_name(kind), target.parent)).as_posix()
        text = skeleton(kind, args.id, url, date.today(), known)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        print(f"{shown}: error: cannot write the file: {error.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {shown.path}; fill it in and run `factsheet check`", file=sys.stderr)
    return 0


def _new_problem(
    content: Path, kind: str, record_id: str, shown: Location, corpus: Corpus | None
) -> Diagnostic | None:
    """Why `new` must not write the file: a bad id, no content folder, the id is taken.

    `content` is resolved; `shown` is the new file as diagnostics name it."""
    if not re.match(ID_PATTERN, record_id):
        return _error(
            shown,
            "E0305",
            f"'{record_id}' is not a valid id: use lowercase letters a-z, digits and single "
            "hyphens (e.g. 'hikmet-hajiyev')",
        )
    if not content.is_dir():
        return _error(Location(content.name), "E0101", "no content folder here")
    for other in KINDS:
        names = [f"{record_id}.yaml", f"{record_id}.yml", f"{record_id}.md", f"{record_id}/"]
        for name in names:
            if (content / other / name).exists():
                taken = Location(f"{content.name}/{other}/{name}")
                return _error(
                    taken,
                    "E0306",
                    f"the id '{record_id}' is already used by this file; ids are unique "
                    f"across the whole site (a new {SINGULAR[kind]} needs another id)",
                )
    if corpus and record_id in corpus.records:
        record = corpus.records[record_id]
        return _error(
            record.location,
            "E0306",
            f"the id '{record_id}' is already used by the {SINGULAR[record.kind]} here; "
            "ids are unique across the whole site",
        )
    return None


def _error(location: Location, code: str, message: str) -> Diagnostic:
    return Diagnostic(location, Severity.ERROR, code, message)


def run() -> None:
    """The `factsheet` command: `main`, then the process ends at once.

    A build leaves millions of objects (the model, the memos, the traces). Ending the usual
    way, Python would free them one by one and collect garbage over them: 11 s after a
    one-story rebuild of 10,000 stories, 19 s in all. Every file is closed by then; what is
    printed is flushed first.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
