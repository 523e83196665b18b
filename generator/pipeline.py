"""The build in one function: read -> parse -> link -> check -> plan & render -> write.

Each stage is a plain function returning values and diagnostics; nothing is written unless
every stage succeeded (no errors, and no warnings under --strict).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import cache, deps, plan, rebuild, search, unchanged, workers
from .cache import Memo
from .deps import Fingerprints, Key, digest, digest_bytes
from .diagnostics import Diagnostic, Diagnostics, Location, Severity
from .links import STATES, Links, link_corpus
from .listing import Listing, Walk, stamps, walk
from .model import Corpus, InMemory, Record, changed_records
from .parse import parse_documents, without_text
from .reading import Document, Recent, Unread, read_content, shown
from .rebuild import Trace
from .render import TEMPLATES
from .schema import KINDS, SINGULAR, STORY
from .write import (
    OutputError,
    SiteCopy,
    SpareCopy,
    Staging,
    check_output,
    site_stamp,
    spare_folder,
)


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
    unchanged: bool = False  # nothing was read: content, templates and site as last built
    # What this build parsed and rendered, for the next build in the same process (serve).
    memos: dict[str, Memo] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(d.severity.value == "error" for d in self.diagnostics)


# The parts of the build cache: files read, parsed documents, rendered Markdown, the
# dependency record.
MEMOS = ("files", "parse", "markdown", "deps")

# Told the name of each stage as it starts ("read", "parse", ...), for progress and timings.
Progress = Callable[[str], None]


def _silent(stage: str) -> None:
    """No one is watching the stages."""


def load(
    options: Options,
    progress: Progress = _silent,
    memos: dict[str, Memo] | None = None,
    listing: Listing | None = None,
    read: list[Document | Unread] | None = None,
    changed: Iterable[Path] | None = None,
    once: bool = False,
) -> tuple[Corpus | None, Links | None, list[Diagnostic]]:
    """Read, parse, link and check the content: the model and every diagnostic.

    `memos` (from the build cache) give parse and link results of unchanged inputs;
    `listing`, this build's walk of the content folder, if it made one; `read`, if given,
    gets the documents read; `changed`, the files saved since the build that left the memos
    in this process, if known (see `reading.read_content`); `once`, see `build`.
    """
    memos = memos or {}
    diagnostics = Diagnostics()
    progress("read")
    documents, problems = read_content(options.content, memos.get("files"), listing, changed)
    diagnostics.extend(problems)
    progress("parse")
    corpus, problems = parse_documents(documents, options.jobs, memos.get("parse"))
    if read is not None:  # (parsed: their texts are not kept)
        read.extend(map(without_text, documents))
    del documents
    diagnostics.extend(problems)
    if corpus is None:
        return None, None, diagnostics.sorted()
    corpus, hidden = _without_drafts(corpus, options, memos.get("markdown"))
    if options.base_url is not None:
        corpus = Corpus(replace(corpus.site, base_url=options.base_url), corpus.records)
    progress("link")
    links, problems = link_corpus(
        corpus, hidden, options.jobs, memos.get("markdown"), keep=not once
    )
    diagnostics.extend(problems)
    progress("check")
    diagnostics.extend(check_corpus(corpus, links, memos.get("markdown")))
    return corpus, links, diagnostics.sorted()


def check_corpus(corpus: Corpus, links: Links, memo: Memo | None = None) -> list[Diagnostic]:
    """Warnings: records that no source backs, and records nothing links to.

    With the memo of the last check in this process, and Links worked out by difference
    from the Links it checked, only the records that changed, or whose edges in or out may
    have, are checked again; the others' warnings are the same as then.
    """
    last = memo.old.get(_CHECKED) if memo is not None else None
    warnings: dict[str, tuple[Diagnostic, ...]] | None = None
    delta = links.delta
    if isinstance(last, _Checked) and delta is not None and delta[0]() is last.links:
        changed = changed_records(last.records, corpus.records, _FEW_RECORDS)
        if changed is not None:
            warnings = dict(last.warnings)
            grown = False
            for record_id in delta[1].union(changed):
                record = corpus.records.get(record_id)
                found = _warnings(record, links) if record is not None else ()
                if found:
                    grown = grown or record_id not in warnings
                    warnings[record_id] = found
                else:
                    warnings.pop(record_id, None)
            if grown:  # in the order of the ids, as a whole check finds them
                warnings = dict(sorted(warnings.items()))
    if warnings is None:
        warnings = {}
        for record in corpus:
            found = _warnings(record, links)
            if found:
                warnings[record.id] = found
    if memo is not None:
        memo.new[_CHECKED] = _Checked(corpus.records, links, warnings)
    return list(itertools.chain.from_iterable(warnings.values()))


def _warnings(record: Record, links: Links) -> tuple[Diagnostic, ...]:
    """The record's warnings: no source backs it, nothing links to or from it."""
    if record.kind in (STORY, "sources"):
        return ()
    sourced = record.sourced
    if sourced and (links.outgoing(record.id) or links.incoming(record.id)):
        return ()  # (most records: no Diagnostics made, 50,000 at 10,000 stories)
    diagnostics = Diagnostics()
    if not sourced:
        diagnostics.warning(
            record.location,
            "W0301",
            f"no source backs the {SINGULAR[record.kind]} '{record.id}'; add 'sources:'",
        )
    if not links.incoming(record.id) and not links.outgoing(record.id):
        diagnostics.warning(
            record.location,
            "W0302",
            f"nothing links to or from '{record.id}'; link it from a story or a record",
        )
    return tuple(diagnostics.items)


