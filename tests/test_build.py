"""End-to-end: build the full fixture (and the shipped example) and check the site it makes.

The full fixture (tests/fixtures/full/content) is a fictional copper-mine concession dispute
that uses every kind and rule of SPEC §2. Three rules are applied to a copy at test time so
that no editor or git setting can undo them: actors/kestria.yaml gets a BOM and CRLF line
ends, and actors/tomas-reyes.yaml is written in NFD. One build per variant is shared by the
whole module.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from sitecheck import (
    Element,
    Page,
    link_problems,
    load_site,
    page_problems,
    parse_page,
    record_id,
    site_problems,
    unreachable,
)

from generator import cli
from generator.pipeline import Options, build, load

TESTS = Path(__file__).resolve().parent
FIXTURE = TESTS / "fixtures" / "full" / "content"
SHIPPED = TESTS.parent / "content"
BASE_URL = "https://example.org/fixture/"

RECORDS = {
    "stories": ["blockade-on-mine-road", "concession-dispute"],
    "actors": [
        "elena-marsh",
        "kestrel-copper",
        "kestria",
        "kestria-foreign-ministry",
        "norvalia",
        "norvalia-foreign-ministry",
        "norvalia-mining-ministry",
        "the-courier",
        "tomas-reyes",
        "valley-farmers-union",
    ],
    "deposits": ["cerro-alto", "cerro-bajo"],
    "places": ["alto-province", "alto-valley", "mine-road", "puerto-alto", "san-isidro"],
    "events": [
        "blockade-of-mine-road",
        "concession-granted",
        "concession-review-announced",
        "december-talks",
        "kestrel-suspends-operations",
        "minister-visits-mine",
        "press-conference",
        "talks-in-capital",
        "union-files-complaint",
    ],
    "notes": ["kestria-note-to-norvalia", "norvalia-reply-to-kestria"],
    "quotes": [
        "quote-marsh-no",
        "quote-reyes-contract",
        "quote-union-blockade",
        "quote-union-statement",
    ],
    "sources": ["courier-blockade-report", "ministry-statement"],
}
DRAFT = "ministers-plan"
PAGES = sorted(
    [
        "index.html",
        "404.html",
        "chronology/index.html",
        *(f"{kind}/index.html" for kind in RECORDS),
        *(f"{kind}/{ident}/index.html" for kind, ids in RECORDS.items() for ident in ids),
    ]
)
DRAFT_PAGE = f"stories/{DRAFT}/index.html"


# --- building ------------------------------------------------------------------------------


def prepare_content(destination: Path) -> Path:
    """A copy of the full fixture with the encoding rules applied (BOM, CRLF, NFD)."""
    content = destination / "content"
    shutil.copytree(FIXTURE, content)
    kestria = content / "actors" / "kestria.yaml"
    kestria.write_bytes(b"\xef\xbb\xbf" + kestria.read_bytes().replace(b"\n", b"\r\n"))
    reyes = content / "actors" / "tomas-reyes.yaml"
    reyes.write_bytes(unicodedata.normalize("NFD", reyes.read_text("utf-8")).encode("utf-8"))
    return content


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class Built:
    def __init__(self, folder: Path, stderr: str = "") -> None:
        self.folder = folder
        self.stderr = stderr
        self.pages = load_site(folder)

    def __getitem__(self, path: str) -> Page:
        return self.pages[path]

    def sheet(self, kind: str, ident: str) -> Page:
        return self.pages[f"{kind}/{ident}/index.html"]


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_content(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def site(content: Path) -> Built:
    """The fixture built by the command line, without drafts or base URL."""
    out = content.parent / "site"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = cli.main(["build", "--content", str(content), "--out", str(out), "--quiet"])
    assert status == 0, stderr.getvalue()
    return Built(out, stderr.getvalue())


@pytest.fixture(scope="module")
def drafts_site(content: Path) -> Built:
    """The fixture built through the pipeline, with drafts and a base URL."""
    out = content.parent / "site-drafts"
    result = build(Options(content=content, out=out, drafts=True, base_url=BASE_URL))
    assert result.written, [d.format() for d in result.diagnostics]
    return Built(out)


# --- helpers that read the pages -----------------------------------------------------------


def entries(page: Page, section: Element) -> list[tuple[str, str, str]]:
    """(kind, id, date as shown) of each item of a chronology or timeline."""
    found = []
    for item in section.find_all("li", class_="entry"):
        what = item.one("div", class_="what")
        href = what.one("a").get("href")
        found.append(
            (
                what.one("span", class_="kind").text,
                record_id(page.path, href),
                item.one("time").text,
            )
        )
    return found


def facts(page: Page) -> dict[str, list[tuple[str, str | None]]]:
    """The sheet's definition list: label -> [(text, id linked to or None)]."""
    dl = page.by_id("facts").one("dl")
    result: dict[str, list[tuple[str, str | None]]] = {}
    label = ""
    for element in dl.find_all():
        if element.tag == "dt":
            label = element.text
            result.setdefault(label, [])  # a label listed twice shows as one longer list
        elif element.tag == "dd":
            link = element.find("a")
            href = link.get("href") if link is not None else ""
            target = record_id(page.path, href) if href and "://" not in href else None
            result[label].append((element.text, target))
    return result


