"""The search index: every record and story, with names, aliases in every script and text.

The matching itself is JavaScript (templates/assets/search.js) and is tested in a browser
(test_browser.py); here, what the index holds, that it is deterministic and ASCII, and that
every page's search box leads to the search page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sitecheck import load_site

from generator.pipeline import Options, build, load
from generator.search import INDEX, search_index

ROOT = Path(__file__).resolve().parent.parent
PREFIX = b"self.factsheetSearch = "


def records(script: bytes) -> dict[str, dict[str, Any]]:
    assert script.startswith(PREFIX) and script.endswith(b";\n")
    data = json.loads(script[len(PREFIX) : -2])
    return {r["url"]: r for r in data["records"]}


@pytest.fixture(scope="module")
def shipped_index() -> bytes:
    corpus, links, diagnostics = load(Options(content=ROOT / "content"))
    assert corpus is not None and links is not None, diagnostics
    return search_index(corpus, links)


def test_every_record_and_story_is_in_the_index(shipped_index: bytes) -> None:
    corpus, _, _ = load(Options(content=ROOT / "content"))
    assert corpus is not None
    urls = set(records(shipped_index))
    assert urls == {f"../{r.kind}/{r.id}/index.html" for r in corpus}


def test_aliases_in_every_script_are_indexed(shipped_index: bytes) -> None:
    sheet = records(shipped_index)["../deposits/gyzylbulag/index.html"]
    assert sheet["name"] == "Gyzylbulag"
    assert sheet["kind"] == "deposit"
    assert {"Qızılbulaq", "Դրմբոն", "Кызылбулаг", "Drmbon"} <= set(sheet["aliases"])
    assert sheet["summary"].startswith("Gold deposit in Karabakh, in the area")
    assert "monitoring visit" in sheet["text"]
    assert "<" not in sheet["text"] and "<" not in sheet["summary"]


def test_stories_are_searched_by_their_text_and_quotes_by_what_was_said(
    shipped_index: bytes,
) -> None:
    index = records(shipped_index)
    story = index["../stories/baku-demands-halt-to-mining/index.html"]
    assert story["kind"] == "story"
    assert "Hajiyev" in story["text"]
    quote = index["../quotes/quote-hajiyev-must-be-stopped/index.html"]
    assert quote["text"]


def test_the_index_is_ascii_and_the_same_every_time(shipped_index: bytes) -> None:
    shipped_index.decode("ascii")
    corpus, links, _ = load(Options(content=ROOT / "content"))
    assert corpus is not None and links is not None
    assert search_index(corpus, links) == shipped_index


def test_every_page_has_a_search_box_that_leads_to_the_search_page(tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert build(Options(content=ROOT / "content", out=out)).written
    assert (out / INDEX).is_file() and (out / "assets" / "search.js").is_file()
    pages = load_site(out)
    for path, page in pages.items():
        if path == "search/index.html":
            continue
        form = page.one("form", class_="site-search")
        assert (form.get("method"), form.get("role")) == ("get", "search"), path
        assert page.resolve(form.get("action")) == "search/index.html", path
        box = form.one("input")
        assert (box.get("type"), box.get("name")) == ("search", "q"), path
    search = pages["search/index.html"]
    assert search.by_id("search-query").get("type") == "search"
    scripts = [s.get("src") for s in search.find_all("script") if s.get("src")]
    assert scripts == ["../search/records.js", "../assets/search.js"]
    assert search.find("form", class_="site-search") is None
