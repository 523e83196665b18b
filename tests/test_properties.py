"""Property-based: arbitrary YAML-ish and Markdown-ish text through the whole pipeline (read,
parse, link, render, write) ends in located diagnostics or a safe site, never an exception.

The texts are built from the pieces editors (and attackers) type: field names, YAML syntax,
Markdown syntax, cross-links, odd spaces and characters. Examples are derandomized, so a run
is repeatable; the counts keep the module to a few seconds.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opendata import write_content
from test_markup import FRAGMENTS
from test_suites import LOCATED, page_is_safe

from generator.diagnostics import CATALOGUE
from generator.pipeline import Options, Result, build

YAML_PIECES = [
    "name", "type", "summary", "description", "aliases", "tags", "sources", "country", "roles",
    "extra", "id", "date", "end", "url", "title", "updated", "coordinates", "nmae",
    ": ", ":", "- ", "-", "\n", "\n  ", "\n    ", "  ", "\t", "\u00a0", "[", "]", "{", "}", ", ",
    "'", '"', "\\", "#", " #", "&a ", "*a", "!!str ", "<<: ", "? ", "|", ">", "---", "...",
    "%YAML 1.2", "person", "state", "x", "src", "2022", "2022-12-10", "~2022-12", "2022-02-30",
    "1:30", "017", "no", "true", "null", "~", "[[x]]", "[[nobody]]", "javascript:alert(1)",
    "https://example.org/", "<script>", "é", "e\u0301", "\ufeff", "😀", "\u2028",
]  # fmt: skip
yamlish = st.lists(st.one_of(st.sampled_from(YAML_PIECES), st.text(max_size=6)), max_size=30).map(
    "".join
)
markdownish = st.lists(
    st.one_of(
        st.sampled_from([*FRAGMENTS, "[[x]]", "[[src|s]]", "<script>alert(1)</script>"]),
        st.sampled_from(["[a](javascript:alert(1))", "![i](data:x)", "<b onclick=x>", "&#0;"]),
        st.text(max_size=6),
    ),
    max_size=40,
).map("".join)

PROPERTY = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SOURCE = "name: A source\nurl: https://example.org/\n"
ACTOR = "name: X\ntype: person\nsources: [src]\n"
STORY = "---\ntitle: A story\ndate: 2022-12-10\nsources: [src]\n---\n"


def build_site(files: dict[str, str]) -> tuple[Result, dict[str, str]]:
    """Build `files` in a fresh folder: the result, and the HTML pages written (path: text)."""
    with tempfile.TemporaryDirectory() as folder:
        content = write_content(Path(folder) / "content", files)
        result = build(Options(content=content, out=Path(folder) / "site"))
        pages = {
            p.relative_to(folder).as_posix(): p.read_text("utf-8")
            for p in sorted((Path(folder) / "site").rglob("*.html"))
        }
    for diagnostic in result.diagnostics:
        line = diagnostic.format()
        assert LOCATED.match(line) and len(line.splitlines()) == 1, line
        assert diagnostic.location.path.removeprefix("content/") in files, line
        assert diagnostic.code in CATALOGUE
    assert result.written == (not result.failed)
    event("built" if result.written else "refused")
    return result, pages


@PROPERTY
@given(fact=yamlish, front=yamlish, settings_text=yamlish, fact_as_list=st.booleans())
def test_yaml_never_raises(fact: str, front: str, settings_text: str, fact_as_list: bool) -> None:
    build_site(
        {
            "site.yaml": "title: T\n" + settings_text,
            "sources/src.yaml": SOURCE,
            "actors/x.yaml": ("- id: y\n  " + fact.replace("\n", "\n  ")) if fact_as_list else fact,
            "stories/s.md": f"---\n{front}\n---\nBody [[x]].\n",
        }
    )


@PROPERTY
@given(body=markdownish, summary=markdownish, description=markdownish, allow_html=st.booleans())
def test_markdown_never_raises_and_stays_safe(
    body: str, summary: str, description: str, allow_html: bool
) -> None:
    # A JSON string is a YAML double-quoted one: any text, escaped.
    texts = f"summary: {json.dumps(summary)}\ndescription: {json.dumps(description)}\n"
    result, pages = build_site(
        {
            "site.yaml": f"title: T\nallow_html: {'true' if allow_html else 'false'}\n",
            "sources/src.yaml": SOURCE,
            "actors/x.yaml": ACTOR + texts,
            "actors/a.yaml": ACTOR,  # the ids FRAGMENTS link to
            "actors/b.yaml": ACTOR,
            "stories/s.md": STORY + body,
        }
    )
    for page in pages.values():
        page_is_safe(page)
    assert result.written == ("site/stories/s/index.html" in pages)