def backlinks(page: Page) -> dict[str, list[str]]:
    """The typed backlink groups, in page order: label -> ids, in page order."""
    groups: dict[str, list[str]] = {}
    try:
        section = page.by_id("backlinks")
    except KeyError:
        return groups
    label = ""
    for element in section.find_all():
        if element.tag == "h3":
            label = element.text
            groups[label] = []
        elif element.tag == "a" and label:
            groups[label].append(record_id(page.path, element.get("href")))
    return groups


def factbox(page: Page) -> dict[str, list[tuple[str, str]]]:
    """The story's fact box: label -> [(name shown, id linked to)]."""
    result: dict[str, list[tuple[str, str]]] = {}
    label = ""
    for element in page.by_id("facts").one("dl").find_all():
        if element.tag == "dt":
            label = element.text
            result[label] = []
        elif element.tag == "a":
            result[label].append((element.text, record_id(page.path, element.get("href"))))
    return result


def link_texts(page: Page, element: Element) -> list[tuple[str, str]]:
    return [(a.text, record_id(page.path, a.get("href"))) for a in element.find_all("a")]


def main_text(page: Page) -> str:
    return page.one("main").text


# --- the build itself ------------------------------------------------------------------------


def test_cli_build_reports_only_the_bom_warning(site: Built) -> None:
    lines = site.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("content/actors/kestria.yaml:1:1: warning[W0101]: ")


def test_every_page_exists_and_no_record_page_is_extra(site: Built) -> None:
    assert set(PAGES) <= set(site.pages)
    record_pages = {p for p in site.pages if p.count("/") == 2 and p.endswith("/index.html")}
    assert record_pages == {p for p in PAGES if p.count("/") == 2}
    assert (site.folder / "assets" / "style.css").is_file()
    assert (site.folder / ".factsheet-site").is_file()


@pytest.mark.parametrize("path", PAGES)
def test_page_follows_the_rules(site: Built, path: str) -> None:
    assert page_problems(site[path]) == []


@pytest.mark.parametrize("path", list([*PAGES, DRAFT_PAGE]))
def test_page_follows_the_rules_with_drafts_and_base_url(drafts_site: Built, path: str) -> None:
    assert page_problems(drafts_site[path]) == []


@pytest.mark.parametrize("variant", ["site", "drafts_site"])
def test_links_resolve_and_are_relative(variant: str, request: pytest.FixtureRequest) -> None:
    built: Built = request.getfixturevalue(variant)
    assert link_problems(built.folder, built.pages) == []


@pytest.mark.parametrize("variant", ["site", "drafts_site"])
def test_every_page_is_reachable_from_home(variant: str, request: pytest.FixtureRequest) -> None:
    built: Built = request.getfixturevalue(variant)
    assert unreachable(built.pages) == set()


def test_other_files_are_ignored_and_the_story_image_is_copied(site: Built) -> None:
    story = site.folder / "stories" / "concession-dispute"
    image = (story / "locator.png").read_bytes()
    assert image == (FIXTURE / "stories" / "concession-dispute" / "locator.png").read_bytes()
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in story.iterdir()) == ["feed.xml", "index.html", "locator.png"]
    names = {p.name for p in site.folder.rglob("*")}
    assert not names & {"README.txt", "notes.txt", "site.yaml"}
    img = site["stories/concession-dispute/index.html"].one("img")
    assert (img.get("src"), img.get("alt")) == ("locator.png", "Locator sketch of Cerro Alto")


# --- the story page --------------------------------------------------------------------------


def test_story_header(site: Built) -> None:
    page = site["stories/concession-dispute/index.html"]
    h1 = page.one("h1")
    assert h1.text == "Norvalia reviews the Cerro Alto copper concession"
    meta = page.one("p", class_="meta")
    assert meta.text == (
        "PUERTO ALTO · Published 14 December 2022 · Updated 15 January 2023 "
        "· By Test Desk, A. N. Editor"
    )
    assert [t.get("datetime") for t in meta.find_all("time")] == ["2022-12-14", "2023-01-15"]
    lede = page.one("p", class_="lede")
    assert link_texts(page, lede) == [
        ("Norvalia", "norvalia"),
        ("the Cerro Alto mine", "cerro-alto"),
        ("Kestria", "kestria"),
    ]
    title = page.one("title")
    assert title.text == (
        "Norvalia reviews the Cerro Alto copper concession · Cerro Alto concession: test fixture"
    )


def test_story_fact_box_lists_actors_deposits_and_places(site: Built) -> None:
    page = site["stories/concession-dispute/index.html"]
    box = factbox(page)
    assert {label: sorted(i for _, i in links) for label, links in box.items()} == {
        "Actors": [
            "elena-marsh",  # the story's list
            "kestrel-copper",  # the story's list and body
            "kestria",  # the summary, and the note's sender
            "kestria-foreign-ministry",  # delivered the note; took part in the talks
            "norvalia",  # the body
            "norvalia-foreign-ministry",  # took part in the talks
            "norvalia-mining-ministry",  # took part in the granting
            "tomas-reyes",  # said a quote of the story
            "valley-farmers-union",  # organised the blockade
        ],
        "Deposits": ["cerro-alto"],  # not cerro-bajo: nothing of the story names it
        "Places": ["alto-province", "mine-road", "puerto-alto", "san-isidro"],
    }
    assert list(box) == ["Actors", "Deposits", "Places"]
    for links in box.values():
        names = [name for name, _ in links]
        assert names == sorted(names, key=str.casefold)


