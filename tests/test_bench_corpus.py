"""The benchmark's synthetic corpus (scripts/bench.py): valid content in the shapes editors
write, with stories of 600-900 words, the same every time it is written."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from generator.pipeline import Options, build

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    content = tmp_path_factory.mktemp("bench") / "content"
    _bench().write_corpus(content, 24)  # type: ignore[attr-defined]
    return content


def _texts(content: Path) -> dict[str, str]:
    return {p.relative_to(content).as_posix(): p.read_text("utf-8") for p in content.rglob("*.*")}


def test_the_corpus_builds_without_a_diagnostic(corpus: Path, tmp_path: Path) -> None:
    result = build(Options(content=corpus, out=tmp_path / "site"))
    assert result.written
    assert [str(d) for d in result.diagnostics] == []
    assert result.records == 24 + 36 + 7 + 13 + 48 + 7 + 13 + 7  # stories, actors... sources
    assert (tmp_path / "site" / "stories" / "story-0" / "index.html").is_file()


def test_its_stories_are_600_to_900_words(corpus: Path) -> None:
    for path in sorted((corpus / "stories").glob("*.md")):
        body = path.read_text("utf-8").split("---\n", 2)[2]
        # Words as a reader counts them: not link targets, web addresses or markup.
        text = re.sub(r"\[\[[^]|]*\|?|\]\]|\(https?://[^)]*\)", " ", body)
        assert 600 <= len(re.findall(r"[A-Za-z]+", text)) <= 900, path.name


def test_it_has_the_shapes_of_real_content(corpus: Path) -> None:
    texts = _texts(corpus)
    facts = "".join(t for name, t in texts.items() if name.endswith(".yaml"))
    stories = "".join(t for name, t in texts.items() if name.endswith(".md"))
    for shape in ("summary: >-\n", "description: |\n", "\n# Checked against ", "  - source: "):
        assert shape in facts, shape
    assert "    page: " in facts and "    role: " in facts and "aliases:\n  az: " in facts
    for shape in ("\n## ", "\n### ", "\n1. ", "\n2. ", "\n- ", "\n> ", "\n|---|", "**"):
        assert shape in stories, shape
    assert re.search(r"\n(1|2|3)\. .*\n   \S", stories)  # a numbered item over two lines
    assert re.search(r"\[\[[a-z]+-\d+\|[a-z]+\]\]", stories)  # a labelled cross-link
    assert re.search(r"\]\(https://example\.org/report/\d+\)", stories + facts)  # a web link
    assert re.search(r"(?<!\*)\*[a-z]+\*(?!\*)", stories + facts)  # emphasis


def test_it_is_the_same_every_time(corpus: Path, tmp_path: Path) -> None:
    again = tmp_path / "content"
    _bench().write_corpus(again, 24)  # type: ignore[attr-defined]
    assert _texts(again) == _texts(corpus)


REFERENCE = SCRIPT.parent / "reference.py"


def _reference(content: Path, out: Path, *options: str) -> str:
    command = [sys.executable, str(REFERENCE), str(content), str(out), "--jobs", "2", *options]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_the_reference_loop_makes_a_page_per_file_with_the_stack_alone(
    corpus: Path, tmp_path: Path
) -> None:
    printed = _reference(corpus, tmp_path / "out")
    files = sorted(corpus.glob("stories/*.md")) + sorted(corpus.glob("*/*.yaml"))
    assert re.fullmatch(rf"{len(files)} pages in \d+\.\d\d s on 2 processes\n", printed)
    pages = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*"))
    folders = sorted({Path(p.parent.name) for p in files})
    assert pages == sorted([*folders, *(Path(p.parent.name, f"{p.stem}.html") for p in files)])
    story = (tmp_path / "out" / "stories" / "story-0.html").read_text("utf-8")
    assert "<title>Story 0</title>" in story and "<h1>Story 0</h1>" in story
    assert "<table>" in story and '<h2 id="' in story and "<ol>" in story  # the extensions'
    # A record with a description of paragraphs, and emphasis in its summary.
    fact = next(
        p
        for p in files
        if "\ndescription: |\n" in (text := p.read_text("utf-8"))
        and re.search(r"\nsummary: >-\n(  .*\n)*  .*(?<!\*)\*[a-z]+\*", text)
    )
    page = (tmp_path / "out" / fact.parent.name / f"{fact.stem}.html").read_text("utf-8")
    assert re.search(r"<h1>[^<]+</h1>", page) and "</p>\n<p>" in page  # paragraphs
    summary = re.search(r'<p class="summary">(.*?)</p>', page, re.S)
    assert summary is not None and "<p>" not in summary[1] and "<em>" in summary[1]


def test_the_reference_loop_makes_the_stories_pages_alone_if_asked(
    corpus: Path, tmp_path: Path
) -> None:
    printed = _reference(corpus, tmp_path / "out", "--stories")
    assert printed.startswith("24 pages in ")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["stories"]
    assert len(list((tmp_path / "out" / "stories").iterdir())) == 24
