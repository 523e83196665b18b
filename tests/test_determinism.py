"""Determinism (SPEC §3): the same content gives byte-identical output whatever the order its
files were created in, their modification times, the day of the build or the time zone.

(The hash seed is covered by test_build.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

from generator.pipeline import Options, build

TESTS = Path(__file__).resolve().parent
FULL = TESTS / "fixtures" / "full" / "content"
ROOT = TESTS.parent


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def copy_in_order(source: Path, target: Path, reverse: bool, mtime: float) -> Path:
    """Copy `source` file by file, in sorted or reverse order, each file with its own mtime
    (rising in the order written)."""
    files = sorted(p for p in source.rglob("*") if p.is_file())
    if reverse:
        files.reverse()
    for n, path in enumerate(files):
        copy = target / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
        os.utime(copy, (mtime + 3600 * n, mtime + 3600 * n))
    return target


def built(content: Path, out: Path) -> dict[str, bytes]:
    result = build(Options(content=content, out=out))
    assert result.written, [d.format() for d in result.diagnostics]
    return tree(out)


def test_creation_order_and_times_do_not_matter(tmp_path: Path) -> None:
    first = copy_in_order(FULL, tmp_path / "a" / "content", reverse=False, mtime=1_000_000_000)
    second = copy_in_order(FULL, tmp_path / "b" / "content", reverse=True, mtime=1_700_000_000)
    one, two = built(first, tmp_path / "a" / "site"), built(second, tmp_path / "b" / "site")
    assert sorted(one) == sorted(two)
    assert [name for name in one if one[name] != two[name]] == []


def test_output_holds_no_date_of_the_build(tmp_path: Path) -> None:
    content = copy_in_order(FULL, tmp_path / "content", reverse=False, mtime=1_000_000_000)
    today = date.today()
    forms = {
        today.isoformat(),
        f"{today.day} {today:%B %Y}",
        f"{today:%B} {today.day}, {today.year}",
        f"{today:%d/%m/%Y}",
    }
    text = b"".join(tree(content).values()).decode("utf-8", errors="replace")
    forms = {form for form in forms if form not in text}  # unless the content has it
    for name, data in built(content, tmp_path / "site").items():
        page = data.decode("utf-8", errors="replace")
        assert not [form for form in forms if form in page], name


# Run the command on another day, in another time zone: the clock the generator sees is set
# forward (time, datetime and date), before the generator is imported.
_FAKE_CLOCK = textwrap.dedent(
    """
    import datetime, sys, time
    SHIFT = 4000 * 86400.0 + 12345.0
    real_time = time.time
    time.time = lambda: real_time() + SHIFT
    time.time_ns = lambda: int((real_time() + SHIFT) * 1e9)

    class Date(datetime.date):
        @classmethod
        def today(cls):
            return cls.fromtimestamp(time.time())

    class DateTime(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls.fromtimestamp(time.time(), tz)

        @classmethod
        def utcnow(cls):
            return cls.fromtimestamp(time.time(), datetime.timezone.utc).replace(tzinfo=None)

        @classmethod
        def today(cls):
            return cls.fromtimestamp(time.time())

    datetime.date = Date
    datetime.datetime = DateTime
    print(datetime.date.today().isoformat())
    from generator import cli
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def test_another_day_and_time_zone_give_the_same_site(tmp_path: Path) -> None:
    content = copy_in_order(FULL, tmp_path / "content", reverse=False, mtime=1_000_000_000)
    here = built(content, tmp_path / "here")
    environment = {**os.environ, "TZ": "Pacific/Kiritimati", "LC_ALL": "C.UTF-8"}
    later = tmp_path / "later"
    command = ["build", "--content", str(content), "--out", str(later)]
    run = subprocess.run(
        [sys.executable, "-c", _FAKE_CLOCK, *command],
        check=True,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert run.stdout.strip() > date.today().isoformat()  # the clock was set forward
    assert tree(later) == here
