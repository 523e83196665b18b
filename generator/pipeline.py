"""The build in one function: read -> parse -> link -> check -> plan & render -> write.

Each stage is a plain function returning values and diagnostics; nothing is written unless
every stage succeeded (no errors, and no warnings under --strict).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .data import export
from .diagnostics import Diagnostic, Diagnostics, Location, Severity
from .feeds import feeds
from .links import Links, link_corpus
from .model import Corpus
from .parse import parse_documents
from .reading import read_content
from .render import TEMPLATES, environment, render_page
from .schema import RECORD_KINDS, STORY
from .search import INDEX, search_index
from .urls import output_path, record_url
from .views import Page, Views
from .write import OutputError, check_output, write_site


@dataclass(frozen=True)
class Options:
    content: Path = Path("content")
    out: Path = Path("site")
    drafts: bool = False
    strict: bool = False
    base_url: str | None = None
    templates: Path = TEMPLATES


@dataclass
class Result:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    pages: int = 0
    records: int = 0
    written: bool = False

    @property
    def failed(self) -> bool:
        return any(d.severity.value == "error" for d in self.diagnostics)


# Told the name of each stage as it starts ("read", "parse", ...), for progress and timings.
Progress = Callable[[str], None]


def _silent(stage: str) -> None:
    """No one is watching the stages."""


def load(
    options: Options, progress: Progress = _silent
) -> tuple[Corpus | None, Links | None, list[Diagnostic]]:
    """Read, parse, link and check the content: the model and every diagnostic."""
    diagnostics = Diagnostics()
    progress("read")
    documents, problems = read_content(options.content)
    diagnostics.extend(problems)
    progress("parse")
    corpus, problems = parse_documents(documents)
    diagnostics.extend(problems)
    if corpus is None:
        return None, None, diagnostics.sorted()
    corpus, hidden = _without_drafts(corpus, options)
    if options.base_url is not None:
        corpus = Corpus(replace(corpus.site, base_url=options.base_url), corpus.records)
    progress("link")
    links, problems = link_corpus(corpus, hidden)
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
                f"no source backs the {record.kind[:-1]} '{record.id}'; add 'sources:'",
            )
        if record.id not in linked:
            diagnostics.warning(
                record.location,
                "W0302",
                f"nothing links to or from '{record.id}'; link it from a story or a record",
            )
    return diagnostics.items


def build(options: Options, progress: Progress = _silent) -> Result:
    corpus, links, diagnostics = load(options, progress)
    result = Result(diagnostics)
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
    files, copies, problems = render_site(corpus, links, options.templates)
    if problems:
        result.diagnostics.extend(problems)
        return result
    progress("write")
    try:
        write_site(options.out, files, copies)
    except (OutputError, OSError) as error:
        result.diagnostics.append(_output_error(options.out, str(error)))
        return result
    result.pages = sum(1 for name in files if name.endswith(".html"))
    result.records = len(corpus.records)
    result.written = True
    return result


def plan(corpus: Corpus, links: Links) -> list[Page]:
    """Every page of the site, as view models, in a stable order."""
    views = Views(corpus, links)
    pages: list[Page] = [views.home(), views.chronology(), views.search(), views.not_found()]
    for kind in (STORY, *RECORD_KINDS):
        records = corpus.of_kind(kind)
        if records:
            pages.append(views.kind_index(kind))
        for record in records:
            pages.append(views.story(record) if kind == STORY else views.record(record))
    return pages


def render_site(
    corpus: Corpus, links: Links, templates: Path = TEMPLATES
) -> tuple[dict[str, bytes], dict[str, Path], list[Diagnostic]]:
    """Every output file as bytes, files to copy (assets, story images), and problems."""
    env = environment(templates)
    files: dict[str, bytes] = {}
    problems: list[Diagnostic] = []
    pages = plan(corpus, links)
    for page in pages:
        html, problem = render_page(env, page)
        path = output_path(page.url)
        if problem is not None:
            problems.append(problem)
        elif path in files:
            problems.append(
                _output_error(Path(path), f"two pages would be written to {path}", "E0603")
            )
        elif html is not None:
            files[path] = html.encode("utf-8")
    files[INDEX] = search_index(corpus, links)
    files.update(export(corpus, links))
    files.update(feeds(corpus, links, [page.url for page in pages]))
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
