"""The build in one function: read -> parse -> link -> check -> plan & render -> write.

Each stage is a plain function returning values and diagnostics; nothing is written unless
every stage succeeded (no errors, and no warnings under --strict).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import cast

from . import cache
from .cache import Memo
from .data import export
from .diagnostics import Diagnostic, Diagnostics, Location, Severity
from .feeds import feeds
from .links import Links, link_corpus
from .model import Corpus
from .parse import parse_documents
from .reading import read_content
from .render import TEMPLATES, environment, render_page
from .schema import RECORD_KINDS, SINGULAR, STORY
from .search import INDEX, search_index
from .urls import output_path, record_url
from .views import Page, Views
from .workers import run_all, slices
from .write import OutputError, check_output, write_site


@dataclass(frozen=True)
class Options:
    content: Path = Path("content")
    out: Path = Path("site")
    drafts: bool = False
    strict: bool = False
    base_url: str | None = None
    templates: Path = TEMPLATES
    jobs: int = 1
    cache: Path | None = None  # the build cache's folder; None: build without one


@dataclass
class Result:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    pages: int = 0
    records: int = 0
    written: bool = False
    # What this build parsed and rendered, for the next build in the same process (serve).
    memos: dict[str, Memo] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(d.severity.value == "error" for d in self.diagnostics)


# The parts of the build cache: parsed documents, rendered Markdown.
MEMOS = ("parse", "markdown")

# Told the name of each stage as it starts ("read", "parse", ...), for progress and timings.
Progress = Callable[[str], None]


def _silent(stage: str) -> None:
    """No one is watching the stages."""


def load(
    options: Options, progress: Progress = _silent, memos: dict[str, Memo] | None = None
) -> tuple[Corpus | None, Links | None, list[Diagnostic]]:
    """Read, parse, link and check the content: the model and every diagnostic.

    `memos` (from the build cache) give parse and link results of unchanged inputs.
    """
    memos = memos or {}
    diagnostics = Diagnostics()
    progress("read")
    documents, problems = read_content(options.content)
    diagnostics.extend(problems)
    progress("parse")
    corpus, problems = parse_documents(documents, options.jobs, memos.get("parse"))
    diagnostics.extend(problems)
    if corpus is None:
        return None, None, diagnostics.sorted()
    corpus, hidden = _without_drafts(corpus, options)
    if options.base_url is not None:
        corpus = Corpus(replace(corpus.site, base_url=options.base_url), corpus.records)
    progress("link")
    links, problems = link_corpus(corpus, hidden, options.jobs, memos.get("markdown"))
    diagnostics.extend(problems)
    progress("check")
    diagnostics.extend(check_corpus(corpus, links))
    return corpus, links, diagnostics.sorted()


def check_corpus(corpus: Corpus, links: Links) -> list[Diagnostic]:
    """Warnings: records that no source backs, and records nothing links to."""
    diagnostics = Diagnostics()
    linked = {e.target for e in links.edges} | {e.source for e in links.edges}
    for record in corpus:
        if record.kind in (STORY, "sources"):
            continue
        if not record.get("sources"):
            diagnostics.warning(
                record.location,
                "W0301",
                f"no source backs the {SINGULAR[record.kind]} '{record.id}'; add 'sources:'",
            )
        if record.id not in linked:
            diagnostics.warning(
                record.location,
                "W0302",
                f"nothing links to or from '{record.id}'; link it from a story or a record",
            )
    return diagnostics.items


def build(
    options: Options, progress: Progress = _silent, memos: dict[str, Memo] | None = None
) -> Result:
    """Build the site. `memos` from an earlier build in this process take the place of the
    build cache's (see `cache.carry`); otherwise they are read from options.cache, if any."""
    if memos is None:
        memos = cache.load(options.cache, MEMOS)
    corpus, links, diagnostics = load(options, progress, memos)
    result = Result(diagnostics, memos=memos)
    if corpus is None or links is None or result.failed:
        return result
    if options.strict and diagnostics:
        return result
    try:
        check_output(options.out, options.content)
    except OutputError as error:
        result.diagnostics.append(_output_error(options.out, str(error)))
        return result
    progress("render")
    files, copies, problems = render_site(corpus, links, options.templates, options.jobs)
    if problems:
        result.diagnostics.extend(problems)
        return result
    progress("write")
    try:
        write_site(options.out, files, copies)
    except (OutputError, OSError) as error:
        result.diagnostics.append(_output_error(options.out, str(error)))
        return result
    if options.cache is not None:
        # The site is built; a cache that cannot be written only costs time next time.
        with contextlib.suppress(OSError):
            cache.save(options.cache, memos)
    result.pages = sum(1 for name in files if name.endswith(".html"))
    result.records = len(corpus.records)
    result.written = True
    return result


