"""Limits against hostile files, through the whole pipeline (SPEC §5): each ends in an error
naming the file, or builds, quickly; never a hang, a traceback or a RecursionError.

The SPEC asks for "well under a second"; the tests allow two seconds of CPU time (this
process's and its workers'), as a guard against hangs and runaway work: CPU time, not the
clock, so that a busy machine does not fail them (the measured times are a tenth of that
or less).
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
from opendata import write_content

from generator import cli
from generator.markup import MARKUP_BUDGET, markup_cost
from generator.reading import FACT_LIMIT, STORY_LIMIT

SECONDS = 2.0
HEAD = "---\ntitle: Hostile\ndate: 2022-12-10\n---\n"  # the body starts on line 5
PERSON = "name: X\ntype: person\n"
BIG = "y" * (900 * 1024)


def laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        this, below = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{this}: &{this} [{','.join(['*' + below] * 9)}]")
    return "\n".join(lines) + "\n"


def cpu_seconds() -> float:
    """The CPU time of this process and of its children that have ended (the workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def build(tmp_path: Path, files: dict[str, str]) -> tuple[int, list[str], float]:
    """Build a site of `files` (and a site.yaml): exit status, printed lines, CPU seconds."""
    content = write_content(tmp_path / "content", {"site.yaml": "title: Limits\n", **files})
    err = io.StringIO()
    start = cpu_seconds()
    with contextlib.redirect_stderr(err):
        status = cli.main(["build", "--content", str(content), "--out", str(tmp_path / "site")])
    return status, err.getvalue().splitlines(), cpu_seconds() - start


# id: (file, its text, line:col of the error, the error's code)
REFUSED = {
    "billion-laughs": ("actors/lol.yaml", laughs(), "1:4", "E0203"),
    "100k-brackets": ("actors/deep.yaml", "[" * 100_000, "1:21", "E0207"),
    "100k-brackets-front-matter": (
        "stories/deep.md",
        "---\ntitle: [" + "[" * 100_000 + "\n---\n",
        "2:27",
        "E0207",
    ),
    "1000-indented-levels": (
        "actors/deep.yaml",
        "".join(" " * i + f"k{i}:\n" for i in range(1000)),
        "21:21",
        "E0207",
    ),
    "story-2.5-mib": (
        "stories/big.md",
        HEAD + ("word " * 19 + "word\n") * (5 * STORY_LIMIT // 400),
        "1:1",
        "E0103",
    ),
    "fact-1.5-mib": (
        "actors/big.yaml",
        PERSON + "description: |\n" + ("  " + "x" * 97 + "\n") * 16_000,
        "1:1",
        "E0103",
    ),
    "500-deep-list": (
        "stories/nest.md",
        HEAD + "".join("  " * i + "- item\n" for i in range(500)),
        "105:1",
        "E0106",
    ),
    "500-deep-quote-in-description": (
        "actors/x.yaml",
        PERSON + "description: '" + ">" * 500 + " x'\n",
        "3:14",
        "E0106",
    ),
    "50-kb-of-headings": ("stories/h.md", HEAD + "# h\n" * 12_500, "5:1", "E0106"),
    "200-kb-of-escapes": ("stories/e.md", HEAD + "\\*" * 100_000, "5:1", "E0106"),
    "2-mb-of-paragraphs": ("stories/p.md", HEAD + "*a*\n\n" * 400_000, "5:1", "E0106"),
    "1-mb-of-code-fences": ("stories/f.md", HEAD + "```\na\n```\n" * 100_000, "5:1", "E0106"),
    "inline-marks-in-a-summary": (
        "actors/x.yaml",
        PERSON + "summary: '" + "*a " * 200_000 + "'\n",
        "3:10",
        "E0106",
    ),
    "900-kib-key": ("actors/x.yaml", PERSON + BIG + ": 1\n", "3:1", "E0201"),
    "900-kib-choice": ("actors/x.yaml", "name: X\ntype: " + BIG + "\n", "2:7", "E0304"),
    "900-kib-reference": ("actors/x.yaml", PERSON + "country: " + BIG + "\n", "3:10", "E0401"),
    "900-kib-id": (
        "actors/x.yaml",
        "- id: " + BIG + "\n  name: X\n  type: person\n",
        "1:7",
        "E0305",
    ),
    "900-kib-cross-link": ("stories/w.md", HEAD + "[[" + BIG + "]]\n", "5:1", "E0403"),
}

BUILT = {
    "20k-brackets-in-a-story": {"stories/b.md": HEAD + "[" * 20_000 + "\n"},
    "900-kib-description": {"actors/x.yaml": PERSON + 'description: "' + BIG + '"\n'},
    "900-kib-name": {"actors/x.yaml": "name: " + BIG + "\ntype: person\n"},
    "900-kib-word-in-a-story": {"stories/w.md": HEAD + BIG + "\n"},
    "900-kib-link-target": {"stories/l.md": HEAD + "[a](https://example.org/" + BIG + ")\n"},
}


@pytest.mark.parametrize(("path", "text", "where", "code"), REFUSED.values(), ids=REFUSED)
def test_hostile_file_is_an_error_naming_it(
    tmp_path: Path, path: str, text: str, where: str, code: str
) -> None:
    status, lines, seconds = build(tmp_path, {path: text})
    assert status == 1, lines[-3:]
    errors = [line for line in lines if ": error[" in line]
    start = f"content/{path}:{where}: error[{code}]: "
    assert any(line.startswith(start) for line in errors), errors
    assert all(len(line) < 400 for line in lines), "a message quotes too much of the file"
    assert seconds < SECONDS
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize("files", BUILT.values(), ids=BUILT)
def test_large_but_ordinary_file_builds(tmp_path: Path, files: dict[str, str]) -> None:
    status, lines, seconds = build(tmp_path, files)
    assert status == 0, lines[-3:]
    assert seconds < SECONDS


def test_limits_are_the_contracts() -> None:
    assert FACT_LIMIT == 1024 * 1024
    assert STORY_LIMIT == 2 * 1024 * 1024


# --- the Markdown budget ---------------------------------------------------------------------


def test_real_stories_are_far_below_the_budget() -> None:
    examples = Path(__file__).parent.parent / "content" / "stories"
    fixture = Path(__file__).parent / "fixtures" / "full" / "content" / "stories"
    stories = [*examples.rglob("*.md"), *fixture.rglob("*.md")]
    assert stories
    for story in stories:
        cost, _ = markup_cost(story.read_text("utf-8"))
        assert cost < MARKUP_BUDGET / 100, story


def test_two_mib_of_prose_is_within_the_budget() -> None:
    paragraph = "Words of an ordinary report, with *emphasis* and a [link](https://a.example/). "
    text = (paragraph * 4 + "\n\n") * (2_000_000 // (4 * len(paragraph) + 2))
    start = cpu_seconds()
    cost, culprit = markup_cost(text)
    assert cpu_seconds() - start < 0.5  # the estimate itself is quick
    assert cost < MARKUP_BUDGET and culprit is None


def test_the_costliest_block_is_named() -> None:
    text = "Fine.\n\n" * 10 + "# h\n" * 5000 + "\nFine.\n"
    cost, culprit = markup_cost(text)
    assert cost > MARKUP_BUDGET and culprit == 21


DEEP = {
    "links": "[a" * 3000 + "](b)" * 3000,
    "brackets": "[" * 30_000 + "]" * 30_000,
    "images": "![a" * 3000 + "](b)" * 3000,
    "emphasis": "*a " * 3000 + "b" + " a*" * 3000,
    "strong": "***a " * 2000 + "b" + " a***" * 2000,
    "underscores": "_a " * 3000 + "b" + " a_" * 3000,
    "cross-links": "[[" * 5000 + "x" + "]]" * 5000,
    "footnotes": "[^" * 5000,
    "tags": "<a>" * 5000,
    "quotes-and-lists": "> - " * 400 + "a",
    "indentation": "".join(" " * (4 * i) + "- a\n" for i in range(300)),
    "table-cell": "| " + "[" * 5000 + " |\n|---|\n| a |\n",
}


def test_no_recursion_error_anywhere(tmp_path: Path) -> None:
    files = {}
    for name, text in DEEP.items():
        files[f"stories/{name}.md"] = HEAD + text + "\n"
        quoted = text.replace("'", "''").replace("\n", "\n\n  ")
        files[f"actors/{name}.yaml"] = (
            f"{PERSON}summary: '{quoted}'\ndescription: '{quoted}'\n"  # YAML folds "\n\n"
        )
    status, lines, seconds = build(tmp_path, files)
    assert status in (0, 1)
    assert not any("internal error" in line or "Recursion" in line for line in lines), lines
    assert seconds < 5 * SECONDS