def test_story_chronology_in_the_contract_order(site: Built) -> None:
    page = site["stories/concession-dispute/index.html"]
    section = page.by_id("chronology")
    assert section.tag == "section"
    assert entries(page, section) == [
        ("event", "concession-granted", "2019"),  # `date: 2019` unquoted
        ("event", "concession-review-announced", "November 2022"),
        ("event", "kestrel-suspends-operations", "28 November – 2 December 2022"),
        # Same start instant: the day before the (approximate) month.
        ("event", "union-files-complaint", "1 December 2022"),  # a body link
        ("event", "december-talks", "c. December 2022"),
        ("note", "kestria-note-to-norvalia", "5 December 2022"),  # the story's list
        ("note", "norvalia-reply-to-kestria", "9 December 2022"),  # the note's `stories`
        ("event", "blockade-of-mine-road", "10–13 December 2022"),
        # No date: it takes the date of the event it was said at; the tie goes to the id.
        ("quote", "quote-union-blockade", "10 December 2022"),
        # Same day: `order` 1, 2, 3 (the ids alone would sort them the other way).
        ("event", "talks-in-capital", "12 December 2022"),
        ("event", "press-conference", "12 December 2022"),
        ("quote", "quote-reyes-contract", "12 December 2022"),
        ("event", "minister-visits-mine", "12 December 2022, 09:30 (UTC−05:00)"),
        ("quote", "quote-marsh-no", "12 December 2022, 10:15 (UTC−05:00)"),
        ("story", "concession-dispute", "14 December 2022"),
    ]
    approximate = [t.text for t in section.find_all("time", class_="approximate")]
    assert approximate == ["c. December 2022"]
    current = section.find_all("li", class_="current")
    assert len(current) == 1 and current[0].one("a").get("aria-current") == "page"


def test_story_chronology_items_link_their_sources(site: Built) -> None:
    page = site["stories/concession-dispute/index.html"]
    for item in page.by_id("chronology").find_all("li", class_="entry"):
        cited = item.find("p", class_="cited")
        assert cited is not None, item
        for a in cited.find_all("a"):
            assert page.resolve(a.get("href")).startswith("sources/")
    last = page.by_id("chronology").find_all("li", class_="entry")[-1]
    assert [text for text, _ in link_texts(page, last.one("p", class_="cited"))] == [
        "The Courier: Farmers block the road to Cerro Alto",
        "Ministry of Mines statement on the Cerro Alto review",
    ]


def test_story_chronology_orders_by_instant_in_the_site_time_zone(site: Built) -> None:
    # 2022-12-12T03:00Z is 11 December, 22:00 in Lima (the site's zone): before any item
    # of 12 December, although its own date reads 12 December.
    page = site["stories/blockade-on-mine-road/index.html"]
    assert entries(page, page.by_id("chronology")) == [
        ("event", "blockade-of-mine-road", "10–13 December 2022"),
        ("quote", "quote-union-blockade", "10 December 2022"),
        ("quote", "quote-union-statement", "12 December 2022, 03:00 (UTC)"),
        ("event", "minister-visits-mine", "12 December 2022, 09:30 (UTC−05:00)"),
        ("story", "blockade-on-mine-road", "13 December 2022, 18:00 (UTC−05:00)"),
    ]


def test_story_body_links_and_markdown(site: Built) -> None:
    page = site["stories/concession-dispute/index.html"]
    body = page.one("div", class_="body")
    assert link_texts(page, body.one("p"))[:3] == [
        ("Norvalia", "norvalia"),  # [[id]]: the display name
        ("Kestrel Copper", "kestrel-copper"),
        ("Cerro Alto copper mine", "cerro-alto"),  # [[id|text]]: the editor's text
    ]
    # The link to the draft is plain text when drafts are left out.
    missing = body.find_all("span", class_="xref-missing")
    assert [s.text for s in missing] == ["a later story"]
    assert "Editors write [[cerro-alto]] to link a record; <b>raw HTML</b> is shown" in body.text
    assert body.find_all("b") == []
    headings = [(h.tag, h.get("id"), h.text) for h in body.find_all("h2")]
    assert headings[0] == ("h2", "background", "Background")
    assert headings[1][2] == "Sources" and headings[1][1] not in ("sources", "chronology")
    assert body.find("table") is not None
    footnote_ref = body.one("a", class_="footnote-ref")
    assert footnote_ref.get("href").startswith("#")


def test_story_sources_with_citation_details(site: Built) -> None:
    page = site["stories/concession-dispute/index.html"]
    items = page.by_id("sources").find_all("li")
    assert [record_id(page.path, i.one("a").get("href")) for i in items] == [
        "courier-blockade-report",
        "ministry-statement",
    ]
    # The publisher as an actor's name, and as the free text written.
    assert ", The Courier, 13 December 2022" in items[0].text
    second = items[1].text
    assert ", Norvalian Ministry of Mines press office, 12 December 2022 (1:30)" in second
    assert "(accessed 15 December 2022)" in second
    quote = items[1].one("blockquote")
    assert quote.text == "the concession will be reviewed in full"
    tags = page.one("ul", class_="tags")
    assert [li.text for li in tags.find_all("li")] == [
        "mining",
        "concession",
        "diplomacy",
    ]


# --- record sheets ---------------------------------------------------------------------------