def plan(corpus: Corpus, links: Links) -> list[Page]:
    """Every page of the site, as view models, in a stable order."""
    return [make() for make in _page_makers(Views(corpus, links), corpus)]


def _page_makers(views: Views, corpus: Corpus) -> list[Callable[[], Page]]:
    """One function per page of the site, in the plan's order, that builds its view model."""
    makers: list[Callable[[], Page]] = [
        views.home,
        views.chronology,
        views.search,
        views.not_found,
    ]
    for kind in (STORY, *RECORD_KINDS):
        records = corpus.of_kind(kind)
        if records:
            makers.append(partial(views.kind_index, kind))
        for record in records:
            makers.append(partial(views.story if kind == STORY else views.record, record))
    return makers


# A rendered page: its URL, its path in the output folder, its bytes or the problem instead.
Rendered = tuple[str, str, bytes | None, Diagnostic | None]


def render_site(
    corpus: Corpus, links: Links, templates: Path = TEMPLATES, jobs: int = 1
) -> tuple[dict[str, bytes], dict[str, Path], list[Diagnostic]]:
    """Every output file as bytes, files to copy (assets, story images), and problems.

    With jobs > 1 forked workers render slices of the plan and export the data files;
    the output is the same bytes as with one process.
    """
    env = environment(templates)
    makers = _page_makers(Views(corpus, links), corpus)

    def render(start: int, stop: int) -> list[Rendered]:
        out: list[Rendered] = []
        for make in makers[start:stop]:
            page = make()
            html, problem = render_page(env, page)
            out.append(
                (
                    page.url,
                    output_path(page.url),
                    None if html is None else html.encode("utf-8"),
                    problem,
                )
            )
        return out

    tasks: list[Callable[[], object]] = [partial(export, corpus, links)]
    tasks += [partial(render, a, b) for a, b in slices(len(makers), jobs * 4)]
    data, *rendered = run_all(tasks, jobs)
    files: dict[str, bytes] = {}
    problems: list[Diagnostic] = []
    urls: list[str] = []
    for url, path, html, problem in itertools.chain.from_iterable(
        cast(list[Rendered], part) for part in rendered
    ):
        urls.append(url)
        if problem is not None:
            problems.append(problem)
        elif path in files:
            problems.append(
                _output_error(Path(path), f"two pages would be written to {path}", "E0603")
            )
        elif html is not None:
            files[path] = html
    files[INDEX] = search_index(corpus, links)
    files.update(cast(dict[str, bytes], data))
    files.update(feeds(corpus, links, urls))
    copies = {
        f"assets/{asset.name}": asset
        for asset in sorted((templates / "assets").iterdir())
        if asset.is_file()
    }
    for story in corpus.of_kind(STORY):
        for image in story.assets:
            copies[f"{record_url(story)}{image.name}"] = image
    return files, copies, problems


def _without_drafts(corpus: Corpus, options: Options) -> tuple[Corpus, frozenset[str]]:
    if options.drafts:
        return corpus, frozenset()
    drafts = frozenset(r.id for r in corpus if r.kind == STORY and r.get("draft") is True)
    kept = {i: r for i, r in corpus.records.items() if i not in drafts}
    return Corpus(corpus.site, kept), drafts


def _output_error(path: Path, message: str, code: str = "E0601") -> Diagnostic:
    return Diagnostic(Location(path.as_posix()), Severity.ERROR, code, message)