# The memo's entries for the last drafts left out and the last check, in this process; and
# up to how many changed records a stage works by difference from them.
_DRAFTS, _CHECKED = STATES
_FEW_RECORDS = 32


@dataclass(eq=False)
class _Checked(InMemory):
    """The last check: the records and Links it checked, and its warnings by record id (in
    the order of the ids; records without any left out)."""

    records: Mapping[str, Record]
    links: Links
    warnings: dict[str, tuple[Diagnostic, ...]]


@dataclass(eq=False)
class _Drafts(InMemory):
    """The last drafts left out: the records given, the drafts' ids, the corpus kept."""

    given: Mapping[str, Record]
    drafts: frozenset[str]
    kept: Corpus


def build(
    options: Options,
    progress: Progress = _silent,
    memos: dict[str, Memo] | None = None,
    changed: Iterable[Path] | None = None,
    once: bool = False,
) -> Result:
    """Build the site. `memos` from an earlier build in this process take the place of the
    build cache's (see `cache.carry`); otherwise they are read from options.cache, if any.
    `changed`: the files saved since that earlier build (serve's watcher), if known.
    `once`: no build follows in this process (`factsheet build`): what only the next one
    would start from is let go as soon as the build cache has it (and `Result.memos`
    holds only what the save needed)."""
    thresholds = gc.get_threshold()
    # What the last build in this process left (serve's memos) lives through this one:
    # exempt it from the cyclic collector, which would walk it at every full collection.
    gc.freeze()
    # And collect less often from the start: reading, parsing and linking make objects by
    # the hundred thousand that last as long as the build (see `_THRESHOLDS`).
    gc.set_threshold(*_THRESHOLDS)
    try:
        return _build(options, progress, memos, changed, once)
    finally:
        gc.unfreeze()  # what the build exempted from the cyclic collector goes back to it
        gc.set_threshold(*thresholds)


# The cyclic collector's thresholds while a build runs: a collection every 10,000 objects
# made (the default is 700). The build makes hundreds of thousands of lasting objects (the
# model, the makers' traces), and each full collection walks all made since the last freeze
# (planning 2,000 stories' files: 0.33 s of CPU at the default threshold, 0.20 s here).
_THRESHOLDS = (10_000, 10, 10)


def _build(
    options: Options,
    progress: Progress,
    memos: dict[str, Memo] | None,
    changed: Iterable[Path] | None = None,
    once: bool = False,
) -> Result:
    inputs = listing = settings = look = read = copy = None
    loaded = memos is None  # (from the build cache, as the last build saved them)
    if memos is None:
        changed = None  # a hint about the last build in this process: there is none
        if options.cache is None:
            memos = cache.load(None, MEMOS)
        else:
            progress("inputs")
            with _Inputs(options) as given:  # (the content listed on another core meanwhile)
                memos = {} if given.idle() else cache.load(options.cache, MEMOS, given.idle)
                if given.idle(wait=True):
                    return given.again()
                listing, settings, read = given.walk.listing(), given.settings, given.read
                inputs, copy, look = given.inputs, given.copy, given.look
        look = _look(options, memos["deps"], look)
    try:
        return _make(
            options,
            progress,
            memos,
            listing,
            changed,
            inputs,
            settings,
            look,
            loaded,
            read,
            once,
            copy,
        )
    finally:
        cache.discard()  # (a base `_make` began for a save that did not come: it failed)
        if look is not None:
            look.close()
        if copy is not None:
            copy.close()


