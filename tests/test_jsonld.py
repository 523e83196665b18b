"""JSON-LD: every page carries one schema.org block that parses, has the right types, and
whose ids lead to pages of the site; no text can break out of the script element."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opendata import BASE_URL, BREAKOUT, page_file
from sitecheck import Page, load_site

from generator.jsonld import script

KIND_TYPES = {
    "stories": {"NewsArticle"},
    "actors": {"Person", "Organization", "Country"},
    "deposits": {"Place"},
    "places": {"Place"},
    "events": {"Event"},
    "notes": {"Message"},
    "quotes": {"Quotation"},
    "sources": {"CreativeWork"},
}
ACTOR_TYPES = {
    "elena-marsh": "Person",
    "kestrel-copper": "Organization",
    "kestria": "Country",
    "valley-farmers-union": "Organization",  # a group
}


def blocks(page: Page) -> list[dict[str, Any]]:
    found = [s for s in page.find_all("script") if s.get("type") == "application/ld+json"]
    return [json.loads(s.raw_text) for s in found]


@functools.cache
def pages(site: Path) -> dict[str, Page]:
    return load_site(site)


def data_of(site: Path, path: str) -> dict[str, Any]:
    (block,) = blocks(pages(site)[path])
    return block


def ids(value: Any) -> Iterator[str]:
    """Every @id in a JSON-LD value, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "@id":
                yield item
            else:
                yield from ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from ids(item)


@pytest.mark.parametrize("variant", ["full_site", "full_site_based"])
def test_every_page_has_one_block_of_the_right_type(
    variant: str, request: pytest.FixtureRequest
) -> None:
    folder: Path = request.getfixturevalue(variant)
    for path, page in load_site(folder).items():
        (data,) = blocks(page)
        if variant == "full_site_based":
            assert data["@context"] == "https://schema.org"
        else:  # ids from the site root, resolved there by a relative @base
            depth = path.count("/")
            assert data["@context"] == ["https://schema.org", {"@base": "../" * depth}]
        kind = path.split("/")[0]
        if path == "index.html":
            assert data["@type"] == "WebSite"
        elif path == "404.html" or path.startswith("search/"):
            assert data["@type"] == "WebPage"
        elif path.count("/") == 1:
            assert data["@type"] == "CollectionPage", path
        else:
            assert data["@type"] in KIND_TYPES[kind], path
            assert data["@id"].endswith(f"{kind}/{path.split('/')[1]}/#id")


@pytest.mark.parametrize("variant", ["full_site", "full_site_based"])
def test_every_id_leads_to_a_page(variant: str, request: pytest.FixtureRequest) -> None:
    folder: Path = request.getfixturevalue(variant)
    base = BASE_URL if variant == "full_site_based" else None
    seen = set()
    for page in load_site(folder).values():
        for data in blocks(page):
            for ident in ids(data):
                seen.add(ident)
                assert page_file(folder, ident, base).is_file(), (page.path, ident)
    assert len(seen) > 40


def test_actor_types_follow_the_actor_type(full_site: Path) -> None:
    for actor, schema_type in ACTOR_TYPES.items():
        assert data_of(full_site, f"actors/{actor}/index.html")["@type"] == schema_type


def test_news_article(full_site_based: Path) -> None:
    data = data_of(full_site_based, "stories/concession-dispute/index.html")
    story = f"{BASE_URL}stories/concession-dispute/"
    assert data["@id"] == f"{story}#id"
    assert (data["url"], data["mainEntityOfPage"]) == (story, story)
    assert data["headline"] == "Norvalia reviews the Cerro Alto copper concession"
    assert data["dateline"] == "PUERTO ALTO"
    assert (data["datePublished"], data["dateModified"]) == ("2022-12-14", "2023-01-15")
    assert [a["name"] for a in data["author"]] == ["Test Desk", "A. N. Editor"]
    about = {i.removeprefix(BASE_URL) for i in ids(data["about"])}
    mentions = {i.removeprefix(BASE_URL) for i in ids(data["mentions"])}
    assert "actors/elena-marsh/#id" in about  # the story's own list
    assert "actors/norvalia/#id" in mentions  # a [[link]] in the body
    assert not about & mentions
    assert data["citation"]
    assert data["isPartOf"] == {"@id": f"{BASE_URL}#website"}


def test_records_carry_their_facts(full_site: Path) -> None:
    event = data_of(full_site, "events/blockade-of-mine-road/index.html")
    assert event["@type"] == "Event"
    assert re.fullmatch(r"\d{4}(-\d{2}){0,2}(T.*)?", event["startDate"])
    assert all(i.startswith(("places/", "deposits/")) for i in ids(event.get("location", [])))
    note = data_of(full_site, "notes/kestria-note-to-norvalia/index.html")
    assert (note["sender"], note["recipient"]) == (
        {"@id": "actors/kestria/#id"},
        {"@id": "actors/norvalia/#id"},
    )
    quote = data_of(full_site, "quotes/quote-marsh-no/index.html")
    assert quote["text"] == "no"  # YAML 1.2: 'no' stays text
    assert quote["spokenByCharacter"] == {"@id": "actors/elena-marsh/#id"}
    deposit = data_of(full_site, "deposits/cerro-alto/index.html")
    assert deposit["geo"]["@type"] == "GeoCoordinates"
    road = data_of(full_site, "places/mine-road/index.html")
    assert road["geo"]["@type"] == "GeoShape"
    kinds = data_of(full_site, "actors/index.html")
    assert kinds["mainEntity"]["numberOfItems"] == len(kinds["mainEntity"]["itemListElement"])


def test_aliases_identifiers_and_dates_at_their_precision(hostile_site: Path) -> None:
    actor = data_of(hostile_site, "actors/breakout/index.html")
    assert actor["name"] == BREAKOUT
    assert actor["alternateName"] == ["]]>", "-2+3+cmd|x"]
    assert actor["sameAs"] == [
        "https://www.wikidata.org/wiki/Q4115189",
        "https://example.org/breakout",
    ]
    event = data_of(hostile_site, "events/vote/index.html")
    assert (event["startDate"], event["endDate"]) == ("2022-12", "2023-01")
    assert event["sameAs"] == ["https://example.org/vote"]  # a list of web addresses
    story = data_of(hostile_site, "stories/breakout-story/index.html")
    assert story["datePublished"] == "2022-12-10T14:30+04:00"
    assert story["dateline"] == "<BAKU>"


def test_no_text_breaks_out_of_the_script_element(hostile_site: Path) -> None:
    for file in hostile_site.rglob("*.html"):
        html = file.read_text("utf-8")
        for body in re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S):
            assert not set(body) & set("<>&"), file
            json.loads(body)


def test_script_escapes_what_could_end_the_element() -> None:
    text = script({"name": "</script><!-- a & b"}, "actors/x/", "https://example.org/")
    assert str(text) == (
        '{"@context": "https://schema.org", "name": "\\u003c/script\\u003e\\u003c!-- a \\u0026 b"}'
    )
    assert json.loads(str(text))["name"] == "</script><!-- a & b"
