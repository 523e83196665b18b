"""The `factsheet` command: the only module that prints or sets an exit status.

Exit status: 0 success, 1 content errors (or warnings under --strict), 2 usage errors,
3 an internal error (a bug, reported in one line instead of a traceback).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .diagnostics import Diagnostic, Severity
from .pipeline import Options, build, load

USAGE_ERROR = 2
INTERNAL_ERROR = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factsheet",
        description="Build a cross-linked static fact-sheet site from stories and facts.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    build_cmd = commands.add_parser("build", help="check the content and build the site")
    _content_option(build_cmd)
    build_cmd.add_argument("--out", type=Path, default=Path("site"), help="output folder")
    build_cmd.add_argument("--base-url", help="the address the site is published at")
    build_cmd.add_argument("--drafts", action="store_true", help="build draft stories too")
    build_cmd.add_argument("--strict", action="store_true", help="warnings fail the build")
    loudness = build_cmd.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    loudness.add_argument("-v", "--verbose", action="store_true", help="print more detail")

    check_cmd = commands.add_parser("check", help="validate the content, write nothing")
    _content_option(check_cmd)
    check_cmd.add_argument("--strict", action="store_true", help="warnings fail the check")
    return parser


def _content_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--content", type=Path, default=Path("content"), help="the content folder")


def _report(diagnostics: Sequence[Diagnostic]) -> tuple[int, int]:
    for diagnostic in diagnostics:
        print(diagnostic.format(), file=sys.stderr)
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
    except Exception as error:  # a bug of ours: say so plainly, never a traceback
        print(
            f"factsheet: internal error ({type(error).__name__}: {error}). This is a bug in "
            "factsheet, not in your content; the output folder was left as it was.",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.command == "check":
        _, _, diagnostics = load(Options(content=args.content))
        errors, warnings = _report(diagnostics)
        failed = errors > 0 or (args.strict and warnings > 0)
        print(
            f"{'check failed' if failed else 'check passed'}: {_counts(errors, warnings)}",
            file=sys.stderr,
        )
        return 1 if failed else 0
    options = Options(
        content=args.content,
        out=args.out,
        drafts=args.drafts,
        strict=args.strict,
        base_url=args.base_url,
    )
    result = build(options)
    errors, warnings = _report(result.diagnostics)
    if not result.written:
        reason = "warnings are errors under --strict" if not errors and warnings else ""
        print(
            f"build failed: {_counts(errors, warnings)}{'; ' + reason if reason else ''}; "
            f"{args.out} was left as it was",
            file=sys.stderr,
        )
        return 1
    if not args.quiet:
        seconds = time.perf_counter() - started
        print(
            f"built {_plural(result.pages, 'page')} from {_plural(result.records, 'record')} "
            f"into {args.out} "
            f"in {seconds:.2f} s ({_counts(errors, warnings)})",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