def _make(
    options: Options,
    progress: Progress,
    memos: dict[str, Memo],
    listing: Listing | None,
    changed: Iterable[Path] | None,
    inputs: str | None,
    settings: str | None,
    look: rebuild.Look | None,
    loaded: bool = False,
    read: unchanged.Files | None = None,
    once: bool = False,
    copy: SiteCopy | None = None,
) -> Result:
    """The build, given the memos (see `_build`): `loaded` from the build cache; `read`,
    the record of the files the last build read, if loaded; `once`, see `build`; `copy`,
    see `make_site`."""
    documents: list[Document | Unread] = []
    corpus, links, diagnostics = load(options, progress, memos, listing, documents, changed, once)
    if loaded and links is not None:
        search.vouch(links)
    # The model lives as long as the build: exempt it from the cyclic collector, which would
    # walk its millions of objects again and again while the site is made (1,000 stories:
    # serve's rebuild after a save 1.7 s -> 1.4 s). `build` gives them back at the end.
    gc.freeze()
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
    if options.cache is not None:
        with contextlib.suppress(OSError):  # (saved below, or discarded: see cache.begin)
            cache.begin(options.cache, memos, aside=options.jobs > 1)
        if once:  # (no build follows to start from the early memos: see cache.release)
            for entries in cache.release(memos):
                Recent.forget(entries)
    progress("render")
    try:
        deps = memos.setdefault("deps", Memo())
        result.pages, problems = make_site(corpus, links, options, deps, progress, look, copy)
    except (OutputError, OSError) as error:
        result.diagnostics.append(_output_error(options.out, str(error)))
        return result
    if problems:
        result.diagnostics.extend(problems)
        return result
    result.records = len(corpus.records)
    result.written = True
    if options.cache is not None:
        spare = _spare(options, deps) if once else None
        state = record = None
        if inputs is not None and settings is not None and listing is not None:
            site = _site(options)
            state = _State(inputs, site, diagnostics, result.pages, result.records, settings)
            record = unchanged.record(listing, documents, shown(options.content), read)
        # The site is built; a cache that cannot be written only costs time next time.
        workers.give_back()  # (what the site's making left free: see `give_back`)
        try:
            with contextlib.suppress(OSError):
                cache.save(options.cache, memos, state, record)
        finally:
            if spare is not None:
                spare.wait()
    return result


def _spare(options: Options, memo: Memo) -> SpareCopy | None:
    """A spare made of the site on another core (see `SpareCopy`), and the memo's record
    of it, when the build left none (it made the whole site, where there was none), may use
    more than one core, and no build follows in this process (whose own record of the
    spare, `_Left`, this would not tell)."""
    out = options.out.absolute()
    if not _copies(options) or memo.new.get(_SITE) != site_stamp(out) or memo.new[_SITE] is None:
        return None
    try:
        making = SpareCopy(out)
    except OSError:  # (no room for the folder, say: the next build does without a spare)
        return None
    if making.stamp is None:
        return None
    # The spare is the site, file for file: as a build that staged there would leave it.
    memo.new[_SPARE] = making.stamp
    memo.new[_SPARE_FILES] = _SITE_FILES
    memo.new[_WRITTEN] = []
    memo.new[_SPARE_ALIKE] = True
    return making


@dataclass(frozen=True)
class _State:
    """A successful build: a digest of its inputs (content, templates, options), the stamp of
    the site it left, and what it reported. Given the same inputs and site, a build has
    nothing to do; nor given the same settings (templates, options), site and content (read
    again where files' stamps changed, as the record of its files saved with the state
    tells: see `unchanged`)."""

    inputs: str
    site: str
    diagnostics: list[Diagnostic]
    pages: int
    records: int
    settings: str


class _Inputs:
    """What a build in a new process given a build cache reads before the cache, to tell
    whether it has anything to do: the settings, the state the last build left, and the
    content's listing, made on another core while the cache loads where the build may use
    more than one (see `listing.Walk`). Asked whether there is nothing to do (`idle`) as the
    cache loads, it says so as soon as the content is listed, and the loading stops there.
    """

    def __init__(self, options: Options) -> None:
        self.options = options
        self.walk = Walk(options.content, fork=options.jobs > 1)  # for the inputs, and to read
        self.look: rebuild.Look | None = None
        try:
            self.settings = _settings(options)
            last = cache.load_state(options.cache)
            # The site's files, looked at on another core once the build is known to have
            # something to do (see `idle`), by a process forked now, before the cache loads
            # (see `_early_look`); the build's to close, unless it ends here.
            self.look = _early_look(options)
        except BaseException:  # (interrupted: the walk's process is not left behind)
            self.walk.close()
            raise
        self.last = last if isinstance(last, _State) and last.site == _site(options) else None
        # Whether there is nothing to do: None while it is not known (never, without a state).
        self._idle: bool | None = None if self.last is not None else False
        # The record of the files the last build read, if loaded (see `_same_content`); and
        # if they still hold what they held, the record with their new stamps.
        self.read: unchanged.Files | None = None
        self._still: unchanged.Files | None = None
        # A copy of the site, begun once the build is known to have something to do (see
        # `_copy`); the build's to close, unless it ends here.
        self.copy: SiteCopy | None = None
        self._begun = False

    def __enter__(self) -> _Inputs:
        return self

    def __exit__(self, kind: object, *exception: object) -> None:
        self.walk.close()
        if kind is not None and self.copy is not None:  # (interrupted, or failed)
            self.copy.close()
        if (kind is not None or self._idle is not False) and self.look is not None:
            self.look.close()  # (the build ends here: interrupted, failed, or nothing to do)

    @property
    def inputs(self) -> str:
        """A digest of everything the build reads (see `_settings`)."""
        return digest(self.settings + self.walk.stamps())

    def idle(self, wait: bool = False) -> bool:
        """Whether the build has nothing to do: the last build's outcome holds. False while
        that is not known (the walk's digest, or listing, has not come), unless asked to
        `wait` for it."""
        if self._idle is None and (wait or self.walk.ready()):
            self._idle = self._same(wait)
        if self._idle is False and not self._begun:
            self._begun = True
            self.copy = _copy(self.options)
            if self.look is not None:
                self.look.go()
        return bool(self._idle)

    def again(self) -> Result:
        """The last build's outcome (see `idle`)."""
        assert self.last is not None and self.options.cache is not None
        if self._still is not None:  # saved with the files' new stamps, for the next build
            state = replace(self.last, inputs=self.inputs)
            cache.save_state(self.options.cache, state, self._still)
        return _again(self.last)

    def _same(self, wait: bool) -> bool | None:
        """`idle`, once the digest has come; None while it waits for the listing, which
        comes after (and which the forked process takes a while to pack and send: this one
        loads the cache meanwhile)."""
        last = self.last
        if last is None:
            return False
        if last.inputs == self.inputs:
            return True
        if last.settings != self.settings:  # (the listing is not needed: see `_same_content`)
            return False
        if not (wait or self.walk.ready()):
            return None
        listing = self.walk.listing()
        self._still, self.read = _same_content(self.options, last, self.settings, listing)
        return self._still is not None


