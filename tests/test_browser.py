"""The reader's site in a real browser: Playwright drives Debian's Chromium over a served build.

One build of the shipped example, served by http.server on 127.0.0.1 (port 0) under a strict
Content-Security-Policy, and one browser for the whole module. A reader opens the home page
and a story, follows a chronology item to its sheet and the sheet's backlink back to the
story, searches for aliases (served, and from disk), reads the page on a 360 px phone and
prints it; axe-core finds no WCAG 2 A or AA violation on any page type in light or dark
mode, and the Nu Html Checker finds no error in any page of the site (one JVM call).

The tools: `pip install playwright` (never `playwright install`: the system browser is used),
`apt-get install chromium`, and `npm ci` for axe-core and vnu-jar (package.json). Without
them these tests are skipped, unless FACTSHEET_BROWSER_TESTS=required (as .ci/run sets),
when a missing tool fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from browsing import CHROMIUM, launch, page_errors, serve

from generator.pipeline import Options, build

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
REQUIRED = os.environ.get("FACTSHEET_BROWSER_TESTS", "") == "required"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
STORY = "stories/baku-demands-halt-to-mining/index.html"
SHEET = "deposits/gyzylbulag/index.html"
# One page of every type, each as a reader would reach it.
PAGE_TYPES = {
    "home": "index.html",
    "story": STORY,
    "sheet with a map": SHEET,
    "sheet of a road": "places/lachin-shusha-road/index.html",
    "actor sheet": "actors/hikmet-hajiyev/index.html",
    "quote sheet": "quotes/quote-hajiyev-must-be-stopped/index.html",
    "kind index": "events/index.html",
    "chronology": "chronology/index.html",
    "search with results": "search/index.html?q=Drmbon",
    "not found": "404.html",
}


def missing(what: str) -> None:
    """Skip locally; under FACTSHEET_BROWSER_TESTS=required a missing tool is a failure."""
    if REQUIRED:
        pytest.fail(f"{what} (FACTSHEET_BROWSER_TESTS=required)", pytrace=False)
    pytest.skip(what)


# --- the site, the server and the browser --------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "site"
    result = build(Options(content=ROOT / "content", out=out))
    assert result.written, [d.format() for d in result.diagnostics]
    return out


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    with serve(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed: pip install -e '.[dev]'")
    if not CHROMIUM.is_file():
        missing(f"no browser at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    # The server sends a strict Content-Security-Policy: anything it blocks is an error.
    errors = page_errors(page)
    yield page
    context.close()
    assert errors == [], f"script errors or policy violations on the page: {errors}"


def texts(locator: Any) -> list[str]:
    return [t.strip() for t in locator.all_inner_texts()]


# --- a reader's path -------------------------------------------------------------------------


def test_home_story_chronology_sheet_and_back(page: Any, base_url: str) -> None:
    page.goto(base_url + "index.html")
    assert page.locator("h1").inner_text() == "Karabakh mining: the fact sheets"
    story_link = page.locator(".cards").get_by_role(
        "link", name="Baku demands a halt to mining at Gyzylbulag and Damirli", exact=True
    )
    story_link.click()
    assert page.url == base_url + STORY
    assert page.locator("h1").inner_text() == (
        "Baku demands a halt to mining at Gyzylbulag and Damirli"
    )
    assert page.locator("#facts").is_visible()
    chronology = page.locator("section#chronology")
    item = chronology.get_by_role("link", name="Monitoring visit to the deposits stopped")
    item.click()
    assert page.url == base_url + "events/monitoring-visit-blocked/index.html"
    assert page.locator("h1").inner_text() == "Monitoring visit to the deposits stopped"
    backlink = page.locator("#backlinks").get_by_role(
        "link", name="Baku demands a halt to mining at Gyzylbulag and Damirli", exact=True
    )
    backlink.click()
    assert page.url == base_url + STORY
    # The story's own entry in its chronology is marked as the current page.
    current = chronology.locator("a[aria-current=page]")
    assert current.inner_text() == "Baku demands a halt to mining at Gyzylbulag and Damirli"


@pytest.mark.parametrize("query", ["Drmbon", "Кызылбулаг", "Qızılbulaq", "qizilbulaq", "Դրմբոն"])
def test_search_finds_the_sheet_by_any_alias(page: Any, base_url: str, query: str) -> None:
    page.goto(f"{base_url}search/index.html?q={quote(query)}")
    first = page.locator("#search-results li").first.get_by_role("link")
    assert first.inner_text() == "Gyzylbulag"
    assert first.get_attribute("href") == "../" + SHEET
    assert "result" in page.locator("#search-status").inner_text()
    first.click()
    assert page.url == base_url + SHEET


def test_every_page_has_a_search_box_that_leads_to_the_search_page(
    page: Any, base_url: str
) -> None:
    page.goto(base_url + SHEET)
    box = page.locator("form.site-search").get_by_role("searchbox")
    box.fill("Лачинский коридор")
    box.press("Enter")
    page.wait_for_url("**/search/index.html?q=*")
    assert page.locator("#search-query").input_value() == "Лачинский коридор"
    results = page.locator("#search-results li a")
    assert results.first.inner_text() == "Lachin corridor"
    # Typing refines the results at once, without a new page.
    page.locator("#search-query").fill("Hajiyev")
    assert "Hikmet Hajiyev" in texts(page.locator("#search-results li a"))
    page.locator("#search-query").fill("zzzzqqq")
    assert page.locator("#search-status").inner_text() == "Nothing found for “zzzzqqq”."


def test_search_works_from_disk_and_says_what_to_do_without_its_index(
    page: Any, site: Path, tmp_path: Path
) -> None:
    page.goto((site / "search" / "index.html").as_uri() + "?q=Drmbon")
    assert page.locator("#search-results li a").first.inner_text() == "Gyzylbulag"
    broken = tmp_path / "site"
    shutil.copytree(site, broken)
    (broken / "search" / "records.js").unlink()
    page.goto((broken / "search" / "index.html").as_uri() + "?q=Drmbon")
    status = page.locator("#search-status").inner_text()
    assert "did not load" in status and "python3 -m http.server" in status


# --- layouts ---------------------------------------------------------------------------------


def test_phone_layout_never_scrolls_sideways(browser: Any, base_url: str) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=1)
    page = context.new_page()
    wide = {}
    for name, path in PAGE_TYPES.items():
        page.goto(base_url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 360:
            wide[name] = width
    # The fact box follows the story's text on a phone.
    page.goto(base_url + STORY)
    body_top = page.locator(".story > .body").bounding_box()["y"]
    assert page.locator(".story > .factbox").bounding_box()["y"] > body_top
    context.close()
    assert wide == {}


def test_print_layout_hides_navigation_and_keeps_facts_and_sources(
    page: Any, base_url: str
) -> None:
    page.goto(base_url + SHEET)
    page.emulate_media(media="print")
    assert not page.locator(".masthead nav").is_visible()
    assert not page.locator("form.site-search").is_visible()
    for kept in ("#facts", ".locator > svg", "#sources", "#backlinks", "#timeline"):
        assert page.locator(kept).is_visible(), kept
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF-")


# --- accessibility and validity --------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_on_any_page_type(browser: Any, base_url: str, scheme: str) -> None:
    if not AXE.is_file():
        missing(f"no {AXE.relative_to(ROOT)}: npm ci")
    # axe is injected as an inline script, which the site's policy rightly blocks.
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme=scheme, bypass_csp=True
    )
    page = context.new_page()
    found = {}
    for name, path in PAGE_TYPES.items():
        page.goto(base_url + path)
        page.add_script_tag(path=str(AXE))
        passed, violations = page.evaluate(
            """async (tags) => {
                const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
                return [result.passes.map((p) => p.id), result.violations.map((v) => v.id + ": "
                    + v.nodes.map((n) => n.target.join(" ") + " (" + n.failureSummary + ")")
                    .join("; "))];
            }""",
            WCAG,
        )
        assert "color-contrast" in passed or violations, f"axe did not check {name}"
        if violations:
            found[name] = violations
    context.close()
    assert found == {}


def test_nu_html_checker_finds_no_errors_in_the_whole_site(site: Path) -> None:
    if not VNU.is_file():
        missing(f"no {VNU.relative_to(ROOT)}: npm ci")
    java = shutil.which("java")
    if java is None:
        missing("no java for the Nu Html Checker: apt-get install default-jre-headless")
    run = subprocess.run(
        [java, "-jar", str(VNU), "--errors-only", "--format", "json", "--skip-non-html", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    messages = json.loads(run.stderr or '{"messages": []}')["messages"]
    problems = [
        f"{m.get('url', '').partition(site.name + '/')[2]}:{m.get('lastLine', '?')}: "
        f"{m.get('message')}"
        for m in messages
    ]
    assert problems == [] and run.returncode == 0, problems
    checked = list(site.rglob("*.html"))
    assert len(checked) > 30