def test_state_sheet(site: Built) -> None:
    page = site.sheet("actors", "norvalia")
    assert facts(page) == {
        "Kind": [("actor", None)],
        "Type": [("state", None)],
        "Facts checked": [("15 January 2023", None)],
    }
    aliases = page.one("p", class_="aliases")
    assert [s.text for s in aliases.find_all("span")] == [
        "Republic of Norvalia",
        "Norvalian Republic",
    ]
    groups = backlinks(page)
    assert list(groups) == [
        "Stories",
        "Actors of this state",
        "Parts",
        "Controls",
        "Notes sent",
        "Notes received",
        "Mentioned in deposits",
        "Mentioned in places",
        "Mentioned in notes",
    ]
    assert {label: sorted(ids) for label, ids in groups.items()} == {
        "Actors of this state": [
            "elena-marsh",
            "norvalia-foreign-ministry",
            "norvalia-mining-ministry",
            "the-courier",
            "valley-farmers-union",
        ],
        "Parts": ["norvalia-foreign-ministry", "norvalia-mining-ministry"],
        "Controls": ["cerro-alto", "cerro-bajo"],
        "Notes sent": ["norvalia-reply-to-kestria"],
        "Notes received": ["kestria-note-to-norvalia"],
        "Stories": ["concession-dispute"],
        "Mentioned in deposits": ["cerro-alto"],
        "Mentioned in places": ["alto-province"],
        "Mentioned in notes": ["kestria-note-to-norvalia"],
    }
    # Within a group, by the name shown ("Alto Valley Farmers' Union" first).
    assert groups["Actors of this state"] == [
        "valley-farmers-union",
        "elena-marsh",
        "norvalia-foreign-ministry",
        "norvalia-mining-ministry",
        "the-courier",
    ]
    assert entries(page, page.by_id("timeline")) == [
        ("note", "kestria-note-to-norvalia", "5 December 2022"),
        ("note", "norvalia-reply-to-kestria", "9 December 2022"),
        ("story", "concession-dispute", "14 December 2022"),
    ]
    sources = page.by_id("sources")
    assert sources.one("h2").text == "Sources cited"
    cited = [record_id(page.path, li.one("a").get("href")) for li in sources.find_all("li")]
    assert cited == ["ministry-statement"]


def test_person_sheet(site: Built) -> None:
    page = site.sheet("actors", "elena-marsh")
    assert facts(page) == {
        "Kind": [("actor", None)],
        "Type": [("person", None)],
        "Country": [("Norvalia", "norvalia")],
        "Roles": [
            (
                "Minister of Mines (Ministry of Mines of Norvalia, March 2021 – January 2023)",
                "norvalia-mining-ministry",
            ),
            ("Member of Parliament", None),
        ],
        "Facts checked": [("15 January 2023", None)],
    }
    aliases = page.one("p", class_="aliases")
    assert [(s.get("lang"), s.text) for s in aliases.find_all("span") if s.get("lang")] == [
        ("es", "Elena Marsch"),
        ("ru", "Елена Марш"),
        ("ru", "Э. Марш"),
    ]
    groups = backlinks(page)
    assert sorted(groups["Quotes"]) == ["quote-marsh-no"]
    assert sorted(groups["Took part in"]) == [
        "concession-review-announced",
        "minister-visits-mine",
        "press-conference",
    ]
    assert groups["Stories"] == ["concession-dispute"]
    assert entries(page, page.by_id("timeline")) == [
        ("event", "concession-review-announced", "November 2022"),
        ("event", "press-conference", "12 December 2022"),
        ("event", "minister-visits-mine", "12 December 2022, 09:30 (UTC−05:00)"),
        ("quote", "quote-marsh-no", "12 December 2022, 10:15 (UTC−05:00)"),
        ("story", "concession-dispute", "14 December 2022"),
    ]
    cited = page.by_id("sources").one("li")
    assert "(1:30)" in cited.text  # `page: 1:30` unquoted stays text


def test_organisation_sheets_get_roles_operators_and_publishers(site: Built) -> None:
    assert backlinks(site.sheet("actors", "norvalia-mining-ministry"))["People"] == ["elena-marsh"]
    company = backlinks(site.sheet("actors", "kestrel-copper"))
    assert company["People"] == ["tomas-reyes"]
    assert company["Deposits operated"] == ["cerro-alto"]
    assert company["Controls"] == ["cerro-alto"]
    assert backlinks(site.sheet("actors", "norvalia-foreign-ministry"))["Notes delivered"] == [
        "norvalia-reply-to-kestria"
    ]
    assert backlinks(site.sheet("actors", "the-courier"))["Sources published"] == [
        "courier-blockade-report"
    ]
    kestria = backlinks(site.sheet("actors", "kestria"))
    assert kestria["Notes sent"] == ["kestria-note-to-norvalia"]
    assert kestria["Notes received"] == ["norvalia-reply-to-kestria"]
    assert sorted(kestria["Actors of this state"]) == [
        "kestrel-copper",
        "kestria-foreign-ministry",
        "tomas-reyes",
    ]