def _again(last: _State) -> Result:
    """The outcome of the last build, which still holds: nothing to do."""
    return Result(list(last.diagnostics), last.pages, last.records, True, True)


def _same_content(
    options: Options, last: _State, settings: str, listing: Listing
) -> tuple[unchanged.Files | None, unchanged.Files | None]:
    """The record of the content's files, with their new stamps, if the last build had
    these settings and every file holds what it held then (see `unchanged`); else None.
    And the record the last build left, if it was loaded."""
    if last.settings != settings:
        return None, None
    files = cache.load_state(options.cache, details=True)
    if not isinstance(files, unchanged.Files):
        return None, None
    return unchanged.still(listing, files, shown(options.content)), files


def _site(options: Options) -> str:
    """The stamp of the site's marker file: another site, or none, changes it.

    (Not every file's: that walk costs more than the rest of such a build. A file changed
    by hand in site/ is found, and made again, by the next build that reads the content.)
    """
    return repr(site_stamp(options.out.absolute()))


def _settings(options: Options) -> str:
    """A digest of what a build reads besides the content: options, templates (by their
    stamps). With the content's stamps, `_build` digests everything a build reads."""
    folders = (options.content.absolute(), options.out.absolute(), options.templates.absolute())
    given = repr((*folders, options.drafts, options.strict, options.base_url))
    return digest(given + stamps(walk(options.templates)))


