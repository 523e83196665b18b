"""The benchmark's reference: the stack alone, as a bare loop, over the same content.

    python scripts/reference.py CONTENT OUT [--jobs N] [--stories]

A page per content file, made by the libraries a generator in this stack cannot do without
and nothing else: the file read, its YAML loaded by PyYAML's C loader (a story's front
matter), its Markdown rendered by python-markdown (a story's body and a record's
`description` with the extensions factsheet uses: tables, footnotes, toc, fenced_code and
sane_lists; a `summary` without any), one Jinja2 template rendered (autoescaped) and the page
written. No cross-reference is resolved, nothing is checked, and there are no backlinks,
listings, chronology, feeds, search, JSON or cache. The files are shared among N processes
(all cores by default), as `factsheet build --jobs` shares its work. `--stories` makes the
stories' pages alone: the loop the issue's reference figure (21 s for 10,000 stories on two
processes) was measured with. Prints the pages made and the seconds they took.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

import jinja2
import markdown
import yaml

EXTENSIONS = ["tables", "footnotes", "toc", "fenced_code", "sane_lists"]
TEMPLATE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<header><a href="../../index.html">Home</a></header>
<main>
<h1>{{ title }}</h1>
{% if summary %}<p class="summary">{{ summary|safe }}</p>{% endif %}
{{ body|safe }}
<dl>{% for name, value in fields %}<dt>{{ name }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
</main>
</body>
</html>
"""

# Made once in each process (see `_start`).
_tools: dict[str, Any] = {}


def _start() -> None:
    _tools["body"] = markdown.Markdown(extensions=EXTENSIONS, output_format="html")
    _tools["summary"] = markdown.Markdown(output_format="html")
    _tools["page"] = jinja2.Environment(autoescape=True).from_string(TEMPLATE)


def _render(kind: str, text: str) -> str:
    md = _tools[kind]
    md.reset()
    html: str = md.convert(text)
    if kind == "summary":  # (inline: the paragraph's content)
        html = html.removeprefix("<p>").removesuffix("</p>")
    return html


def make_page(job: tuple[str, str]) -> int:
    """Make the page of the content file `job[0]` as `job[1]`."""
    path, page = job
    text = Path(path).read_text("utf-8")
    if path.endswith(".md"):
        _, front, body = text.split("---\n", 2)
        data = yaml.load(front, Loader=yaml.CSafeLoader)
        title = data.get("title", "")
    else:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
        body = data.get("description") or ""
        title = data.get("name") or data.get("title") or ""
    summary = data.get("summary") or ""
    fields = [(k, v) for k, v in data.items() if k not in ("description", "summary")]
    html = _tools["page"].render(
        title=title,
        summary=_render("summary", summary) if summary else "",
        body=_render("body", body) if body else "",
        fields=fields,
    )
    Path(page).write_text(html, "utf-8")
    return 1


def jobs_of(content: Path, out: Path, stories_only: bool) -> list[tuple[str, str]]:
    """Each content file (the stories' alone, if asked) and the page it makes, its folders
    made."""
    files = sorted(content.glob("stories/*.md"))
    if not stories_only:
        files += sorted(content.glob("*/*.yaml"))
    for folder in {path.parent.name for path in files}:
        (out / folder).mkdir(parents=True, exist_ok=True)
    return [(str(path), str(out / path.parent.name / f"{path.stem}.html")) for path in files]


def run(content: Path, out: Path, jobs: int, stories_only: bool = False) -> tuple[int, float]:
    """The pages made, and the seconds the loop took (its processes started and ended)."""
    todo = jobs_of(content, out, stories_only)
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_start) as pool:
        made = sum(pool.imap_unordered(make_page, todo, chunksize=64))
    return made, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--stories", action="store_true", help="the stories' pages alone")
    args = parser.parse_args()
    made, seconds = run(args.content, args.out, max(1, args.jobs), args.stories)
    print(f"{made} pages in {seconds:.2f} s on {max(1, args.jobs)} processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
