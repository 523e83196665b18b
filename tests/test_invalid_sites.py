"""Invalid fixture sites: one small site per failure mode, each with its exact diagnostics.

Each folder under `tests/fixtures/invalid/` holds `content/` (a minimal site that makes one
mistake) and `expected.txt` (the diagnostic lines `check` prints, without the summary). A few
mistakes cannot live in git (symbolic links, bytes that are not UTF-8, a NUL byte, CRLF line
ends, a file over 1 MiB): for those, `SETUP` writes the bad file into the test's copy.

The test copies the fixture into `tmp_path` and runs from there, so paths print as
`content/...` and nothing is ever written inside the repository.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import cli
from generator.diagnostics import CATALOGUE
from generator.reading import FACT_LIMIT

FIXTURES = Path(__file__).parent / "fixtures" / "invalid"

VALID_ACTOR = "name: TASS\ntype: organization\nsources: [src]\n"


def _write(content: Path, relative: str, data: bytes) -> None:
    path = content / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _symlink_file(content: Path) -> None:
    _write(content.parent, "elsewhere/tass.yaml", VALID_ACTOR.encode())
    (content / "actors").mkdir()
    (content / "actors" / "tass.yaml").symlink_to(Path("..", "..", "elsewhere", "tass.yaml"))


def _symlink_folder(content: Path) -> None:
    _write(content.parent, "elsewhere/actors/tass.yaml", VALID_ACTOR.encode())
    (content / "actors").symlink_to(Path("..", "elsewhere", "actors"), target_is_directory=True)


def _invalid_utf8(content: Path) -> None:
    # Pasted from a Latin-1 file: 'é' is the single byte 0xE9. The 'ə' before it is two
    # bytes but one column, as an editor counts.
    _write(
        content,
        "actors/hikmet-hajiyev.yaml",
        b"name: Hikmet Hajiyev\ntype: person\n"
        b"aliases: [Hikm\xc9\x99t, Hikm\xe9t]\nsources: [src]\n",
    )


def _byte_order_mark(content: Path) -> None:
    _write(content, "actors/tass.yaml", b"\xef\xbb\xbf" + VALID_ACTOR.encode())


def _nul_byte(content: Path) -> None:
    _write(content, "actors/tass.yaml", b"name: TASS\x00\ntype: organization\nsources: [src]\n")


def _crlf(content: Path) -> None:
    _write(
        content,
        "events/protest.yaml",
        b"name: Protest begins\r\nsources: [src]\r\ndate: 2022-02-30\r\nend: 2022-13\r\n",
    )


def _too_large(content: Path) -> None:
    line = b"  " + b"x" * 97 + b"\n"
    body = line * (FACT_LIMIT // len(line) + 1)
    _write(content, "actors/tass.yaml", VALID_ACTOR.encode() + b"description: |\n" + body)


SETUP: dict[str, Callable[[Path], None]] = {
    "symlink-file": _symlink_file,
    "symlink-folder": _symlink_folder,
    "invalid-utf8": _invalid_utf8,
    "byte-order-mark": _byte_order_mark,
    "nul-byte": _nul_byte,
    "crlf-error-on-line-3": _crlf,
    "file-too-large": _too_large,
}

# Modes that only warn: `check` passes, so they are tested on their own below.
WARNING_ONLY = ("byte-order-mark",)

# Error codes of stages 01-05 that no content folder can produce, with why.
UNPRODUCIBLE: dict[str, str] = {}

MODES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.txt").is_file())
ERROR_MODES = [m for m in MODES if m not in WARNING_ONLY]


def _prepare(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copy the fixture into tmp_path, add what git cannot hold, and chdir there."""
    work = tmp_path / "work"
    source = FIXTURES / mode / "content"
    if source.is_dir():
        shutil.copytree(source, work / "content", symlinks=True)
    else:
        (work / "content").mkdir(parents=True)
    if mode in SETUP:
        SETUP[mode](work / "content")
    monkeypatch.chdir(work)
    return work


def _expected(mode: str) -> list[str]:
    return (FIXTURES / mode / "expected.txt").read_text(encoding="utf-8").splitlines()


def _summary(verb: str, lines: list[str]) -> str:
    errors = sum(1 for line in lines if ": error[" in line)
    warnings = sum(1 for line in lines if ": warning[" in line)
    counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    return f"{verb}: {counts}"