def make_site(
    corpus: Corpus,
    links: Links,
    options: Options,
    memo: Memo,
    progress: Progress = _silent,
    look: rebuild.Look | None = None,
    copy: SiteCopy | None = None,
) -> tuple[int, list[Diagnostic]]:
    """Write the site (the number of pages), running only the makers whose inputs changed
    since the build that `memo` remembers, if that build's site is still in options.out.

    Nothing is written when every file is as that build left it. Otherwise the new site is
    staged beside the old one and swapped in: in the spare (the site before the old one,
    kept beside it when there is a cache) where the spare is as remembered, changing only
    what differs; else in a new folder, with unchanged files hard-linked from the old site.

    Where there is no spare to stage in, but a `copy` of the site being made (see
    `_copy`), the new site is staged in that copy.

    A rebuild in the process that made the site (serve), with the same list of makers,
    does work in proportion to what changed: see `_Left`.
    """
    out = options.out.absolute()
    known = memo.old.get(_SITE) == site_stamp(out) and isinstance(memo.old.get(_TRACES), dict)
    traces: dict[str, Trace] = memo.old[_TRACES] if known else {}
    last: Mapping[Key, str] = memo.old.get(_SEEN, {}) if known else {}
    # Traces this process left with the site it made (serve) tell what the site holds: its
    # files are not looked at one by one. (A new process looks: a file changed by hand in
    # site/ is made again.)
    ours = known and _left is not None and _left.traces is traces
    ours = ours and _left is not None and _left.site == memo.old.get(_SITE)
    if ours:  # (the first rebuild after a save, of the many it makes)
        rebuild.by_place(last)
    # A new process that looks at the site's files on another core (see `_look`): the keys
    # that changed are worked out before the makers are listed (with the keys of the files
    # the last build's makers copied), and the makers that read them are found there
    # meanwhile.
    looking = not ours and look is not None and look.traces is traces and look.out == out
    copied_before = memo.old.get(_COPIED) if looking else None
    fingerprints, surveyed = None, None
    # (a template that cannot be read is reported after the makers' clashes, as ever)
    with contextlib.suppress(OSError):
        if look is not None and isinstance(copied_before, list):
            fingerprints = _fingerprints(corpus, links, options.templates)
            surveyed = _survey(corpus, links, memo, known, copied_before, fingerprints.asked)
            changed = rebuild.changed(last, fingerprints, surveyed[1])
            look.ask(changed)
    makers = plan.makers(corpus, links, options.templates, memo.old.get(_INDEX_READS))
    memo.new[_INDEX_READS] = plan.index_reads()
    left = _left if _left is not None and _left.makers is makers else None
    problems = [] if left is not None else _clashes(makers)  # (none in the same list)
    if problems:
        return 0, problems
    copied_keys = _copied(makers)
    copied: set[Key] = set()  # the keys of copied files that changed, not asked above
    if fingerprints is None or surveyed is None:
        fingerprints = _fingerprints(corpus, links, options.templates)
        surveyed = _survey(corpus, links, memo, known, copied_keys, fingerprints.asked)
        changed = rebuild.changed(last, fingerprints, surveyed[1])
    elif surveyed[1] is not None:
        # Those the last build's makers did not read, but an earlier build's did (rare).
        asked = set(copied_before or ())
        news = rebuild.values_of(last, [k for k in copied_keys if k not in asked])
        copied = {k for k, value in news.items() if fingerprints(k) != value}
        changed |= copied
    summaries = surveyed[0]
    # The same makers as the traces' (their names are the traces' keys): the stale ones are
    # found from the changed keys.
    same = left if ours else None
    if same is not None:
        todo = same.stale(changed)
    elif ours:  # (the traces tell what the site holds)
        todo = rebuild.stale(makers, traces, changed)
    elif looking and look is not None:
        # (the readers of the keys asked for, unless another key changed too: rare)
        readers = look.readers()
        readers = readers if not copied else None
        todo = rebuild.stale(makers, traces, changed, look.unwritten(), readers)
    else:
        todo = rebuild.stale(makers, traces, changed, rebuild.Unwritten(traces, out))
    spare_stamp = site_stamp(spare_folder(out))
    trusted = known and spare_stamp is not None and memo.old.get(_SPARE) == spare_stamp
    spare = memo.old.get(_SPARE_FILES) if trusted else None
    if spare == _SITE_FILES:  # (the spare has the files of the site, as its traces name them)
        spare = traces
    spare = spare if isinstance(spare, dict) else None
    made: dict[str, Trace] = {}
    before = traces  # (every key they name is in `last`)
    table = memo.old.get(_KEYS) if known else None
    table = table if isinstance(table, tuple) else None
    # A build that runs most makers packs their traces by a new table as they come (see
    # `rebuild.Table`); others keep the last build's table, and the values it saw.
    fresh = not table or not last or len(todo) * 2 > len(makers)
    new_table = rebuild.Table(fingerprints.once) if fresh else None
    # Whether the makers are those of the traces, in their order (their names are the
    # traces' keys); and whether the new site's files have the names of the old one's (the
    # same makers, and each that ran wrote the files it wrote last time).
    named = same is not None or list(map(_name, makers)) == list(traces)
    alike = False
    if todo or (not named and {m.name for m in makers} != traces.keys()):
        keep_spare = options.cache is not None or bool(memo.old)
        site_copy = _copied_site(copy, out) if spare is None and keep_spare else None
        if site_copy is not None:  # (it holds every file of the site: none to link again)
            staging = Staging(options.out, site_copy, keep_spare=True, copy=copy)
        else:
            staging = Staging(
                options.out, _files(spare) if spare is not None else None, keep_spare=keep_spare
            )
        version = fingerprints.known.get("templates")
        bytecode = plan.compiled(options.templates, version, memo.old.get(_COMPILED))
        try:
            made, problems = rebuild.run(
                makers,
                todo,
                corpus,
                links,
                options.templates,
                fingerprints,
                staging,
                options.jobs,
                traces,
                new_table,
            )
            if problems:
                staging.discard()
                return 0, problems
            progress("write")
            alike = named and all(trace.names == traces[name].names for name, trace in made.items())
            written = memo.old.get(_WRITTEN)
            # Whether the spare has the names of the old site's files: as this process
            # knows it, or (a new process) as the build that left the spare recorded it.
            spare_alike = same.spare if same is not None else memo.old.get(_SPARE_ALIKE) is True
            if site_copy is not None:  # (the copy's files the new site lacks go)
                if alike:
                    new = _write_alike(staging, traces, made, [], _extras(site_copy, traces))
                else:
                    new = _write_all(staging, makers, traces, made, [], spare=True)
            elif alike and spare_alike and spare is not None and isinstance(written, list):
                new = _write_alike(staging, traces, made, written)
            else:
                new = _write_all(staging, makers, traces, made, written, spare is not None)
        except BaseException:
            staging.discard()
            raise
        # The old site is the spare now: its files are those the old traces name, which
        # are those the new ones name when alike (not kept twice: 145,000 traces at 10,000
        # stories, for a new process to load and the save to compare).
        memo.new[_COMPILED] = plan.compile_pages(bytecode)
        memo.new[_SPARE_FILES] = _SITE_FILES if alike else traces
        memo.new[_SPARE] = site_stamp(spare_folder(out)) if keep_spare else None
        memo.new[_WRITTEN] = [name for trace in made.values() for name in trace.names]
        memo.new[_SPARE_ALIKE] = alike
        traces, before = new, traces
    else:
        for entry in (_SPARE_FILES, _SPARE, _WRITTEN, _SPARE_ALIKE, _COMPILED):
            memo.new[entry] = memo.old.get(entry)
    seen: Mapping[Key, str]
    if new_table is not None:
        traces, table, seen = new_table.done(traces)
    else:
        seen = rebuild.seen(traces, fingerprints, last, changed, made, before)
        traces, table = rebuild.pack(traces, made, before, seen, table)
    memo.new[_KEYS] = table
    memo.new[_TRACES] = traces
    memo.new[_SEEN] = rebuild.Seen.of(seen, table)
    memo.new[_SITE] = site_stamp(out)
    memo.new[_SUMMARIES] = summaries
    memo.new[_COPIED] = copied_keys
    _leave(makers, traces, made, memo.new[_SITE], same, corpus, summaries, alike)
    return _pages(makers), []