def test_bom_crlf_and_nfd_files_are_read(site: Built, content: Path) -> None:
    assert (content / "actors" / "kestria.yaml").read_bytes().startswith(b"\xef\xbb\xbf")
    assert "a\u0301" in (content / "actors" / "tomas-reyes.yaml").read_text("utf-8")
    kestria = site.sheet("actors", "kestria")
    aliases = kestria.one("p", class_="aliases")
    assert [(s.get("lang"), s.text) for s in aliases.find_all("span") if s.get("lang")] == [
        ("es", "Kestria"),
        ("de", "Kestrien"),
        ("de", "Republik Kestrien"),
    ]
    reyes = site.sheet("actors", "tomas-reyes")
    assert reyes.one("h1").text == "Tomás Reyes" == unicodedata.normalize("NFC", "Tomás Reyes")
    for path, data in tree(site.folder).items():
        if path.endswith(".html"):
            text = data.decode("utf-8")
            assert "\r" not in text and "\ufeff" not in text, path
            assert text == unicodedata.normalize("NFC", text), path


def test_deposit_sheet(site: Built) -> None:
    page = site.sheet("deposits", "cerro-alto")
    assert facts(page) == {
        "Kind": [("deposit", None)],
        "Minerals": [("copper", None), ("molybdenum", None)],
        "Place": [("Alto valley", "alto-valley")],
        "Coordinates": [("13.5200° S, 72.1000° W", None)],
        "Status": [("disputed", None)],
        "Operator": [("Kestrel Copper", "kestrel-copper")],
        "Controlled by": [
            ("Norvalia (from 2019)", "norvalia"),
            ("Kestrel Copper (June 2020 – November 2022)", "kestrel-copper"),
        ],
        "Facts checked": [("15 January 2023", None)],
    }
    aliases = page.one("p", class_="aliases")
    assert [(s.get("lang"), s.text) for s in aliases.find_all("span") if s.get("lang")] == [
        ("es", "Cerro Alto"),
        ("qu", "Hatun Urqu"),
        ("en", "High Hill mine"),
    ]
    body = page.one("div", class_="body")
    assert "Write [[cerro-alto]] in Markdown to link here." in body.text
    assert '<script>alert("no")</script> stays text.' in body.text
    assert link_texts(page, body) == [("granted in 2019", "concession-granted")]
    first, second = page.by_id("sources").find_all("li")
    assert "(017)" in first.text  # `page: 017` stays the text typed
    assert "(accessed 15 December 2022)" in first.text
    assert first.one("blockquote").text == "the mine road was closed for four days"
    assert record_id(page.path, second.one("a").get("href")) == "ministry-statement"
    groups = backlinks(page)
    assert groups["Quoted on"] == ["quote-marsh-no"]
    assert groups["Stories"] == ["concession-dispute"]
    assert sorted(groups["Events"]) == [
        "blockade-of-mine-road",
        "concession-granted",
        "concession-review-announced",
        "december-talks",
        "kestrel-suspends-operations",
        "minister-visits-mine",
        "union-files-complaint",
    ]


def test_deposit_locator_map(site: Built) -> None:
    page = site.sheet("deposits", "cerro-alto")
    figure = page.one("figure", class_="locator")
    svg = figure.one("svg")
    # A group, not an image: its pins and roads are links a keyboard and a screen reader reach.
    assert (svg.get("role"), svg.get("aria-labelledby")) == ("group", "map-title")
    description = (
        "Locator map of Cerro Alto. Nearby: Mine road, 3 km north-east; San Isidro, 7 km "
        "north-east; Alto Province, 11 km east; Cerro Bajo, 12 km south-east; Puerto Alto, "
        "29 km south-east."
    )
    assert svg.one("title").text == description
    assert figure.one("figcaption").one("p").text == f"{description} North is up."
    legend = [li.text for li in figure.one("ul", class_="legend").find_all("li")]
    assert legend == ["Cerro Alto (this deposit)", "Deposit", "Place", "Road, corridor or border"]
    pins = [
        (a.one("text").text, record_id(page.path, a.get("href")))
        for a in svg.find_all("a", class_="point")
    ]
    assert pins[0] == ("Cerro Alto", "cerro-alto")
    assert sorted(pins[1:]) == [
        ("Alto Province", "alto-province"),
        ("Cerro Bajo", "cerro-bajo"),
        ("Puerto Alto", "puerto-alto"),
        ("San Isidro", "san-isidro"),
    ]
    roads = [
        (a.one("text").text, record_id(page.path, a.get("href")))
        for a in svg.find_all("a", class_="line")
    ]
    assert roads == [("Mine road", "mine-road")]  # drawn as a line, labelled and linked
    assert len(svg.find_all("polyline", class_="road")) == 1


def test_place_sheets(site: Built) -> None:
    valley = site.sheet("places", "alto-valley")
    assert valley.find("svg") is None and valley.find("figure") is None
    assert facts(valley)["Within"] == [("Alto Province", "alto-province")]
    assert sorted(backlinks(valley)["Deposits"]) == ["cerro-alto", "cerro-bajo"]
    road = site.sheet("places", "mine-road")
    assert facts(road)["Path"] == [
        ("a line of 3 points, from 13.4800° S, 72.0500° W to 13.5200° S, 72.1000° W", None)
    ]
    line = road.one("polyline", class_="road")
    assert line.has("current")
    province = backlinks(site.sheet("places", "alto-province"))
    assert sorted(province["Places"]) == ["alto-valley", "mine-road", "puerto-alto", "san-isidro"]


