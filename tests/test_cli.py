"""The command line: exit statuses, summaries, and no traceback ever."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from generator import cli

SITE = "title: Test site\n"
ACTOR = "name: Ada\ntype: person\n"


def _content(root: Path) -> Path:
    content = root / "content"
    (content / "actors").mkdir(parents=True)
    (content / "site.yaml").write_text(SITE, encoding="utf-8")
    (content / "actors" / "ada.yaml").write_text(ACTOR, encoding="utf-8")
    return content


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", "--no-such-option"]) == 2
    assert cli.main([]) == 2
    assert "usage:" in capsys.readouterr().err


def test_build_prints_a_summary_and_writes_the_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = _content(tmp_path)
    out = tmp_path / "site"
    assert cli.main(["build", "--content", str(content), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "built 6 pages from 1 record " in err
    assert "2 warnings" in err  # no source, nothing links to it
    assert (out / "actors" / "ada" / "index.html").is_file()


def test_quiet_prints_only_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = _content(tmp_path)
    args = ["build", "--quiet", "--content", str(content), "--out", str(tmp_path / "s")]
    assert cli.main(args) == 0
    lines = capsys.readouterr().err.splitlines()
    assert all(": warning[" in line for line in lines)


def test_strict_turns_warnings_into_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = _content(tmp_path)
    out = tmp_path / "site"
    assert cli.main(["build", "--strict", "--content", str(content), "--out", str(out)]) == 1
    assert not out.exists()
    assert "warnings are errors under --strict" in capsys.readouterr().err
    assert cli.main(["check", "--strict", "--content", str(content)]) == 1
    assert cli.main(["check", "--content", str(content)]) == 0


def test_check_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = _content(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert cli.main(["check", "--content", str(content)]) == 0
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_an_internal_error_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "build", broken)
    assert cli.main(["build", "--content", str(_content(tmp_path))]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "internal error (RuntimeError: boom)" in err


def test_missing_content_folder_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "--content", "nowhere"]) == 1
    assert "nowhere:1:1: error[E0101]: no content folder here" in capsys.readouterr().err


def test_verbose_lists_each_stage_with_its_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = _content(tmp_path)
    args = ["build", "--verbose", "--content", str(content), "--out", str(tmp_path / "s")]
    assert cli.main(args) == 0
    lines = capsys.readouterr().err.splitlines()
    stages = [line.split()[0] for line in lines if line.endswith(" ms")]
    # "inputs": the content, templates and site are compared with the last build's
    assert stages == ["inputs", "read", "parse", "link", "check", "render", "write"]
    assert lines[-1].startswith("built ")


def test_progress_only_on_a_terminal_and_not_when_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    content = _content(tmp_path)
    args = ["build", "--content", str(content), "--out", str(tmp_path / "s"), "--no-cache"]
    assert cli.main(args) == 0
    assert "\r" not in capsys.readouterr().err  # not a terminal: no progress line
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert "\r\x1b[Kread…\r\x1b[Kparse…" in err
    after = err.split("\r\x1b[K")[-1]  # the progress line is cleared before the summary
    assert "…" not in after and "built " in after
    assert cli.main([*args, "--quiet"]) == 0
    assert "\r" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["module", "script"])
def test_the_command_prints_all_and_exits_with_the_status_of_main(
    tmp_path: Path, command: str
) -> None:
    """`run` ends the process at once after `main` (no teardown of the build's objects):
    what was printed arrives whole, files are written, and the status is main's."""
    content = _content(tmp_path)
    out = tmp_path / "site"
    factsheet = Path(sys.executable).parent / "factsheet"
    start = [sys.executable, "-m", "generator.cli"] if command == "module" else [str(factsheet)]
    paths = ["--content", str(content), "--out", str(out)]
    built = subprocess.run([*start, "build", *paths], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    assert "built 6 pages from 1 record " in built.stderr
    assert (out / "actors" / "ada" / "index.html").is_file()
    failed = subprocess.run(
        [*start, "check", "--strict", "--content", str(content)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stderr.rstrip().endswith("check failed: 0 errors, 2 warnings")
