"""Feeds and discovery, read by the libraries that consume them: Atom through feedparser (with
Atom's required elements checked), the sitemap through ElementTree, robots.txt as text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import feedparser
import pytest
from opendata import BASE_URL, page_file, write_content
from sitecheck import load_site, resolve

from generator.feeds import FEED_STORIES
from generator.pipeline import Options, build

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
STORIES = ["blockade-on-mine-road", "concession-dispute"]  # oldest first


def parse_feed(site: Path, path: str, host: str = "") -> Any:
    """The feed through feedparser, with Atom's required elements checked; as fetched from
    `host` + path when `host` is given (relative links then resolve against it)."""
    headers = (
        {"content-location": host + path, "content-type": "application/atom+xml"} if host else None
    )
    feed = feedparser.parse((site / path).read_bytes(), response_headers=headers)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.id and feed.feed.title and feed.feed.updated
    for entry in feed.entries:
        assert entry.id and entry.title and entry.updated and entry.link, entry
    return feed


@pytest.mark.parametrize("variant", ["full_site", "full_site_based", "hostile_site"])
def test_every_feed_parses_with_the_required_fields(
    variant: str, request: pytest.FixtureRequest
) -> None:
    folder: Path = request.getfixturevalue(variant)
    paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("feed.xml"))
    assert "feed.xml" in paths and len(paths) > 1
    for path in paths:
        parse_feed(folder, path)


def test_story_feed_newest_first_with_absolute_ids_and_links(full_site_based: Path) -> None:
    feed = parse_feed(full_site_based, "feed.xml")
    assert feed.feed.id == f"{BASE_URL}feed.xml"
    assert feed.feed.title == "Cerro Alto concession: test fixture"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links == {"self": f"{BASE_URL}feed.xml", "alternate": BASE_URL}
    urls = [f"{BASE_URL}stories/{story}/" for story in reversed(STORIES)]
    assert [e.id for e in feed.entries] == urls
    assert [e.link for e in feed.entries] == urls
    newest = feed.entries[0]
    assert newest.title == "Norvalia reviews the Cerro Alto copper concession"
    assert newest.published.startswith("2022-12-14T00:00:00")
    assert newest.updated.startswith("2023-01-15T00:00:00")  # its `updated`
    assert [a.name for a in newest.authors] == ["Test Desk", "A. N. Editor"]
    assert feed.feed.updated == newest.updated
    # The body's links are made absolute against the story's page (xml:base).
    body = newest.content[0].value
    assert f'href="{BASE_URL}actors/norvalia/index.html"' in body


def test_without_base_url_ids_are_tag_uris_and_links_relative(full_site: Path) -> None:
    """A reader resolves the links against wherever it fetched the feed from."""
    host = "https://reader.example/any/sub/path/"
    feed = parse_feed(full_site, "feed.xml", host)
    tag = "tag:cerro-alto-concession-test-fixture.invalid,2000:"
    assert feed.feed.id == f"{tag}feed.xml"
    assert [e.id for e in feed.entries] == [f"{tag}stories/{s}/" for s in reversed(STORIES)]
    for entry in feed.entries:
        assert page_file(full_site, entry.link, host).is_file()
    body = feed.entries[0].content[0].value
    assert f'href="{host}actors/norvalia/index.html"' in body
    assert f'src="{host}stories/concession-dispute/locator.png"' in body
    path = "stories/concession-dispute/feed.xml"
    for entry in parse_feed(full_site, path, host).entries:
        assert page_file(full_site, entry.link, host).is_file()


def test_story_chronology_feed_lists_its_items_newest_first(full_site_based: Path) -> None:
    feed = parse_feed(full_site_based, "stories/concession-dispute/feed.xml")
    page = load_site(full_site_based)["stories/concession-dispute/index.html"]
    in_page = [
        resolve(page.path, a.get("href"))
        for item in page.by_id("chronology").find_all("li", class_="entry")
        for a in item.one("div", class_="what").find_all("a")[:1]
    ]
    in_feed = [
        page_file(full_site_based, e.link, BASE_URL).relative_to(full_site_based).as_posix()
        for e in feed.entries
    ]
    assert in_feed == list(reversed(in_page))
    titles = [e.title for e in feed.entries]
    assert "14 December 2022: Norvalia reviews the Cerro Alto copper concession" in titles


def test_hostile_text_stays_text(hostile_site: Path) -> None:
    feed = parse_feed(hostile_site, "feed.xml")
    assert feed.feed.title == 'Desk </title><!-- & "co" ]]>'
    (entry,) = feed.entries
    assert entry.title == "Story </title><!--  ]]>"  # the control character is dropped
    assert entry.author == "<A & B>"
    chronology = parse_feed(hostile_site, "stories/breakout-story/feed.xml")
    assert "c. December 2022 – January 2023: @SUM(1+1) vote" in [
        e.title for e in chronology.entries
    ]


@pytest.mark.parametrize("variant", ["full_site", "full_site_based"])
def test_sitemap_lists_every_page_but_404(variant: str, request: pytest.FixtureRequest) -> None:
    folder: Path = request.getfixturevalue(variant)
    base = BASE_URL if variant == "full_site_based" else None
    root = ET.fromstring((folder / "sitemap.xml").read_bytes())
    assert root.tag == f"{SITEMAP}urlset"
    locs = [url.findtext(f"{SITEMAP}loc") or "" for url in root.iter(f"{SITEMAP}url")]
    files = {page_file(folder, loc, base).relative_to(folder).as_posix() for loc in locs}
    assert len(files) == len(locs)
    assert files == set(load_site(folder)) - {"404.html"}
    if base:
        assert all(loc.startswith(BASE_URL) for loc in locs)
    lastmods = {
        url.findtext(f"{SITEMAP}loc"): url.findtext(f"{SITEMAP}lastmod")
        for url in root.iter(f"{SITEMAP}url")
    }
    story = f"{base or ''}stories/concession-dispute/"
    assert lastmods[story] == "2023-01-15"


def test_robots_names_the_sitemap_only_when_it_can(full_site: Path, full_site_based: Path) -> None:
    assert (full_site / "robots.txt").read_text() == "User-agent: *\nDisallow:\n"
    assert (full_site_based / "robots.txt").read_text().splitlines()[-1] == (
        f"Sitemap: {BASE_URL}sitemap.xml"
    )


def test_pages_link_their_feeds(full_site: Path) -> None:
    for path, page in load_site(full_site).items():
        feeds = [
            resolve(path, link.get("href"))
            for link in page.find_all("link")
            if link.get("rel") == "alternate" and link.get("type") == "application/atom+xml"
        ]
        own = [f"stories/{s}/feed.xml" for s in STORIES if path == f"stories/{s}/index.html"]
        assert feeds == ["feed.xml", *own], path


def test_the_site_feed_carries_the_newest_stories_only(tmp_path: Path) -> None:
    files = {"site.yaml": "title: Desk\n"}
    for n in range(FEED_STORIES + 5):
        day = f"2022-{n // 28 + 1:02d}-{n % 28 + 1:02d}"
        files[f"stories/story-{n}.md"] = f"---\ntitle: Story {n}\ndate: {day}\n---\nText {n}.\n"
    content = write_content(tmp_path / "content", files)
    assert build(Options(content=content, out=tmp_path / "site")).written
    feed = parse_feed(tmp_path / "site", "feed.xml")
    titles = [entry.title for entry in feed.entries]
    assert titles == [f"Story {n}" for n in range(FEED_STORIES + 4, 4, -1)]


def _tree() -> ET.Element:
    xml_ns = "{http://www.w3.org/XML/1998/namespace}"
    root = ET.Element("feed", {"xmlns": "urn:x", f"{xml_ns}lang": "en"})
    ET.SubElement(root, "id").text = "a & b < c > d \"e\" 'f'"
    ET.SubElement(root, "empty")
    ET.SubElement(root, "blank").text = ""
    ET.SubElement(root, "spaces").text = "  "
    entry = ET.SubElement(root, "entry", {f"{xml_ns}base": 'x/"y"\r\n\t&<>', "type": "html"})
    ET.SubElement(entry, "content").text = "<p>line\r\nnext\ttab</p> ü 🙂"
    deeper = ET.SubElement(entry, "author")
    ET.SubElement(deeper, "name").text = "N"
    ET.SubElement(deeper, "uri")
    texted = ET.SubElement(root, "mixed")
    texted.text = "kept"
    ET.SubElement(texted, "child").tail = "tail kept"
    ET.SubElement(texted, "child2").tail = " \n "
    whitespace = ET.SubElement(root, "white")
    whitespace.text = "\n"
    ET.SubElement(whitespace, "c")
    return root


def test_feed_xml_is_written_as_elementtree_writes_it() -> None:
    """The one-pass writer gives ElementTree's bytes after ET.indent, declaration included."""
    from generator.feeds import _xml

    expected_root = _tree()
    ET.indent(expected_root)
    expected = ET.tostring(expected_root, encoding="utf-8", xml_declaration=True) + b"\n"
    assert _xml(_tree()) == expected
    assert _xml(ET.Element("urlset")) == b"<?xml version='1.0' encoding='utf-8'?>\n<urlset />\n"
