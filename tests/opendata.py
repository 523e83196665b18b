"""Sites for the tests of the machine-readable outputs (JSON-LD, data, feeds, hosting).

`build_copy` builds a copy of a content folder into a temporary folder, so nothing is
written beside the fixtures; `HOSTILE` is a small site whose texts try to break out of
every format the site writes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from generator.pipeline import Options, build
from generator.urls import output_path

TESTS = Path(__file__).resolve().parent
FULL = TESTS / "fixtures" / "full" / "content"
SHIPPED = TESTS.parent / "content"
BASE_URL = "https://example.org/fixture/"

BREAKOUT = "</script><script>alert(1)</script><!-- ]]> & \"q\" 'a'"
HOSTILE = {
    "site.yaml": 'title: "Desk </title><!-- & \\"co\\" ]]>"\ndescription: "</script> <!-- &amp;"\n',
    "actors/breakout.yaml": (
        f"name: {json.dumps(BREAKOUT)}\n"  # a JSON string is a YAML double-quoted one
        + "type: person\n"
        + 'summary: "=HYPERLINK(\\"http://x\\") <b>bold</b> \\x0b ]]>"\n'
        + 'aliases: ["]]>", "-2+3+cmd|x"]\n'
        + "identifiers:\n  wikidata: Q4115189\n  urls: [https://example.org/breakout]\n"
    ),
    "events/vote.yaml": (
        'name: "@SUM(1+1) vote \\x01"\ndate: ~2022-12\nend: 2023-01\n'
        "actors: [{actor: breakout, role: '</p>'}]\nstories: [breakout-story]\n"
        "identifiers: [https://example.org/vote]\n"
    ),
    "stories/breakout-story.md": (
        '---\ntitle: "Story </title><!-- \\x0b ]]>"\ndate: 2022-12-10T14:30+04:00\n'
        'dateline: "<BAKU>"\nactors: [breakout]\nauthors: ["<A & B>"]\n---\n'
        "Body with [[breakout]] and <script>x</script> ]]> &amp;.\n"
    ),
}


def write_content(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def build_copy(tmp: Path, content: Path, base_url: str | None = None) -> Path:
    """Copy `content` into `tmp` and build it into `tmp/site`; the site folder."""
    copy = tmp / "content"
    shutil.copytree(content, copy)
    out = tmp / "site"
    result = build(Options(content=copy, out=out, base_url=base_url))
    assert result.written, [d.format() for d in result.diagnostics]
    return out


def page_file(site: Path, url: str, base_url: str | None = None) -> Path:
    """The file a site URL (absolute under `base_url`, or from the site root) is served from."""
    if base_url:
        assert url.startswith(base_url), url
        url = url.removeprefix(base_url)
    path = url.split("#", 1)[0]
    return site / output_path("" if path == "./" else path)