def test_source_sheets_publisher_as_actor_and_as_text(site: Built) -> None:
    courier = facts(site.sheet("sources", "courier-blockade-report"))
    assert courier["Publisher"] == [("The Courier", "the-courier")]
    assert courier["Published"] == [("13 December 2022", None)]
    assert courier["Language"] == [("en", None)]
    statement = facts(site.sheet("sources", "ministry-statement"))
    assert statement["Publisher"] == [("Norvalian Ministry of Mines press office", None)]
    assert statement["Language"] == [("es", None)]
    groups = backlinks(site.sheet("sources", "courier-blockade-report"))
    assert groups["Cited by stories"] == ["blockade-on-mine-road", "concession-dispute"]
    assert groups["Cited by deposits"] == ["cerro-alto"]
    assert groups["Cited by quotes"] == [
        "quote-reyes-contract",
        "quote-union-blockade",
        "quote-union-statement",
    ]


def test_note_sheets(site: Built) -> None:
    note = site.sheet("notes", "kestria-note-to-norvalia")
    assert facts(note) == {
        "Kind": [("note", None)],
        "Date": [("5 December 2022", None)],
        "From": [("Kestria", "kestria")],
        "To": [("Norvalia", "norvalia")],
        "Subject": [("The review of the Cerro Alto concession", None)],
        "Delivered by": [("Ministry of Foreign Affairs of Kestria", "kestria-foreign-ministry")],
        "Status": [("delivered", None)],
    }
    assert backlinks(note)["Replies"] == ["norvalia-reply-to-kestria"]
    reply = facts(site.sheet("notes", "norvalia-reply-to-kestria"))
    assert reply["In response to"] == [
        ("Kestria's note on the concession review", "kestria-note-to-norvalia")
    ]
    assert reply["Delivered by"] == [
        ("Ministry of Foreign Affairs of Norvalia", "norvalia-foreign-ministry")
    ]


def test_quote_sheets(site: Built) -> None:
    page = site.sheet("quotes", "quote-marsh-no")
    assert page.one("h1").text == "“no”"
    assert page.one("blockquote", class_="quote").text == "no"
    assert facts(page) == {
        "Kind": [("quote", None)],
        "By": [("Elena Marsh", "elena-marsh")],
        "Date": [("12 December 2022, 10:15 (UTC−05:00)", None)],
        "Said at": [("Press conference of the minister of mines", "press-conference")],
        "About": [("Cerro Alto", "cerro-alto"), ("Kestrel Copper", "kestrel-copper")],
    }
    assert backlinks(site.sheet("events", "press-conference"))["Quotes"] == ["quote-marsh-no"]
    assert backlinks(site.sheet("events", "concession-granted"))["Quoted on"] == [
        "quote-reyes-contract"
    ]


def test_event_sheet_facts(site: Built) -> None:
    granted = facts(site.sheet("events", "concession-granted"))
    assert granted["Title"] == [
        ("Norvalia grants Kestrel Copper a 30-year concession at Cerro Alto", None)
    ]
    assert granted["Actors"] == [
        ("Ministry of Mines of Norvalia", "norvalia-mining-ministry"),
        ("Kestrel Copper (concessionaire)", "kestrel-copper"),
    ]
    assert granted["Deposits"] == [("Cerro Alto", "cerro-alto")]


def test_event_sheet_shows_its_date_once_as_a_range(site: Built) -> None:
    blockade = facts(site.sheet("events", "blockade-of-mine-road"))
    assert blockade["Date"] == [("10–13 December 2022", None)]


def test_item_sheet_lists_the_stories_it_belongs_to(site: Built) -> None:
    blockade = backlinks(site.sheet("events", "blockade-of-mine-road"))
    assert sorted(blockade.get("Stories", [])) == ["blockade-on-mine-road", "concession-dispute"]


def test_quote_without_date_shows_the_date_of_its_event(site: Built) -> None:
    quote = facts(site.sheet("quotes", "quote-union-blockade"))
    assert quote.get("Date") == [("10 December 2022 (the date of the event it was said at)", None)]


# --- home, indexes, chronology ---------------------------------------------------------------


def test_home_page(site: Built) -> None:
    page = site["index.html"]
    cards = page.find_all("li", class_="card")
    assert [record_id(page.path, c.one("a").get("href")) for c in cards] == [
        "concession-dispute",  # 14 December, newest first
        "blockade-on-mine-road",
    ]
    assert cards[1].one("p", class_="meta").text == (
        "SAN ISIDRO · 13 December 2022, 18:00 (UTC−05:00)"
    )
    counts = page.one("ul", class_="counts")
    assert [li.text for li in counts.find_all("li")] == [
        "Stories 2",
        "Actors 10",
        "Deposits 2",
        "Places 5",
        "Events 9",
        "Notes 2",
        "Quotes 4",
        "Sources 2",
    ]
    latest = entries(page, page.one("ol", class_="timeline"))
    assert [i for _, i, _ in latest][:2] == ["minister-visits-mine", "press-conference"]
    assert len(latest) == 9 and {k for k, _, _ in latest} == {"event"}
    assert "The whole chronology" in main_text(page)


def test_kind_indexes_list_every_record(site: Built) -> None:
    for kind, ids in RECORDS.items():
        page = site[f"{kind}/index.html"]
        rows = page.one("tbody").find_all("tr")
        listed = [record_id(page.path, r.one("th").one("a").get("href")) for r in rows]
        assert sorted(listed) == ids, kind
        assert page.one("caption").text == f"{len(ids)} records"