def _copy(options: Options) -> SiteCopy | None:
    """Begin a copy of the site on another core while the build goes on (see `SiteCopy`),
    for the new site to be staged in, when the build may use more than one core, and keeps
    a spare (with a cache) but has none: the first rebuild after a build that made the
    whole site and no spare (on one core, or serve's), or after the spare was deleted.
    (Once the build knows it has something to do: see `_Inputs`.)"""
    out = options.out.absolute()
    return SiteCopy(out) if _copies(options) and site_stamp(out) is not None else None


def _copies(options: Options) -> bool:
    """Whether the site is copied on another core (see `_copy`, `_spare`): the build may use
    more than one, and there is no spare beside the site."""
    spare = spare_folder(options.out.absolute())
    return options.jobs > 1 and workers.can_fork() and not (spare.exists() or spare.is_symlink())


def _copied_site(copy: SiteCopy | None, out: Path) -> list[str] | None:
    """The names of the files in the copy of the site, once made, if it is of the site as
    it is (it was begun by this build, before the site could change)."""
    if copy is None or copy.stamp != site_stamp(out):
        return None
    return copy.names()


def _look(options: Options, memo: Memo, early: rebuild.Look | None = None) -> rebuild.Look | None:
    """The files of the site that the cache's traces describe, looked at on another core
    while the build goes on (see `rebuild.Look`), when the build may use more than one, and
    the site is the one the traces describe (as `make_site` finds it): by the process
    forked `early` if it loaded the very files that gave this memo (see `_early_look`), else
    by one forked now."""
    out = options.out.absolute()
    traces = _traces_of(memo.old, out)
    if early is not None:
        if traces is not None and memo.disk is not None and early.adopt(memo.disk.ids, traces):
            return early
        early.close()
    if options.jobs < 2 or traces is None:
        return None
    return rebuild.Look(traces, out)


def _early_look(options: Options) -> rebuild.Look | None:
    """A `rebuild.Look` forked before the build cache loads, which loads the traces itself
    (the deps memo alone: see `cache.load_alone`), when the build may use more than one
    core, has a cache and a site."""
    out, folder = options.out.absolute(), options.cache
    if options.jobs < 2 or folder is None or not workers.can_fork() or site_stamp(out) is None:
        return None

    def load() -> tuple[object, Mapping[str, Trace]] | None:
        loaded = cache.load_alone(folder, "deps")
        if loaded is None:
            return None
        ids, entries = loaded
        traces = _traces_of(entries, out)
        return None if traces is None else (ids, traces)

    return rebuild.Look(None, out, load=load)


def _traces_of(entries: Mapping[str, object], out: Path) -> dict[str, Trace] | None:
    """The traces the deps memo's `entries` keep, if they describe the site at `out` (as
    `make_site` finds it)."""
    traces = entries.get(_TRACES)
    if not isinstance(traces, dict) or entries.get(_SITE) != site_stamp(out):
        return None
    return traces


def _clashes(makers: list[plan.Maker]) -> list[Diagnostic]:
    """An error for each file that two pages would be written to."""
    names = list(itertools.compress(map(_name, makers), _is_page(makers)))
    if len(set(names)) == len(names):  # (as a rule: none told in C, not counted one by one)
        return []
    pages = Counter(names)
    return [
        _output_error(Path(name), f"two pages would be written to {name}", "E0603")
        for name, count in pages.items()
        if count > 1
    ]


def _pages(makers: list[plan.Maker]) -> int:
    """The number of pages (once per list of makers)."""
    left = _left if _left is not None and _left.makers is makers else None
    if left is not None and left.pages is not None:
        return left.pages
    pages = sum(_is_page(makers))
    if left is not None:
        left.pages = pages
    return pages


_name: Callable[[plan.Maker], str] = operator.attrgetter("name")
_url: Callable[[plan.Maker], str | None] = operator.attrgetter("url")
_reads: Callable[[plan.Maker], tuple[Key, ...]] = operator.attrgetter("reads")


