"""The public YAML and CommonMark suites through the whole pipeline (SPEC §5, testdata README).

Every YAML test-suite input, saved as a fact file and as a story's front matter, must end in
located errors or build; every CommonMark example, as a story body, must build or be refused
with a located error, and what it builds holds no raw HTML, script, event handler or
dangerous URL. All cases share one site, checked with one run of the command; a case that
makes the command fail as a whole (an internal error, exit 3) is then found by running the
cases one by one.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from conftest import public_suite
from opendata import write_content
from test_markup import GENERATED, Tags, assert_safe, raw_html_left

from generator import cli, parse
from generator.schema import RECORD_KINDS

LOCATED = re.compile(r"^(content/[^:]+):(\d+):(\d+): (error|warning)\[([EW]\d{4})\]: \S")
SUMMARY = re.compile(r"^(check|build) (passed|failed)|^built ")
STORY_HEAD = "---\ntitle: Example {n}\ndate: 2022-12-10\n---\n"


def run(*args: str) -> tuple[int, list[str]]:
    """The command's exit status and the lines it printed, as an editor would see them."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(list(args))
    return status, err.getvalue().splitlines()


def make_site(folder: Path, files: dict[str, str], site: str = "title: Suite\n") -> Path:
    return write_content(folder / "content", {"site.yaml": site, **files})


def located_errors(status: int, lines: list[str]) -> dict[str, list[str]]:
    """The error lines per file; fails on anything but located diagnostics."""
    assert status in (0, 1), lines[-3:]
    errors: dict[str, list[str]] = {}
    for line in lines:
        if SUMMARY.match(line):
            continue
        m = LOCATED.match(line)
        assert m, f"not a located diagnostic: {line!r}"
        assert int(m.group(2)) >= 1 and int(m.group(3)) >= 1, line
        if m.group(4) == "error":
            errors.setdefault(m.group(1), []).append(line)
    return errors


def crashing(folder: Path, files: dict[str, str], site: str) -> list[str]:
    """The files that, alone in a site, make the command fail with an internal error."""
    found = []
    for i, (name, text) in enumerate(sorted(files.items())):
        content = make_site(folder / f"alone-{i}", {name: text}, site)
        if run("check", "--content", str(content))[0] not in (0, 1):
            found.append(name)
    return found


def check_cases(folder: Path, files: dict[str, str], site: str = "title: Suite\n") -> list[str]:
    """Check every case in one site; return the names of those without errors, which must
    then build together."""
    content = make_site(folder / "all", files, site)
    status, lines = run("check", "--content", str(content))
    if status not in (0, 1):
        raise AssertionError(f"internal error; culprits: {crashing(folder, files, site)}")
    errors = located_errors(status, lines)
    assert set(errors) <= {f"content/{name}" for name in files}, sorted(errors)[:5]
    clean = [name for name in files if f"content/{name}" not in errors]
    if clean:
        built = make_site(folder / "clean", {n: files[n] for n in clean}, site)
        status, lines = run("build", "--content", str(built), "--out", str(folder / "site"))
        assert status == 0, lines[-5:]
    return clean


# --- the YAML test suite ---------------------------------------------------------------------


def yaml_cases() -> dict[str, str]:
    """Each in.yaml of the suite as 'case-<name>': the file's text."""
    root = public_suite("yaml-test-suite")
    cases = {}
    for path in sorted(root.rglob("in.yaml")):
        name = path.parent.relative_to(root).as_posix().lower().replace("/", "-")
        cases[f"case-{name}"] = path.read_bytes().decode("utf-8")
    assert len(cases) == 402
    return cases


def test_yaml_suite_as_fact_files(tmp_path: Path) -> None:
    files = {
        f"{RECORD_KINDS[i % len(RECORD_KINDS)]}/{name}.yaml": text
        for i, (name, text) in enumerate(yaml_cases().items())
    }
    clean = check_cases(tmp_path, files)
    # Measured: every one of them is refused (none is a complete record of its kind).
    assert len(clean) <= 10, clean


def test_yaml_suite_as_front_matter(tmp_path: Path) -> None:
    files = {
        f"stories/{name}.md": f"---\n{text}\n---\nBody.\n" for name, text in yaml_cases().items()
    }
    check_cases(tmp_path, files)


def test_yaml_suite_as_site_settings(tmp_path: Path) -> None:
    # One site.yaml per site: the cases are checked in process, one after another.
    for name, text in yaml_cases().items():
        content = make_site(tmp_path / name, {}, site=text)
        located_errors(*run("check", "--content", str(content)))


# --- the CommonMark examples ------------------------------------------------------------------


def commonmark_stories() -> dict[str, str]:
    path = public_suite("commonmark") / "spec-examples.json"
    examples = json.loads(path.read_text(encoding="utf-8"))
    assert len(examples) == 655
    return {
        f"stories/example-{e['example']:03d}.md": STORY_HEAD.format(n=e["example"]) + e["markdown"]
        for e in examples
    }


def story_body(page: str) -> str:
    start = page.index('<div class="body">')
    return page[start : page.rindex("</div>", start, page.index('<section id="chronology"'))]


# The scripts a page may hold: files of the site, and JSON-LD (data, never run). A breakout
# from the JSON-LD ends the match early, and what follows is checked like the rest.
_SITE_SCRIPT = re.compile(
    r'<script src="[^"<>]*"></script>|<script type="application/ld\+json">.*?</script>', re.S
)


def page_is_safe(page: str) -> None:
    """What holds for a whole page: no other script, handler, style or dangerous URL."""
    assert_safe(_SITE_SCRIPT.sub("", page))


def pages_of(site: Path, names: Iterable[str]) -> Iterable[tuple[str, str, str]]:
    for name in names:
        ident = Path(name).stem
        page = (site / "stories" / ident / "index.html").read_text("utf-8")
        yield ident, page, story_body(page)


def test_commonmark_examples_as_stories(tmp_path: Path) -> None:
    stories = commonmark_stories()
    clean = check_cases(tmp_path, stories)
    # Refused with a located error: [[foo]] naming no record, or a link target that is not
    # http(s)/mailto. Everything else builds.
    assert len(clean) >= 640, len(clean)
    for ident, page, body in pages_of(tmp_path / "site", clean):
        page_is_safe(page)
        assert_safe(body)
        for tag, attrs in Tags(body).tags:
            assert tag in GENERATED and set(attrs) <= GENERATED[tag], (ident, tag, attrs)
        assert raw_html_left(stories[f"stories/{ident}.md"], body) == [], ident


def test_commonmark_examples_with_allow_html(tmp_path: Path) -> None:
    stories = commonmark_stories()
    clean = check_cases(tmp_path, stories, site="title: Suite\nallow_html: true\n")
    assert len(clean) >= 640, len(clean)
    for _ident, page, body in pages_of(tmp_path / "site", clean):
        page_is_safe(page)
        assert_safe(body)


def test_a_case_that_crashes_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = parse.load_yaml

    def fragile(text: str, path: str, first_line: int = 1) -> Any:
        if "boom" in text:
            raise RuntimeError("a bug")
        return real(text, path, first_line)

    monkeypatch.setattr(parse, "load_yaml", fragile)
    files = {"actors/a.yaml": "name: A\n", "actors/b.yaml": "name: boom\n", "actors/c.yaml": "x"}
    with pytest.raises(AssertionError, match=r"culprits: \['actors/b.yaml'\]"):
        check_cases(tmp_path, files)