def test_events_index_in_date_order(site: Built) -> None:
    page = site["events/index.html"]
    rows = page.one("tbody").find_all("tr")
    dates = [r.find_all("td")[0].text for r in rows]
    assert dates[:3] == ["2019", "November 2022", "28 November – 2 December 2022"]


def test_chronology_page_groups_by_year_and_month(site: Built) -> None:
    page = site["chronology/index.html"]
    main = page.one("main")
    years = [s for s in main.find_all("section") if s.get("id") in ("y2019", "y2022")]
    structure = []
    for year in years:
        months = []
        for month in year.find_all("section"):
            months.append((month.one("h3").text, [i for _, i, _ in entries(page, month)]))
        structure.append((year.one("h2").text, months))
    assert structure == [
        ("2019", [("2019 (month not known)", ["concession-granted"])]),
        (
            "2022",
            [
                ("November 2022", ["concession-review-announced", "kestrel-suspends-operations"]),
                (
                    "December 2022",
                    [
                        "union-files-complaint",
                        "december-talks",
                        "kestria-note-to-norvalia",
                        "norvalia-reply-to-kestria",
                        "blockade-of-mine-road",
                        "quote-union-blockade",
                        "quote-union-statement",
                        "talks-in-capital",
                        "press-conference",
                        "quote-reyes-contract",
                        "minister-visits-mine",
                        "quote-marsh-no",
                        "blockade-on-mine-road",
                        "concession-dispute",
                    ],
                ),
            ],
        ),
    ]
    nav = page.one("nav", class_="years")
    assert [a.get("href") for a in nav.find_all("a")] == ["#y2019", "#y2022"]


def test_not_found_page(site: Built) -> None:
    page = site["404.html"]
    assert page.one("h1").text == "Page not found"
    assert [a.get("href") for a in page.find_all("a") if a.text == "home page"] == ["index.html"]


# --- drafts and base URL ---------------------------------------------------------------------


def test_drafts_are_absent_without_the_flag(site: Built) -> None:
    assert DRAFT_PAGE not in site.pages
    assert not (site.folder / "stories" / DRAFT).exists()
    for page in site.pages.values():
        for a in page.find_all("a"):
            assert DRAFT not in page.resolve(a.get("href")), page.path
        assert "The minister's plan for Cerro Alto" not in page.source, page.path
    assert "20 December 2022" not in site["chronology/index.html"].source


def test_drafts_are_present_with_the_flag(drafts_site: Built) -> None:
    page = drafts_site[DRAFT_PAGE]
    assert page.one("h1").text == "The minister's plan for Cerro Alto"
    assert entries(page, page.by_id("chronology")) == [
        ("event", "talks-in-capital", "12 December 2022"),  # the draft's list
        ("event", "press-conference", "12 December 2022"),  # the event's `stories`
        ("story", DRAFT, "20 December 2022"),
    ]
    home = drafts_site["index.html"]
    cards = home.find_all("li", class_="card")
    assert [record_id(home.path, c.one("a").get("href")) for c in cards] == [
        DRAFT,
        "concession-dispute",
        "blockade-on-mine-road",
    ]
    story = drafts_site["stories/concession-dispute/index.html"]
    body = story.one("div", class_="body")
    assert body.find_all("span", class_="xref-missing") == []
    assert ("a later story", DRAFT) in link_texts(story, body)
    chronology = drafts_site["chronology/index.html"]
    assert ("story", DRAFT, "20 December 2022") in entries(chronology, chronology.root)


def test_no_canonical_link_without_a_base_url(site: Built) -> None:
    for page in site.pages.values():
        assert not [link for link in page.find_all("link") if link.get("rel") == "canonical"]


def test_base_url_adds_a_canonical_link_to_every_page(drafts_site: Built) -> None:
    for path, page in drafts_site.pages.items():
        canonical = [
            link.get("href") for link in page.find_all("link") if link.get("rel") == "canonical"
        ]
        expected = BASE_URL + path.removesuffix("index.html")
        assert canonical == [expected], path


# --- determinism -----------------------------------------------------------------------------


def test_two_builds_are_byte_identical(site: Built, content: Path, tmp_path: Path) -> None:
    again = tmp_path / "elsewhere" / "another-name"
    result = build(Options(content=content, out=again))
    assert result.written and not result.failed
    assert result.pages == len(list(again.rglob("*.html"))) >= len(PAGES)
    assert result.records == sum(len(ids) for ids in RECORDS.values())
    assert tree(again) == tree(site.folder)


def test_builds_with_another_hash_seed_are_byte_identical(
    site: Built, content: Path, tmp_path: Path
) -> None:
    out = tmp_path / "seeded"
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    paths = ["--content", str(content), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "generator.cli", "build", "--quiet", *paths],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, second = tree(site.folder), tree(out)
    assert sorted(first) == sorted(second)
    assert [p for p in first if first[p] != second[p]] == []


# --- the parsed model: what templates get that the page does not show ------------------------