def _is_page(makers: list[plan.Maker]) -> Iterator[bool]:
    """Whether each maker makes a page (has a URL), told in C (145,000 at 10,000 stories)."""
    return map(operator.is_not, map(_url, makers), itertools.repeat(None))


def _files(traces: dict[str, Trace]) -> Iterator[str]:
    """The names of the files the traces name (as a staging's spare: read at its commit,
    if at all)."""
    return (name for trace in traces.values() for name in trace.names)


def _write_all(
    staging: Staging,
    makers: list[plan.Maker],
    traces: dict[str, Trace],
    made: dict[str, Trace],
    written: object,
    spare: bool,
) -> dict[str, Trace]:
    """Keep the files of the makers that did not run and commit: the new traces."""
    kept = {m.name: traces[m.name] for m in makers if m.name not in made}
    # The spare holds, as the site does, every file the last build did not write.
    unsure = set(written) if spare and isinstance(written, list) else None
    for trace in kept.values():
        for name in trace.names:
            if unsure is None or name in unsure:
                staging.keep(name)
    new = {m.name: made.get(m.name) or kept[m.name] for m in makers}
    staging.commit(name for trace in new.values() for name in trace.names)
    return new


def _write_alike(
    staging: Staging,
    traces: dict[str, Trace],
    made: dict[str, Trace],
    written: list[str],
    gone: Iterable[str] = (),
) -> dict[str, Trace]:
    """`_write_all` when the new site's files have the old site's names, as have the
    spare's (the site before): it holds every file of the old site as that site holds it,
    but for those the last build `written`, and those `gone` (a copy of the site holds
    the files added to it by hand too). The new traces."""
    ran = {name for trace in made.values() for name in trace.names}
    for name in written:
        if name not in ran:
            staging.keep(name)
    new = dict(traces)
    new.update(made)
    staging.commit(gone=gone)  # (the spare holds no other file: the copy, those `gone`)
    return new


def _extras(names: list[str], traces: dict[str, Trace]) -> set[str]:
    """The names among `names` (of the files in a copy of the site) that no trace names:
    those added to the site by hand. (Told in C for the traces that name one file, as
    all but a few do: 145,000 at 10,000 stories.)"""
    extras = set(names)
    extras.difference_update(map(_ONE_FILE, traces.values()))
    for trace in [trace for trace in traces.values() if type(trace[1]) is not str]:
        extras.difference_update(trace.names)
    return extras


# The name of the one file a trace names, if it names one (see `Trace`).
_ONE_FILE = operator.itemgetter(1)


@dataclass(eq=False)
class _Left:
    """What the last `make_site` in this process left (serve's next rebuild starts there).

    `traces` describe the site it made (`site`, its stamp), made by `makers` (the list
    `plan.makers` gives again while the corpus has the same shape). With them: the traces
    inverted (`readers`) and each maker's place in the list, made when first needed and
    kept up to date; whether the spare beside the site, if any, has files of the same names
    as the site (`spare`: when the last build that wrote any was alike, see `make_site`);
    the records and summaries `_survey` found; the keys of the files the makers copy, and
    the number of pages.
    """

    makers: list[plan.Maker]
    traces: dict[str, Trace]
    site: object
    spare: bool
    records: Mapping[str, Record]
    summaries: dict[str, deps.Summary]
    readers: rebuild.Readers | None = None
    places: dict[str, int] | None = None
    copied: list[Key] | None = None
    pages: int | None = None

    def stale(self, changed: set[Key]) -> list[int]:
        """The places of the makers whose trace names a key `changed` (`rebuild.stale`
        for traces that tell what the site holds, with a trace for every maker)."""
        if self.readers is None:
            self.readers = rebuild.Readers(self.traces)
        if self.places is None:
            self.places = {maker.name: place for place, maker in enumerate(self.makers)}
        places = self.places
        return sorted(places[name] for name in self.readers.stale(changed))


# What the last `make_site` in this process left: one site at a time (a second one, or the
# first again after the second, starts afresh).
_left: _Left | None = None


def _leave(
    makers: list[plan.Maker],
    traces: dict[str, Trace],
    made: dict[str, Trace],
    site: object,
    same: _Left | None,
    corpus: Corpus,
    summaries: dict[str, deps.Summary],
    alike: bool,
) -> None:
    """Note what this `make_site` left, for the next in this process (see `_Left`)."""
    global _left
    if same is None:
        # (a spare left by this process, with no other files, is what `alike` knows)
        left = _left if _left is not None and _left.makers is makers else None
        copied, pages = (left.copied, left.pages) if left is not None else (None, None)
        _left = _Left(makers, traces, site, False, corpus.records, summaries)
        _left.copied, _left.pages = copied, pages
        return
    if made:
        if same.readers is not None:
            same.readers.update(traces, made)
        # The spare is the old site: the same files as this one, if alike.
        same.spare = alike
    same.traces, same.site = traces, site
    same.records, same.summaries = corpus.records, summaries


