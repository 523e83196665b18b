"""HTML safety of YAML values (SPEC §5): hostile text in every kind of field ends up escaped
in text, attributes and <title>; URL fields take only http(s); ids cannot leave the site.

The machine-readable outputs (JSON-LD, data, feeds) have their own hostile site in
opendata.py; this module reads the HTML pages.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
from pathlib import Path

import pytest
from opendata import write_content
from test_markup import Tags
from test_suites import page_is_safe

from generator import cli
from generator.pipeline import Options, build

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
SINGLE = "'><svg onload=alert(1)>"
HOSTILE = f"{SCRIPT} {BREAKOUT} {SINGLE} javascript:alert(1)"
H = json.dumps(HOSTILE)  # a JSON string is a YAML double-quoted one


def hostile_content(folder: Path, allow_html: bool = False) -> Path:
    return write_content(
        folder / "content",
        {
            "site.yaml": f"title: {H}\ndescription: {H}\nallow_html: {str(allow_html).lower()}\n",
            "actors/villain.yaml": (
                f"name: {H}\ntype: person\naliases: [{H}]\nsummary: {H}\ndescription: {H}\n"
                f"tags: [{H}]\ncountry: state\nroles: [{{title: {H}, of: ministry}}]\n"
                f"extra: {{note: {H}}}\nsources: [{{source: src, quote: {H}, page: {H}}}]\n"
            ),
            "actors/ministry.yaml": (
                f"name: {json.dumps(HOSTILE + ' 2')}\ntype: organization\n"
                f"aliases: {{az: {H}, ru: [{H}]}}\nsources: [src]\n"
            ),
            "actors/state.yaml": f"name: {json.dumps(HOSTILE + ' 3')}\ntype: state\n",
            "deposits/mine.yaml": (
                f"name: {H}\nminerals: [{H}]\nstatus: {H}\nplace: town\n"
                f"coordinates: [40.1, 46.6]\noperator: ministry\n"
            ),
            "places/town.yaml": f"name: {H}\ntype: town\ncoordinates: [40.2, 46.7]\n",
            "events/clash.yaml": (
                f"name: {H}\ntitle: {H}\ndate: 2022-12-10\n"
                f"actors: [{{actor: villain, role: {H}}}]\nstories: [story]\n"
            ),
            "notes/note.yaml": (
                f"name: {H}\ndate: 2022-12-11\nfrom: villain\nto: ministry\nsubject: {H}\n"
                f"status: {H}\nstories: [story]\n"
            ),
            "quotes/said.yaml": f"by: villain\ntext: {H}\ndate: 2022-12-12\nstories: [story]\n",
            "sources/src.yaml": (
                f"name: {H}\npublisher: {H}\ntitle: {H}\nlanguage: {H}\n"
                "url: https://example.org/a?b=1&c=2\npublished: 2022-12-10\n"
            ),
            "stories/story.md": (
                f"---\ntitle: {H}\ndate: 2022-12-10\ndateline: {H}\nauthors: [{H}]\n"
                f"summary: {H}\ntags: [{H}]\nsources: [src]\nactors: [villain]\n"
                f"deposits: [mine]\nplaces: [town]\n---\n{HOSTILE}\n\n[[villain]] and "
                f"[[ministry|{HOSTILE}]] and [[mine]].\n"
            ),
        },
    )


def built(folder: Path, allow_html: bool = False) -> dict[str, str]:
    content = hostile_content(folder, allow_html)
    result = build(Options(content=content, out=folder / "site"))
    assert result.written, [d.format() for d in result.diagnostics]
    pages = {
        p.relative_to(folder / "site").as_posix(): p.read_text("utf-8")
        for p in sorted((folder / "site").rglob("*.html"))
    }
    assert len(pages) > 15
    return pages


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return built(tmp_path_factory.mktemp("hostile"))


def test_no_page_holds_a_script_handler_or_injected_tag(pages: dict[str, str]) -> None:
    for path, page in pages.items():
        page_is_safe(page)
        assert SCRIPT not in page and "<img src=x" not in page and "<svg onload" not in page
        for tag, attrs in Tags(page).tags:
            assert not (tag == "img" and attrs.get("src") == "x"), path
            assert "alert(1)" not in str(attrs.get("href") or ""), path


def test_hostile_text_shows_as_typed(pages: dict[str, str]) -> None:
    # The escaped form of each piece, as Jinja2 and python-markdown write it in text.
    shown = [html.escape(part, quote=False) for part in (SCRIPT, "<img src=x onerror=alert(1)>")]
    for path in ("actors/villain/index.html", "stories/story/index.html", "index.html"):
        page = pages[path]
        for piece in shown:
            assert piece in page, (path, piece)


def test_hostile_text_is_escaped_in_the_title_element(pages: dict[str, str]) -> None:
    for path, page in pages.items():
        title = page[page.index("<title>") + 7 : page.index("</title>")]
        assert "<" not in title and ">" not in title, path
    villain = pages["actors/villain/index.html"]
    title = villain[villain.index("<title>") + 7 : villain.index("</title>")]
    assert html.unescape(title).startswith(HOSTILE), title


def test_hostile_text_in_attributes_stays_one_attribute(pages: dict[str, str]) -> None:
    # Wherever a YAML value lands in an attribute (meta description, title=, aria-label),
    # a browser reads it back whole, from its start: no attribute or tag of its own.
    found = 0
    for page in pages.values():
        for _tag, attrs in Tags(page).tags:
            for value in attrs.values():
                if value and "alert(1)" in value:
                    found += 1
                    assert SCRIPT in value, value
    assert found  # the site description at least is an attribute


def test_allow_html_sanitises_yaml_markdown(tmp_path: Path) -> None:
    for page in built(tmp_path, allow_html=True).values():
        page_is_safe(page)
        assert SCRIPT not in page


# --- URL fields ------------------------------------------------------------------------------

BAD_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "&#106;avascript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/",
    "https:alert(1)",
    "http://",
    "ftp://example.org/file",
    'https://example.org/"><script>alert(1)</script>',
    "https://example.org/a b",
]


def check(content: Path) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = cli.main(["check", "--content", str(content)])
    return status, err.getvalue().splitlines()


@pytest.mark.parametrize("url", BAD_URLS)
def test_url_field_takes_only_http(tmp_path: Path, url: str) -> None:
    content = write_content(
        tmp_path / "content",
        {
            "site.yaml": f"title: T\nbase_url: {json.dumps(url)}\n",
            "sources/src.yaml": f"name: S\nurl: {json.dumps(url)}\n",
        },
    )
    status, lines = check(content)
    assert status == 1
    errors = [line for line in lines if "error[" in line]
    assert [line.split(": error[")[0] for line in errors] == [
        "content/site.yaml:2:11",
        "content/sources/src.yaml:2:6",
    ], errors
    assert all("error[E0404]: " in line for line in errors), errors


@pytest.mark.parametrize("url", ["https://example.org/", "HTTP://EXAMPLE.ORG/a?b=1&c=%20#x"])
def test_url_field_accepts_http(tmp_path: Path, url: str) -> None:
    content = write_content(
        tmp_path / "content",
        {"site.yaml": f"title: T\nbase_url: {url}\n", "sources/src.yaml": f"name: S\nurl: {url}\n"},
    )
    assert check(content)[0] == 0


@pytest.mark.parametrize("url", ["javascript:alert(1)//", "data:,x", "example.org"])
def test_base_url_option_takes_only_http(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    content = write_content(tmp_path / "content", {"site.yaml": "title: T\n"})
    out = tmp_path / "site"
    status = cli.main(["build", "--content", str(content), "--out", str(out), "--base-url", url])
    assert status == 2
    assert "--base-url" in capsys.readouterr().err
    assert not out.exists()


# --- ids and output paths --------------------------------------------------------------------


@pytest.mark.parametrize("ident", ["../../etc", "a/b", "/abs", "..", "a\\b", "A", "a..b", "%2e%2e"])
def test_an_id_that_is_not_a_slug_is_refused(tmp_path: Path, ident: str) -> None:
    content = write_content(
        tmp_path / "content",
        {
            "site.yaml": "title: T\n",
            "actors/people.yaml": f"- id: {json.dumps(ident)}\n  name: X\n  type: person\n",
        },
    )
    status, lines = check(content)
    assert status == 1
    assert lines[0].startswith("content/actors/people.yaml:1:7: error[E0305]: "), lines


def test_nothing_is_written_outside_the_output_folder(tmp_path: Path) -> None:
    built(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "site"]
    site = (tmp_path / "site").resolve()
    for path in site.rglob("*"):
        assert not path.is_symlink() and path.resolve().is_relative_to(site), path


# --- messages --------------------------------------------------------------------------------


def test_a_message_quoting_the_content_stays_one_line(tmp_path: Path) -> None:
    # A key with a line break, a terminal escape sequence and a line separator in it.
    content = write_content(
        tmp_path / "content",
        {
            "site.yaml": "title: T\n",
            "actors/x.yaml": 'name: X\ntype: person\n"a\\nb\\e[31mred\\u2028c": 1\n',
        },
    )
    status, lines = check(content)
    assert status == 1
    assert [line for line in lines if "error[" in line] == [
        "content/actors/x.yaml:3:1: error[E0302]: "
        "unknown field 'a\\nb\\x1b[31mred\\u2028c' for an actor"
    ]