def test_yaml_values_stay_as_typed_and_extra_passes_through(content: Path) -> None:
    corpus, _, diagnostics = load(Options(content=content))
    assert corpus is not None
    assert [d.code for d in diagnostics] == ["W0101"]
    assert corpus.site.extra == {"fixture": "full"}
    assert corpus["elena-marsh"].get("extra") == {"portrait": "none"}
    assert corpus["concession-dispute"].get("extra") == {"desk": "test"}
    assert corpus["quote-marsh-no"].get("text") == "no"
    citation = corpus["cerro-alto"].get("sources")[0]
    assert (citation.page, citation.quote) == ("017", "the mine road was closed for four days")
    assert corpus["elena-marsh"].get("sources")[0].page == "1:30"
    assert corpus["concession-granted"].date.iso() == "2019"
    assert DRAFT not in corpus


# --- the shipped example ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("shipped") / "site"
    result = build(Options(content=SHIPPED, out=out))
    assert result.written, [d.format() for d in result.diagnostics]
    return Built(out)


def test_shipped_example_passes_every_page_and_link_check(shipped: Built) -> None:
    assert site_problems(shipped.folder) == []
    assert {"index.html", "404.html", "chronology/index.html"} <= set(shipped.pages)
    assert "stories/baku-demands-halt-to-mining/index.html" in shipped.pages


def test_shipped_story_chronology_section(shipped: Built) -> None:
    page = shipped["stories/baku-demands-halt-to-mining/index.html"]
    found = entries(page, page.by_id("chronology"))
    assert found[0] == ("event", "defence-ministry-raises-mining-issue", "c. December 2022")
    assert ("note", "azerbaijan-note-to-russia", "11 December 2022") in found
    assert ("story", "baku-demands-halt-to-mining", "13 December 2022") in found


# --- the other outputs of SPEC §3 ----------------------------------------------------------

SPEC_OUTPUTS = [
    "data/actors/norvalia.json",
    "data/graph.json",
    "feed.xml",
    "sitemap.xml",
    "robots.txt",
]


@pytest.mark.parametrize("path", SPEC_OUTPUTS)
def test_spec_output_exists(site: Built, path: str) -> None:
    assert (site.folder / path).is_file()


def test_every_page_carries_json_ld(site: Built) -> None:
    for page in site.pages.values():
        blocks = [s for s in page.find_all("script") if s.get("type") == "application/ld+json"]
        assert blocks, page.path
        for block in blocks:
            data = json.loads(block.raw_text)
            assert "schema.org" in json.dumps(data.get("@context", "")), page.path


# --- a site outside the fixture --------------------------------------------------------------


def test_kind_index_orders_dates_before_1970(tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "events").mkdir(parents=True)
    (content / "stories").mkdir()
    (content / "site.yaml").write_text("title: Old concessions\n")
    for year in (1950, 1960, 1980):
        (content / "events" / f"e-{year}.yaml").write_text(
            f"name: Concession of {year}\ndate: {year}-05-01\nstories: [s]\n"
        )
    (content / "stories" / "s.md").write_text("---\ntitle: S\ndate: 2000-01-01\n---\nBody.\n")
    assert build(Options(content=content, out=tmp_path / "site")).written
    page = parse_page(
        "events/index.html", (tmp_path / "site" / "events" / "index.html").read_text()
    )
    rows = page.one("tbody").find_all("tr")
    assert [r.one("th").text for r in rows] == [
        "Concession of 1950",
        "Concession of 1960",
        "Concession of 1980",
    ]


# --- the checker itself ----------------------------------------------------------------------


def test_sitecheck_finds_what_it_should(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<!DOCTYPE html><html lang="en"><head><title>T</title></head><body><h1 id="x">H</h1>'
        '<p id="x" onclick="f()" style="color:red">'
        '<a href="/a/index.html">root</a><a href="a/">dir</a><a href="a/index.html#nope">f</a>'
        '<a href="javascript:alert(1)">j</a><a href="missing.html">m</a>'
        '<a href="https://example.org/">ok</a></p><script>alert(1)</script>'
        '<img src="https://cdn.example/x.png" alt=""></body></html>'
    )
    (tmp_path / "a" / "index.html").write_text(
        "<html><head><title></title></head><body><h1>1</h1><h1>2</h1></body></html>"
    )
    (tmp_path / "lost.html").write_text(
        '<!DOCTYPE html><html lang="en"><head><title>L</title></head><body><h1>L</h1></body></html>'
    )
    problems = "\n".join(site_problems(tmp_path))
    for expected in (
        "index.html: id 'x' is used 2 times",
        "event handler attribute 'onclick'",
        "inline style attribute",
        "inline script",
        "loads 'https://cdn.example/x.png' from outside the site",
        "dangerous URL 'javascript:alert(1)'",
        "root-relative link",
        "a folder link",
        "a/index.html has no id 'nope'",
        "no file missing.html",
        "a/index.html: does not start with <!DOCTYPE html>",
        "a/index.html: <html> has no lang",
        "a/index.html: needs one non-empty <title>",
        "a/index.html: has 2 <h1>",
        "lost.html: not reachable from index.html",
    ):
        assert expected in problems
    assert "example.org" not in problems


def test_a_build_leaves_the_collector_as_it_found_it(content: Path, tmp_path: Path) -> None:
    """A build collects less often, and exempts what lasts from the collector (the model,
    the makers): afterwards, the thresholds are as they were and nothing is exempt."""
    thresholds = gc.get_threshold()
    cache = tmp_path / "cache"
    result = build(Options(content=content, out=tmp_path / "site", cache=cache))
    assert result.written, [d.format() for d in result.diagnostics]
    assert gc.isenabled()
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0