def test_there_is_a_fixture_per_failure_mode() -> None:
    assert len(ERROR_MODES) >= 30
    assert set(SETUP) <= set(MODES), "a SETUP entry has no fixture folder"


@pytest.mark.parametrize("mode", ERROR_MODES)
def test_check_reports_exactly_the_expected_diagnostics(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _prepare(mode, tmp_path, monkeypatch)
    expected = _expected(mode)

    status = cli.main(["check", "--content", "content"])

    err = capsys.readouterr().err
    assert "Traceback" not in err
    *lines, summary = err.splitlines()
    assert lines == expected
    assert summary == _summary("check failed", expected)
    assert status == 1


@pytest.mark.parametrize("mode", ERROR_MODES)
def test_build_fails_and_writes_nothing(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = _prepare(mode, tmp_path, monkeypatch)
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    out = tmp_path / "site"

    status = cli.main(["build", "--content", "content", "--out", str(out)])

    err = capsys.readouterr().err
    assert "Traceback" not in err
    *lines, summary = err.splitlines()
    assert lines == _expected(mode)
    assert summary.startswith(_summary("build failed", lines))
    assert status == 1
    assert not out.exists()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before


def test_byte_order_mark_is_only_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _prepare("byte-order-mark", tmp_path, monkeypatch)
    expected = _expected("byte-order-mark")
    assert expected and all(": warning[W0101]: " in line for line in expected)

    assert cli.main(["check", "--content", "content"]) == 0
    *lines, summary = capsys.readouterr().err.splitlines()
    assert lines == expected
    assert summary == _summary("check passed", expected)

    assert cli.main(["check", "--strict", "--content", "content"]) == 1
    *lines, summary = capsys.readouterr().err.splitlines()
    assert lines == expected
    assert summary.startswith("check failed")

    out = tmp_path / "site"
    assert cli.main(["build", "--content", "content", "--out", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert (out / "actors" / "tass" / "index.html").is_file()


def _codes_in(mode: str) -> set[str]:
    return {
        m[1] for line in _expected(mode) if (m := re.search(r"\b(?:error|warning)\[(\w+)\]", line))
    }


def test_every_content_error_code_has_a_fixture() -> None:
    produced = set().union(*(_codes_in(mode) for mode in MODES))
    content_errors = {code for code in CATALOGUE if code[0] == "E" and 1 <= int(code[1:3]) <= 5}
    missing = content_errors - produced - set(UNPRODUCIBLE)
    assert not missing, f"no invalid fixture produces {sorted(missing)}"
    assert not set(UNPRODUCIBLE) & produced, "a code listed as unproducible is produced"
    assert produced <= set(CATALOGUE), f"uncatalogued codes: {sorted(produced - set(CATALOGUE))}"


def test_fixtures_are_small_and_plain() -> None:
    """Fixture sites stay minimal; bad bytes and links are made by SETUP, not committed."""
    for path in FIXTURES.rglob("*"):
        assert not path.is_symlink(), path
        if path.is_file():
            assert path.stat().st_size < 4096, path
            data = path.read_bytes()
            assert b"\r" not in data and b"\x00" not in data, path
            data.decode("utf-8")


def test_unreadable_file_and_folder_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """E0101 without a link: needs permissions that bind (so not as root)."""
    work = _prepare("missing-name", tmp_path, monkeypatch)
    locked_file = work / "content" / "actors" / "tass.yaml"
    locked_folder = work / "content" / "sources"
    locked_file.chmod(0)
    locked_folder.chmod(0)
    try:
        if os.access(locked_file, os.R_OK):
            pytest.skip("permissions do not bind for this user (root)")
        assert cli.main(["check", "--content", "content"]) == 1
        *lines, _ = capsys.readouterr().err.splitlines()
        assert lines == [
            "content/actors/tass.yaml:1:1: error[E0101]: cannot read the file: Permission denied",
            "content/sources:1:1: error[E0101]: cannot read the folder: Permission denied",
        ]
    finally:
        locked_folder.chmod(0o755)
        locked_file.chmod(0o644)


def test_an_id_field_that_repeats_the_file_name_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = _prepare("missing-name", tmp_path, monkeypatch)
    (work / "content" / "actors" / "tass.yaml").write_text(
        "id: tass\n" + VALID_ACTOR, encoding="utf-8"
    )
    assert cli.main(["check", "--content", "content"]) == 0
    assert capsys.readouterr().err.splitlines() == ["check passed: 0 errors, 0 warnings"]