def _survey(
    corpus: Corpus,
    links: Links,
    memo: Memo,
    known: bool,
    copied: list[Key],
    asked: tuple[Key, ...],
) -> tuple[dict[str, deps.Summary], set[Key] | None]:
    """The summary of every record, and the keys that may have changed since the build the
    memo remembers (None: any key may have): see `deps.survey`; with the keys every build
    works out (`asked`: the global keys, the templates'), and the keys makers read whatever
    the corpus holds (`copied`: files copied into the site)."""
    last = memo.old.get(_SUMMARIES)
    if not known or not isinstance(last, dict):
        return {i: deps.summary(r, links) for i, r in corpus.records.items()}, None
    # The records of the build that `last` summarises, if this process made it.
    before = _left.records if _left is not None and _left.summaries is last else None
    summaries, suspects = deps.survey(corpus, links, last, before)
    suspects.update(copied)
    suspects.update(asked)
    return summaries, suspects


def _copied(makers: list[plan.Maker]) -> list[Key]:
    """The keys of the files the makers copy into the site (once per list of makers)."""
    left = _left if _left is not None and _left.makers is makers else None
    if left is not None and left.copied is not None:
        return left.copied
    # (Told in C: the search index alone reads 187,000 keys at 10,000 stories.)
    files = operator.methodcaller("startswith", deps.key("file", ""))
    found = list(filter(files, itertools.chain.from_iterable(map(_reads, makers))))
    if left is not None:
        left.copied = found
    return found


# The dependency record's entries in the cache: the traces of every maker, the value of
# every key they name, the stamp of the site they describe, and of the spare beside it
# with the traces of its files, and the files the last build that wrote any wrote.
_TRACES, _SEEN, _SITE, _SPARE, _SPARE_FILES = "traces", "seen", "site", "spare", "spare files"
_WRITTEN = "written"
# The spare's traces when its files have the names of the site's (`alike`): those of the
# site stand for them.
_SITE_FILES = "the site's"
# Whether the spare holds files of the same names as the site (the last build that wrote
# any wrote files of the names its site had: see `make_site`'s `alike`).
_SPARE_ALIKE = "spare alike"
# A summary of every record, to tell the next build what changed (`deps.survey`).
_SUMMARIES = "summaries"
# The table of keys the traces are packed with (see `rebuild.Trace`).
_KEYS = "keys"
# The keys of the files the makers copy into the site (see `_copied`).
_COPIED = "copied"
# The page templates as Jinja compiled them (see `plan.Compiled`).
_COMPILED = "compiled"
# The keys the search index's maker reads, and the ids they are made for (`plan.index_reads`).
_INDEX_READS = "index reads"


def _fingerprints(corpus: Corpus, links: Links, templates: Path) -> Fingerprints:
    """The values of the keys, knowing those every build works out: what every maker reads
    (the site settings, the kinds present) and each template (a page reads those it is
    rendered with), with the digest of them all (the Jinja environment's version)."""
    kinds = tuple(kind for kind in KINDS if corpus.of_kind(kind))
    files = sorted(p for p in templates.rglob("*") if p.is_file())
    found = {p.relative_to(templates).as_posix(): digest_bytes(p.read_bytes()) for p in files}
    shown = "".join(f"{name}\0{value}\0" for name, value in found.items())
    each = {deps.key(deps.TEMPLATE, name): value for name, value in found.items()}
    globals_ = {"site": digest(repr(corpus.site)), "kinds": repr(kinds)}
    return Fingerprints(corpus, links, globals_, {**each, "templates": digest(shown)})


def _without_drafts(
    corpus: Corpus, options: Options, memo: Memo | None = None
) -> tuple[Corpus, frozenset[str]]:
    """The corpus without its draft stories (unless options.drafts), and their ids.

    With the memo of the last call in this process, only the records that changed since
    are looked at, and the corpus kept takes over what the last one worked out.
    """
    if options.drafts:
        return corpus, frozenset()
    last = memo.old.get(_DRAFTS) if memo is not None else None
    records = corpus.records
    changed = None
    if isinstance(last, _Drafts):
        changed = changed_records(last.given, records, _FEW_RECORDS)
    if not isinstance(last, _Drafts) or changed is None:
        # (the record knows, its fields packed or not: see `Record.draft`)
        drafts = frozenset(i for i, r in records.items() if r.draft)
    else:
        drafts = last.drafts.difference(changed).union(i for i in changed if records[i].draft)
    if not drafts:
        kept = corpus
    else:
        kept = Corpus(corpus.site, {i: r for i, r in records.items() if i not in drafts})
    if isinstance(last, _Drafts) and changed is not None and drafts == last.drafts:
        kept.follow(last.kept, [i for i in changed if i not in drafts])
    if memo is not None:
        memo.new[_DRAFTS] = _Drafts(records, drafts, kept)
    return kept, drafts


def _output_error(path: Path, message: str, code: str = "E0601") -> Diagnostic:
    return Diagnostic(Location(path.as_posix()), Severity.ERROR, code, message)
