"""Resolve every reference and [[link]], render the Markdown, and compute typed backlinks.

Input: the Corpus. Output: `Links` (the typed edges of the fact graph, the backlinks of every
record grouped by relation, the rendered HTML of every Markdown field, the records tied to
each story) and a diagnostic for every reference that names no record or the wrong kind.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import itertools
import operator
import re
import sys
import weakref
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar, cast

from . import cache
from .cache import Memo, fingerprint
from .diagnostics import Diagnostic, Diagnostics, Location, clip, did_you_mean
from .markup import (
    MarkupTooComplex,
    Rendered,
    find_links,
    plain_text,
    render_inline,
    render_markdown,
)
from .model import (
    Citation,
    Corpus,
    InMemory,
    Publisher,
    Record,
    Ref,
    Text,
    changed_records,
    text_size,
)
from .schema import ANY, RECORD_KINDS, SCHEMAS, SINGULAR, STORY, TITLES, Field
from .urls import output_path, record_url
from .workers import even_slices, run_all

MENTIONS = "Mentioned in"
CITED_BY = "Cited by"
STORY_LINKS = f"{MENTIONS} {TITLES[STORY].lower()}"
# Ids the story page itself uses; headings in a story body must not take them.
RESERVED_IDS = frozenset({"main", "facts", "chronology", "sources", "backlinks", "story", "search"})


class Edge(NamedTuple):
    """`source` refers to `target`; `relation` names how ('notes.to', 'mentions').

    A tuple (compared and hashed as the tuple of its fields, as a frozen dataclass would
    be), without a `__dict__`: the memo keeps every record's edges, some 400,000 at 10,000
    stories. It unpickles by `tuple.__new__`, in C, not by a Python call per edge.
    """

    source: str
    target: str
    relation: str
    label: str

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # The target interned: the very str of the record it names (see `model._intern`),
        # which the markdown memo's pickle refers to, not a copy per edge.
        return _new_tuple, (Edge, tuple(map(_intern, self)))


_new_tuple = tuple.__new__
_intern = sys.intern


class _Edges(tuple[Edge, ...]):
    """One record's edges (a visit's, in order; never none), all from that record.

    Pickled as the record's id and the other fields of each edge in turn, one flat tuple of
    interned strs, and made again in C (`_edges`): not by a call per edge with two tuples
    of arguments, of which the memo keeps 665,000 at 10,000 stories (a new process's load
    of them, alone, on a loaded machine: 0.57-0.70 s -> 0.35-0.48 s).
    """

    __slots__ = ()

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        fields = itertools.chain.from_iterable(map(_TARGET_ON, self))
        return _edges, (_intern(self[0].source), tuple(map(_intern, fields)))


def _edges(source: str, fields: tuple[str, ...]) -> _Edges:
    """Unpickled _Edges: from `source`, to each (target, relation, label) of `fields`."""
    each = iter(fields)
    made = map(_new_tuple, itertools.repeat(Edge), zip(itertools.repeat(source), *[each] * 3))
    return _new_tuple(_Edges, made)


# An edge's fields but its source.
_TARGET_ON = operator.itemgetter(1, 2, 3)


@dataclass(frozen=True)
class Links:
    edges: tuple[Edge, ...]
    # target id -> ((label, (source ids, sorted)), ...) in the order labels are first declared
    backlinks: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]]
    # (record id, field name) -> rendered HTML; a story's body is field "body"
    html: Mapping[tuple[str, str], str]
    # story id -> ids of the records tied to it (by its lists, their `stories`, body links)
    story_members: Mapping[str, tuple[str, ...]]
    # source id -> actor id, when a source's publisher names an actor
    publishers: Mapping[str, str]
    # The records visited afresh (the others' findings came from the memo, unchanged):
    # only their edges, HTML and publisher can differ from the last build's.
    revisited: frozenset[str] = dataclasses.field(default=frozenset(), compare=False, repr=False)
    # When worked out by difference from other Links (serve): those (weakly) and the ids
    # whose edges in or out may differ from theirs; None: unknown.
    delta: tuple[Callable[[], Links | None], frozenset[str]] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )

    def plain(self, record_id: str, name: str) -> str:
        """A Markdown field as plain text ([[links]] become their names), for machines."""
        return plain_text(self.html.get((record_id, name), ""))

    def outgoing(self, source: str) -> tuple[Edge, ...]:
        return self._by_source.get(source, ())

    def incoming(self, target: str) -> tuple[Edge, ...]:
        return self._by_target.get(target, ())

    @cached_property
    def _by_source(self) -> dict[str, tuple[Edge, ...]]:
        return _index(self.edges, lambda e: e.source)

    @cached_property
    def _by_target(self) -> dict[str, tuple[Edge, ...]]:
        return _index(self.edges, lambda e: e.target)


def _index(edges: tuple[Edge, ...], key: Callable[[Edge], str]) -> dict[str, tuple[Edge, ...]]:
    grouped: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        grouped[key(edge)].append(edge)
    return {k: tuple(v) for k, v in grouped.items()}


def link_corpus(
    corpus: Corpus,
    hidden: frozenset[str] = frozenset(),
    jobs: int = 1,
    memo: Memo | None = None,
    keep: bool = True,
) -> tuple[Links, list[Diagnostic]]:
    """Resolve and render. `hidden` ids (draft stories left out) are not errors to link to.

    A memo of earlier builds gives what visiting a record found, when the record is the same
    and every question the visit asked of other records gets the same answer; a record it
    does not give is visited, with the rendering of each text whose links all look the same
    as then. With jobs > 1, forked workers visit slices of those records. Findings are merged
    in the records' order, so the result is the same as visiting them all here one by one.

    `keep`: leave in the memo what the next link in this process works by difference from
    (see `_State`); a process that builds once has no next link.

    A new process whose records are but a few those of the memo's last link works by
    difference from what that link kept in the memo (see `_resumed`).
    """
    memo = memo if memo is not None else Memo()
    quick = _by_difference(corpus, hidden, memo)
    if quick is None:
        quick = _resumed(corpus, hidden, memo, keep)
    if quick is not None:
        return quick
    records = list(corpus)
    ids = list(map(_ID, records))
    world = _World(corpus, hidden)
    allow_html = corpus.site.allow_html
    # What follows is told in C for every record but those visited afresh or whose record
    # is not the very object the memo holds: a new process's link after one story's edit
    # goes through some 62,500 records at 10,000 stories, each looked at as the others.
    keys = list(map(f"{_RECORD}{allow_html}:".__add__, ids))
    cache.recall_all(memo.old)  # (every visit and rendering, shelved: see `_shelved`)
    entries = list(map(memo.old.get, keys, itertools.repeat(_NO_ENTRY)))
    same = list(map(operator.is_, map(_FIRST, entries), records))  # the very record
    if _same_answers(world, ids, same, memo.old):
        # Every record's questions get the answers they got: a record that is the very
        # object the memo holds is visited as then, without asking them again.
        visits = list(map(_SECOND, entries))
        for i in itertools.compress(itertools.count(), map(operator.not_, same)):
            visits[i] = world.recall(_entry(entries[i]), records[i])
    else:
        visits = [world.recall(_entry(e), r) for e, r in zip(entries, records, strict=True)]
    missing = map(operator.is_, visits, itertools.repeat(None))
    todo = list(itertools.compress(itertools.count(), missing))

    def visit(start: int, stop: int) -> list[_Visit]:
        # The findings only: the world holds the corpus, which must not cross the pipe.
        return [_Linker(world, memo).findings(records[i]) for i in todo[start:stop]]

    tasks = [partial(visit, a, b) for a, b in _even_slices([records[i] for i in todo], jobs * 4)]
    found_all = itertools.chain.from_iterable(run_all(tasks, jobs))
    shared: dict[Any, Any] = {}
    for i, found in zip(todo, found_all, strict=True):
        visits[i] = _shared(found, shared) if jobs > 1 else found
    made_visits = cast(list[_Visit], visits)
    edges = list(map(_EDGES, made_visits))
    by_source: dict[str, tuple[Edge, ...]] = dict(
        itertools.compress(zip(ids, edges, strict=True), edges)
    )
    html: dict[tuple[str, str], str] = {}
    _each(html.update, map(_HTML, made_visits))
    publisher_of = list(map(_PUBLISHER, made_visits))
    named = map(operator.is_not, publisher_of, itertools.repeat(None))
    publishers: dict[str, str] = dict(
        itertools.compress(zip(ids, publisher_of, strict=True), named)
    )
    kept = memo.new
    _each(kept.update, map(_RENDERED, made_visits))
    # Each record's entry: the memo's as it is, where the record and its visit are the very
    # ones it holds; then, in their places, those of the others (a visit that gave a
    # message is not kept: a message may suggest any id, "did you mean").
    kept.update(zip(keys, entries, strict=True))
    unchanged = map(operator.and_, same, map(operator.is_, map(_SECOND, entries), made_visits))
    for i in itertools.compress(itertools.count(), map(operator.not_, unchanged)):
        kept[keys[i]] = (records[i], made_visits[i])
    diagnostics = Diagnostics()
    for i in itertools.compress(itertools.count(), map(_DIAGNOSTICS, made_visits)):
        diagnostics.extend(made_visits[i].diagnostics)
        del kept[keys[i]]
    # What the next build needs to tell which answers changed: the records then (their
    # entries, every one kept: none had a diagnostic; the records, in the `_Whole`) and
    # the drafts left out.
    memo.new[_LAST] = (
        None if diagnostics.items else {"allow_html": allow_html, "hidden": tuple(sorted(hidden))}
    )
    kinds = map(operator.eq, map(_KIND, records), itertools.repeat(STORY))
    stories = frozenset(itertools.compress(ids, kinds))
    derived = memo.new[_DERIVED] = _derive(stories, by_source, memo.old.get(_DERIVED))
    revisited = frozenset(map(ids.__getitem__, todo))
    made = derived.links(html, publishers, revisited)
    if not diagnostics.items:
        uses = dict(Counter(itertools.chain.from_iterable(map(_RENDERED, made_visits))))
        whole = _keep_whole(memo, corpus, made, uses)
        if keep:
            _keep_state(memo, corpus, hidden, made, whole)
    return made, diagnostics.items


# A record's id and kind; a visit's parts (see `_Visit`); an entry's record and visit.
_ID, _KIND = attrgetter("id"), attrgetter("kind")
_EDGES, _HTML, _PUBLISHER = attrgetter("edges"), attrgetter("html"), attrgetter("publisher")
_DIAGNOSTICS, _RENDERED = attrgetter("diagnostics"), attrgetter("rendered")
_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)
# The entry of a record the memo holds none for: no record, no visit (told apart in C).
_NO_ENTRY = (None, None)


def _entry(entry: Any) -> Any:
    """A memo's entry for a record, None for none (see `_NO_ENTRY`)."""
    return None if entry is _NO_ENTRY else entry


def _each(call: Callable[[Any], object], items: Iterator[Any]) -> None:
    """Call `call` with each item in turn, in C (a deque that keeps nothing drives the loop)."""
    deque(map(call, items), maxlen=0)


def _shared(found: _Visit, answers: dict[Any, Any]) -> _Visit:
    """A visit a worker sent, its questions and answers one object each across the visits of
    every worker (`answers`: each answer met so far, by its type and value), as a visit made
    here asks them (`_question`): each worker's results came as copies of their own (at
    10,000 stories, some 250,000 strings and tuples)."""
    asked = tuple(map(sys.intern, found.asked))
    shared = []
    for answer in found.answers:
        with contextlib.suppress(TypeError):  # unhashable: kept as it came
            answer = answers.setdefault((type(answer), answer), answer)
        shared.append(answer)
    # A rendering's lookups are answers to "link" questions the visit asked: the same.
    rendered = found.rendered
    if rendered:
        link = dict(zip(asked, shared, strict=True))
        rendered = {key: _shared_lookups(known, link) for key, known in rendered.items()}
    return found._replace(asked=asked, answers=tuple(shared), rendered=rendered)


def _shared_lookups(known: _Rendering, link: dict[str, Any]) -> _Rendering:
    """A rendering with the shared answers of the visit that made it (`link`: by question)."""
    lookups = list(known.lookups)
    if not lookups:
        return known
    ids = lookups[0::2] = list(map(sys.intern, lookups[0::2]))
    lookups[1::2] = [
        link.get(_question("link", i), answer) for i, answer in zip(ids, lookups[1::2], strict=True)
    ]
    return _new_tuple(_Rendering, (known.rendered, tuple(lookups)))


@dataclass(eq=False)
class _State(InMemory):
    """What the last link left in this process (never in the build cache: it pickles as
    None), for the next link to work by difference: the records it linked (the very
    objects), the drafts left out, its Links, and what it kept for a new process (its
    `_Whole`: the uses of each rendering, how many entries it left in the memo)."""

    records: Mapping[str, Record]
    hidden: frozenset[str]
    links: Links
    derived: _Derived
    last: dict[str, Any]
    whole: _Whole


# The memo's entry for the last link's _State; and the entries of other stages' states that
# the memo may hold beside the link stage's own (not counted in `_Whole.size`).
_STATE = "links:state"
STATES = ("drafts:state", "check:state")


class _Whole(NamedTuple):
    """What a link without diagnostics worked out from all its visits, for a new process's
    next link to work by difference from (see `_resumed`): the records it linked (the very
    objects), its Links' HTML and publishers, how many of its visits used each rendering,
    and how many entries it left in the memo (see `_counted`).

    Kept in the memo (and the build cache) as its parts, each a dict in an entry of its
    own (`_PARTS`), and its size (`_WHOLE`): the build cache's delta writes the items of
    such a dict that changed, and its load puts them in the dict loaded. (As one entry,
    each dict that changed was written as a patch of the last, which a load applies to a
    copy: at 2,000 stories, the HTML's 19,000 fields and as many uses copied for every
    delta in the chain after a story's edit, 5 of the 8 ms each delta took to load.)"""

    records: dict[str, Record]
    html: dict[tuple[str, str], str]
    publishers: dict[str, str]
    uses: dict[str, int]
    size: int


# The memo's entries for the last link's _Whole: its dicts in turn, and its size.
_PARTS = ("links:records", "links:html", "links:publishers", "links:uses")
_WHOLE = "links:whole"


def _whole(old: Mapping[str, Any]) -> _Whole | None:
    """The _Whole the memo's entries keep, if they keep one."""
    parts: list[Any] = list(map(old.get, _PARTS))
    size = old.get(_WHOLE)
    if type(size) is not int or not all(type(part) is dict for part in parts):
        return None
    return _Whole._make((*parts, size))


def _counted(entries: Mapping[str, Any]) -> int:
    """How many of the memo's entries a link made, but for its states: the records' visits,
    the renderings they used, and what was derived from them (`_LAST`, `_DERIVED`, the
    `_Whole`'s dicts)."""
    return len(entries) - sum(1 for name in (*STATES, _STATE, _WHOLE) if name in entries)


def _keep_whole(memo: Memo, corpus: Corpus, made: Links, uses: dict[str, int]) -> _Whole:
    # (the Links' very dicts, as `link_corpus` and `_patched` make them: typed as Mappings)
    html = cast(dict[tuple[str, str], str], made.html)
    whole = _Whole(_linked(corpus), html, cast(dict[str, str], made.publishers), uses, 0)
    new = memo.new
    new.update(zip(_PARTS, whole[:-1], strict=True))  # (its dicts: all but its size)
    size = new[_WHOLE] = _counted(new)
    return whole._replace(size=size)


def _keep_state(
    memo: Memo, corpus: Corpus, hidden: frozenset[str], made: Links, whole: _Whole
) -> None:
    """After `_keep_whole`, which gave `whole`."""
    new = memo.new
    new[_STATE] = _State(corpus.records, hidden, made, new[_DERIVED], new[_LAST], whole)


# Up to this many records changed, a link works by difference from the last one's _State.
_FEW_RECORDS = 32


def _by_difference(
    corpus: Corpus, hidden: frozenset[str], memo: Memo
) -> tuple[Links, list[Diagnostic]] | None:
    """The Links of the corpus worked out from the last link's in this process, visiting
    only the records that are not the very objects it linked; None where unsure (records
    added or removed, drafts or settings changed, an answer about a changed record that
    differs, a diagnostic, ...): then the whole corpus is linked as usual.

    Every other record asks the same questions as then and gets the same answers (they are
    about the records, and only the changed ones' answers could differ: they do not), so
    its visit is the one the memo holds; and the memo's entries are those a whole link
    would leave.
    """
    old = memo.old
    state = old.get(_STATE)
    if (
        not isinstance(state, _State)
        or state.last is None
        or old.get(_LAST) is not state.last
        or old.get(_DERIVED) is not state.derived
        or old.get(_WHOLE) != state.whole.size
        or any(map(operator.is_not, map(old.get, _PARTS), state.whole[:-1]))
        or _counted(old) != state.whole.size
        or state.hidden != hidden
        or state.last["allow_html"] != corpus.site.allow_html
    ):
        return None
    changed = changed_records(state.records, corpus.records, _FEW_RECORDS)
    if changed is None:
        return None
    patched = _patched(corpus, hidden, memo, changed, state.whole, state.derived, True)
    if patched is None:
        return None
    made, touched = patched
    vars(made)["delta"] = (weakref.ref(state.links), touched)
    return made, []


def _resumed(
    corpus: Corpus, hidden: frozenset[str], memo: Memo, keep: bool
) -> tuple[Links, list[Diagnostic]] | None:
    """A new process's link by difference (as `_by_difference` in one process) from what
    the memo's last link worked out from all its visits (`_Whole`), when the memo holds
    that link's entries and no other, the same drafts are left out, and the records have
    the ids it linked, at most `_FEW_RECORDS` of them not the very objects it linked
    (`_Whole.records`: told in C, place by place, without a memo key made and looked up
    per record, nor any record looked at). None where unsure: then the whole corpus is
    linked as usual.

    One story's edit at 10,000 stories: not the Links' HTML gathered again from 62,500
    visits, the renderings they used and the memo's entries put back one visit at a time.
    """
    old = memo.old
    whole, last, derived = _whole(old), old.get(_LAST), old.get(_DERIVED)
    if (
        whole is None
        or not isinstance(derived, _Derived)
        or not isinstance(last, dict)
        or _counted(old) != whole.size
        or last["allow_html"] != corpus.site.allow_html
        or last["hidden"] != tuple(sorted(hidden))
    ):
        return None
    # (The same ids in the same order: records that are the very objects have their ids,
    # and the others are asked about below, each as then: see `_same_answers`.)
    changed = changed_records(whole.records, corpus.records, _FEW_RECORDS)
    if changed is None:
        return None
    patched = _patched(corpus, hidden, memo, changed, whole, derived, keep)
    return None if patched is None else (patched[0], [])


def _patched(
    corpus: Corpus,
    hidden: frozenset[str],
    memo: Memo,
    changed: list[str],
    whole: _Whole,
    derived: _Derived,
    keep: bool,
) -> tuple[Links, frozenset[str]] | None:
    """The Links of the corpus, `changed` records visited again (or recalled) and the last
    link's findings for the others (`whole`: the records it linked, its HTML, publishers
    and uses, patched in copies where the visits found otherwise: see `_updated`;
    `derived`: its edges' derived parts); and the ids whose edges in or out may differ
    from the last link's.
    The memo's entries are those a whole link would leave. None where unsure (see
    `_by_difference`), the memo left as it was."""
    old = memo.old
    records = corpus.records
    world = _World(corpus, hidden)
    prefix = f"{_RECORD}{corpus.site.allow_html}:"
    visits: dict[str, tuple[_Visit, _Visit]] = {}
    revisited = []
    for record_id in changed:
        record, then = records[record_id], whole.records[record_id]
        if record.kind != then.kind:
            return None
        for question in ("record", "link", "hidden"):
            now = world.answers[_question(question, record_id)]
            if now != _answer(question, then, record_id in hidden):
                return None
        entry = cache.recall(old, prefix + record_id)
        if entry is None or entry[0] is not then:  # (the memo's visit is of another record)
            return None
        found = world.recall(entry, record)
        if found is None:
            found = _Linker(world, memo).findings(record)
            revisited.append(record_id)
        last: _Visit = entry[1]
        if (
            found.diagnostics
            or list(found.html) != list(last.html)
            or (found.publisher is None) != (last.publisher is None)
            or bool(found.edges) != bool(last.edges)
        ):
            return None
        visits[record_id] = (last, found)
    kept = memo.new
    states = {name: kept[name] for name in STATES if name in kept}  # this build's
    kept.update(old)  # every entry the last link left, patched below
    for name in STATES:
        kept.pop(name, None)
    kept.update(states)
    # What the visits found that may differ from the last link's: each an item of a key the
    # last link's dict holds (its visit found that HTML field, a publisher, edges: see above).
    html: dict[tuple[str, str], str] = {}
    publishers: dict[str, str] = {}
    edges: dict[str, tuple[Edge, ...]] = {}
    uses = whole.uses
    touched = set(changed)  # the ids whose edges in or out may differ from the last link's
    for record_id, (last, found) in visits.items():
        touched.update(edge.target for edge in itertools.chain(last.edges, found.edges))
        html.update(found.html)
        if found.publisher is not None:
            publishers[record_id] = found.publisher
        if found.edges:
            edges[record_id] = found.edges
        added = found.rendered.keys() - last.rendered.keys()
        gone = last.rendered.keys() - found.rendered.keys()
        if (added or gone) and uses is whole.uses:
            uses = dict(uses)
        for key in added:
            uses[key] = uses.get(key, 0) + 1
        for key in gone:
            uses[key] -= 1
            if not uses[key]:
                del uses[key], kept[key]
        kept.update(found.rendered)
        entry, record = old[prefix + record_id], records[record_id]
        same = entry[1] is found and entry[0] is record
        kept[prefix + record_id] = entry if same else (record, found)
    by_source = _updated(derived.by_source, edges)
    if by_source is not derived.by_source:
        derived = _derive(derived.stories, by_source, derived, changed)
    kept[_DERIVED] = derived
    html = _updated(whole.html, html)
    made = derived.links(html, _updated(whole.publishers, publishers), frozenset(revisited))
    kept_whole = _keep_whole(memo, corpus, made, uses)
    if keep:
        _keep_state(memo, corpus, hidden, made, kept_whole)
    return made, frozenset(touched)


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def _updated(given: Mapping[_Key, _Value], changes: dict[_Key, _Value]) -> dict[_Key, _Value]:
    """`given` with the `changes` (items of keys it holds): a copy if any differs from its
    item there; otherwise the very dict. A copy writes to every item (its count of
    references), scattered in memory (at 2,000 stories, 10 ms for the HTML's 19,000 fields,
    5 ms for the edges by source, measured while a `rebuild.Look` forked after the load
    shared this process's pages, each copied before it was written to). And a dict the
    memo held as it was is one the build cache's save need not look into."""
    if type(given) is dict and all(map(operator.eq, map(given.get, changes), changes.values())):
        return given
    made = dict(given)
    made.update(changes)
    return made


def _same_answers(world: _World, ids: list[str], same: list[bool], old: dict[str, Any]) -> bool:
    """Whether every question about a record gets the answer the memo's visits got: the
    memo holds every record of one build (`_LAST`), and the ids added, removed, drafted,
    or whose record is not the very object it was, are each asked about as then.

    (An answer depends on the one record asked about and on whether it is a draft left
    out: about any other id it is the same as then.)
    """
    last, records = old.get(_LAST), old.get(_PARTS[0])  # (the records: see `_Whole`)
    if not isinstance(last, dict) or last.get("allow_html") != world.corpus.site.allow_html:
        return False
    if not isinstance(records, dict):
        return False
    then_ids, then_hidden = records.keys(), frozenset(last["hidden"])
    moved = (then_ids ^ world.corpus.records.keys()) | (then_hidden ^ world.hidden)
    moved.update(itertools.compress(ids, map(operator.not_, same)))
    prefix = f"{_RECORD}{last['allow_html']}:"
    for target_id in moved:
        then = None
        if target_id in then_ids:
            entry = cache.recall(old, prefix + target_id)
            if entry is None:
                return False
            then = entry[0]
        for question in ("record", "link", "hidden"):
            now = world.answers[_question(question, target_id)]
            if now != _answer(question, then, target_id in then_hidden):
                return False
    return True


# The memo's entry for what the last link stage without diagnostics knew: allow_html and
# the ids of the drafts left out (its records: see `_Whole`).
_LAST = "links:last"


# What visiting a record costs beside rendering its Markdown, in characters of Markdown
# (python-markdown takes about a microsecond a character; a visit without text, 0.2 ms).
_VISIT_COST = 200


def _even_slices(records: list[Record], parts: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) bounds that cover the records in at most `parts` slices of
    about the same cost. Records come kind by kind, stories last: slices of equal length
    would leave all the story bodies, most of the work, to one or two workers."""
    return even_slices((_VISIT_COST + text_size(record) for record in records), parts)


# The memo's entries for whole visits: this prefix, the site's allow_html, the record's id.
_RECORD = "record:"


def _shelved(key: str) -> bool:
    """Whether the memo's entry is a record's visit, or a rendering (a fingerprint's key)."""
    return key.startswith(_RECORD) or (len(key) == _FINGERPRINT and ":" not in key)


_FINGERPRINT = len(fingerprint())


def _held_by_visits(entries: dict[str, Any]) -> list[Any]:
    """The objects that visits hold, and other entries, or other visits, hold too: the HTML
    of their fields, and its keys (the `_Whole`'s), their edges (the `_Derived`'s, by
    source); the questions they asked and the answers they got (many visits ask about the
    same records: at 10,000 stories, a copy of each in each chunk that asks would be 2
    million objects more, each time every visit is recalled)."""
    html, derived = entries.get(_PARTS[1]), entries.get(_DERIVED)
    shared = [*html, *html.values()] if type(html) is dict else []
    if isinstance(derived, _Derived) and type(derived.by_source) is dict:
        shared.extend(derived.by_source.values())
    asked: dict[int, Any] = {}
    for visit in map(_SECOND, filter(_is_entry, entries.values())):
        asked.update(zip(map(id, visit.asked), visit.asked, strict=True))
        asked.update((id(answer), answer) for answer in visit.answers if type(answer) is not bool)
    asked.pop(id(None), None)  # (None, True, False: written in a byte, never referred to)
    shared.extend(asked.values())
    return shared


def _is_entry(value: Any) -> bool:
    """Whether a memo's value is a record's entry: the record and its visit."""
    return type(value) is tuple and len(value) == 2 and type(value[1]) is _Visit


# A new process's link after a few records changed looks up those records' visits and the
# renderings they used, of the 158,000 entries its memo holds at 10,000 stories: a base
# shelves those (see `cache.Shelving`), and the link recalls them.
cache.SHELVES["markdown"] = cache.Shelving(_shelved, _held_by_visits)


# A Rendered's fields (html, links, unresolved, rejected_urls), as the memo keeps them.
_Fields = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]


class _Rendering(NamedTuple):
    """A rendering in the memo (under its Markdown text's key), and every lookup it made.

    Unpickled, the rendering is the tuple of its Rendered's fields (see `__reduce_ex__`),
    made a Rendered when the memo gives it to a visit (`_made`)."""

    rendered: Rendered | _Fields
    lookups: tuple[Any, ...]  # id, answer, id, answer... (flat: no pair per lookup)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # Unpickled by tuple.__new__ (in C), the ids interned (see `Edge.__reduce_ex__`);
        # the Rendered as a tuple, loaded in C too, not by a Python call per rendering
        # (the memo keeps some 95,000 at 10,000 stories, and a build uses a few).
        lookups = list(self.lookups)
        lookups[0::2] = map(_intern, lookups[0::2])
        made = self.rendered
        if isinstance(made, Rendered):
            made = made.html, made.links, made.unresolved, made.rejected_urls
        html, ids, unresolved, rejected_urls = made
        rendered = (html, tuple(map(_intern, ids)), unresolved, rejected_urls)
        return _new_tuple, (_Rendering, (rendered, tuple(lookups)))


def _made(rendered: Rendered | _Fields) -> Rendered:
    """A memo's rendering as a Rendered (see `_Rendering`)."""
    return rendered if isinstance(rendered, Rendered) else Rendered(*rendered)


class _Target(NamedTuple):
    """What a reference learns of the record it names."""

    kind: str
    type: Any


class _Visit(NamedTuple):
    """What visiting one record found, and every question it asked of other records.

    The memo keeps one for every record, so it is lean: few objects, and shared strings.
    """

    edges: tuple[Edge, ...]  # in order (an _Edges; none: ())
    html: dict[tuple[str, str], str]
    publisher: str | None  # the actor a source's publisher names
    diagnostics: tuple[Diagnostic, ...]
    rendered: dict[str, _Rendering]  # the renderings it used, for the memo
    asked: tuple[str, ...]  # the questions it asked (_question: shared strings)...
    answers: tuple[Any, ...]  # ...and their answers, in turn

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # Unpickled by tuple.__new__, in C, not by the named tuple's own __new__: a Python
        # call per visit, and a new process loads every record's (62,505 at 10,000 stories).
        return _new_tuple, (_Visit, tuple(self))


def _question(question: str, target_id: str) -> str:
    """A question about an id as one string ("r:actor-1"): quick to look up, and interned,
    so that the memo keeps one copy however many records ask it."""
    return sys.intern(f"{question[0]}:{target_id}")


class _Answers(dict[str, Any]):
    """_question -> answer, each worked out (by `work_out`) when first asked."""

    def __init__(self, work_out: Callable[[str], Any]) -> None:
        super().__init__()
        self.work_out = work_out

    def __missing__(self, key: str) -> Any:
        answer = self[key] = self.work_out(key)
        return answer


def _answer(question: str, target: Record | None, hidden: bool) -> Any:
    """The answer to a question ("record", "link", "hidden"; or their first letter) about
    an id, given its record (None: no such record) and whether it is a draft left out."""
    answer: Any
    if question[0] == "h":
        answer = hidden
    elif target is None:
        answer = None
    elif question[0] == "r":
        answer = _Target(target.kind, target.type)
    else:
        answer = (output_path(record_url(target)), target.name)
    return answer


class _World:
    """The records as a visit sees them from another one. Every answer is kept (`answers`):
    many records ask about the same few, and a memoized visit is checked by asking its
    questions again."""

    def __init__(self, corpus: Corpus, hidden: frozenset[str]) -> None:
        self.corpus = corpus
        self.hidden = hidden
        self.answers = _Answers(self.work_out)

    def work_out(self, key: str) -> Any:
        """The answer to a _question not asked before: "record" (the _Target a reference
        finds), "link" (the page and name a [[link]] shows) or "hidden" (a draft left out?)
        about the id; None: no such record."""
        question, target_id = key[0], key[2:]
        target = self.corpus.records.get(target_id)
        return _answer(question, target, target_id in self.hidden)

    def recall(self, entry: Any, record: Record) -> _Visit | None:
        """The memo's visit of the record, if it is the same and all it asked still holds.

        Records of unchanged files are the very objects the parse memo kept; the others are
        compared by repr, which leaves out `Text.origin` (the whole file, for positions only).
        """
        if entry is None:
            return None
        seen, found = entry
        if seen is not record and repr(seen) != repr(record):
            return None
        # Every question asked again at once, and the answers compared as one tuple: this
        # runs for every record, and a loop in Python would take most of the time.
        if tuple(map(self.answers.__getitem__, found.asked)) != found.answers:
            return None
        return cast(_Visit, found)

    @cached_property
    def ids_by_kind(self) -> dict[str, list[str]]:
        """For "did you mean": worked out only when a message needs it."""
        ids: dict[str, list[str]] = defaultdict(list)
        for record in self.corpus.records.values():
            ids[record.kind].append(record.id)
        return ids


class _Linker:
    """Visits a record: what it finds there, and what it asks of other records to find it."""

    def __init__(self, world: _World, memo: Memo) -> None:
        self.world = world
        self.corpus = world.corpus
        self.memo = memo
        self.found: dict[str, _Rendering] = {}
        self.asked: dict[str, Any] = {}
        self.diagnostics = Diagnostics()
        self.edges: set[Edge] = set()
        self.html: dict[tuple[str, str], str] = {}
        self.publisher: str | None = None

    def findings(self, record: Record) -> _Visit:
        """Visit the record (a new _Linker for each): what it found and asked."""
        self.visit(record)
        return _Visit(
            edges=_Edges(sorted(self.edges, key=_EDGE_ORDER)) if self.edges else (),
            html=self.html,
            publisher=self.publisher,
            diagnostics=tuple(self.diagnostics.items),
            rendered=self.found,
            asked=tuple(self.asked),
            answers=tuple(self.asked.values()),
        )

    def ask(self, question: str, target_id: str) -> Any:
        """Every look at another record goes through here, to be asked again (`recall`)."""
        key = _question(question, target_id)
        answer = self.asked[key] = self.world.answers[key]
        return answer

    def add_edge(self, record: Record, target_id: str, relation: str, label: str) -> None:
        # Interned: the memo keeps every edge, and pickle writes a shared string once.
        self.edges.add(Edge(record.id, target_id, sys.intern(relation), sys.intern(label)))

    # --- references ----------------------------------------------------------------------

    def resolve(self, ref: Ref, kind: str, field: str) -> _Target | None:
        target: _Target | None = self.ask("record", ref.id)
        if target is None:
            if self.ask("hidden", ref.id):
                return None
            candidates = self.corpus.records if kind == ANY else self.world.ids_by_kind[kind]
            what = "record" if kind == ANY else SINGULAR[kind]
            self.diagnostics.error(
                ref.location,
                "E0401",
                f"'{field}' names no {what} '{clip(ref.id)}'{did_you_mean(ref.id, candidates)}",
            )
            return None
        if kind not in (ANY, target.kind):
            self.diagnostics.error(
                ref.location,
                "E0402",
                f"'{field}' must name {_article(SINGULAR[kind])}, but '{ref.id}' is "
                f"{_article(SINGULAR[target.kind])}"
                f"{did_you_mean(ref.id, self.world.ids_by_kind[kind])}",
            )
            return None
        return target

    def connect(self, record: Record, ref: Ref, field: Field, relation: str) -> None:
        kind = field.ref or ANY
        target = self.resolve(ref, kind, field.name)
        if target is not None and field.ref_types and target.type not in field.ref_types:
            self.diagnostics.error(
                ref.location,
                "E0402",
                f"'{field.name}' must name {' or '.join(_article(t) for t in field.ref_types)}, "
                f"but '{ref.id}' is {_article(target.type or SINGULAR[target.kind])}",
            )
            return
        if target is not None and field.backlink:
            self.add_edge(record, ref.id, relation, field.backlink)

    def visit(self, record: Record) -> None:
        for field in SCHEMAS[record.kind]:
            value = record.fields.get(field.name)
            if value is None:
                continue
            relation = f"{record.kind}.{field.name}"
            if field.type in ("ref", "refs"):
                for ref in value if isinstance(value, tuple) else (value,):
                    self.connect(record, ref, field, relation)
            elif field.type == "records":
                self.visit_entries(record, field, value, relation)
            elif field.type == "citations":
                self.visit_citations(record, value)
            elif field.type == "publisher":
                self.visit_publisher(record, value)
            elif field.type in ("inline", "markdown"):
                self.render(record, field.name, value, inline=field.type == "inline")
        if record.body is not None:
            self.render(record, "body", record.body, inline=False)

    def visit_entries(
        self, record: Record, field: Field, entries: tuple[dict[str, Any], ...], relation: str
    ) -> None:
        declared = {f.name: f for f in field.fields}
        for entry in entries:
            for name, value in entry.items():
                if isinstance(value, Ref):
                    self.connect(record, value, declared[name], f"{relation}.{name}")

    def visit_citations(self, record: Record, citations: tuple[Citation, ...]) -> None:
        for citation in citations:
            if self.resolve(citation.source, "sources", "sources") is not None:
                label = f"{CITED_BY} {TITLES[record.kind].lower()}"
                self.add_edge(record, citation.source.id, "cites", label)

    def visit_publisher(self, record: Record, publisher: Publisher) -> None:
        target: _Target | None = self.ask("record", publisher.text)
        if target is not None and target.kind == "actors":
            self.publisher = publisher.text
            self.add_edge(record, publisher.text, "sources.publisher", "Sources published")

    # --- Markdown ------------------------------------------------------------------------

    def lookup(self, target_id: str) -> tuple[str, str] | None:
        """What a [[link]] to the id shows: its page and name (None: no such record)."""
        return cast(tuple[str, str] | None, self.ask("link", target_id))

    def render(self, record: Record, name: str, text: Text, *, inline: bool) -> None:
        try:
            rendered = self.rendered(text.value, inline=inline)
        except MarkupTooComplex as error:
            self.too_complex(text, error, body=name == "body")
            return
        self.html[(record.id, name)] = rendered.html
        broken = [i for i in rendered.unresolved if not self.ask("hidden", i)]
        positions = dict(_positions(link_locations(text, inline=inline))) if broken else {}
        for target_id in rendered.links:
            if self.lookup(target_id) is not None:
                label = f"{MENTIONS} {TITLES[record.kind].lower()}"
                self.add_edge(record, target_id, "mentions", label)
        for index, target_id in enumerate(rendered.unresolved):
            if self.ask("hidden", target_id):
                continue
            where = positions.get((target_id, _nth(rendered.unresolved, index)), text.location)
            self.diagnostics.error(
                where,
                "E0403",
                f"[[{clip(target_id)}]] names no record"
                f"{did_you_mean(target_id, self.corpus.records)}; write \\[[ for literal brackets",
            )
        searched_from = 0
        for url in rendered.rejected_urls:
            where, searched_from = _find(text, url, searched_from, exact=name == "body")
            self.diagnostics.error(
                where,
                "E0404",
                f"the link target '{clip(url)}' is not allowed: use http, https or mailto "
                "links, or a [[link]] to a record",
            )

    def too_complex(self, text: Text, error: MarkupTooComplex, *, body: bool) -> None:
        """Python-markdown gave up where parse's cost check did not (its own recursion)."""
        if body:
            where = text.location.at(text.location.line + (error.line or 1) - 1, 1)
            self.diagnostics.error(where, "E0106", f"the story's Markdown is too complex: {error}")
        else:
            self.diagnostics.error(text.location, "E0106", f"the Markdown is too complex: {error}")

    def rendered(self, value: str, *, inline: bool) -> Rendered:
        """The text rendered, from the memo when every record it looked up looks the same."""
        allow_html = self.corpus.site.allow_html
        key = fingerprint(value, inline, allow_html)
        known = cache.recall(self.memo.old, key)
        if known is not None:
            lookups = known.lookups
            if all(map(operator.eq, map(self.lookup, lookups[0::2]), lookups[1::2])):
                self.found[key] = known
                return _made(known.rendered)
        looked_up: dict[str, tuple[str, str] | None] = {}

        def lookup(target_id: str) -> tuple[str, str] | None:
            looked_up[target_id] = self.lookup(target_id)
            return looked_up[target_id]

        # Parse made the record's Text only of a text that passed `check_complexity`, with
        # the `inline` of its field (a story's body: not inline), as rendering checks it.
        if inline:
            rendered = render_inline(value, lookup, allow_html=allow_html, checked=True)
        else:
            rendered = render_markdown(
                value, lookup, allow_html=allow_html, reserved_ids=RESERVED_IDS, checked=True
            )
        self.found[key] = _Rendering(
            rendered, tuple(itertools.chain.from_iterable(looked_up.items()))
        )
        return rendered


def _linked(corpus: Corpus) -> dict[str, Record]:
    """The corpus's records as `_Whole` keeps them: its very dict, if it is one."""
    records = corpus.records
    return records if type(records) is dict else dict(records)


# The memo's entry for what the last build derived from all the edges (a _Derived).
_DERIVED = "links:derived"

# Up to this share of the records whose edges changed, the derived parts are updated.
_FEW = 1 / 8

_Backlinks = tuple[tuple[str, tuple[str, ...]], ...]


class _Derived(NamedTuple):
    """What `Links` holds beside the HTML and publishers: the edges and all worked out from
    them (and from which records are stories). Kept in the memo for the next build: when the
    visits found the same edges, it is used again as it is; when a few records' edges
    changed, only the targets and stories those edges touch are worked out again."""

    stories: frozenset[str]
    by_source: dict[str, tuple[Edge, ...]]  # record id -> its visit's edges; none: left out
    by_target: Mapping[str, tuple[Edge, ...]]  # (loaded from the cache: a _ByTarget)
    edges: tuple[Edge, ...]  # every record's edges in turn: those of by_source, in its order
    backlinks: dict[str, _Backlinks]
    story_members: dict[str, tuple[str, ...]]

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # Without `edges`, which `by_source` gives (in C, as it was made): at 10,000 stories
        # a tuple of 660,000 references to the edges the visits hold, loaded one by one. And
        # `by_target`'s edges as their places in `edges`: the visits' edges pickle as their
        # fields (see `_Edges`), not as objects that another part could refer to.
        by_target = self.by_target
        if isinstance(by_target, _ByTarget) and by_target.edges is self.edges:
            targets, places = by_target.targets, by_target.places  # (as they were loaded)
        else:
            place = dict(zip(self.edges, itertools.count()))
            targets = tuple(by_target)
            places = tuple(tuple(map(place.__getitem__, group)) for group in by_target.values())
        parts = (self.stories, self.by_source, targets, places)
        return _derived, (*parts, self.backlinks, self.story_members)

    def links(
        self,
        html: dict[tuple[str, str], str],
        publishers: dict[str, str],
        revisited: frozenset[str],
    ) -> Links:
        made = Links(
            edges=self.edges,
            backlinks=self.backlinks,
            html=html,
            story_members=self.story_members,
            publishers=publishers,
            revisited=revisited,
        )
        # The edge indexes, as the cached properties would work them out.
        vars(made).update(_by_source=self.by_source, _by_target=self.by_target)
        return made


def _derived(
    stories: frozenset[str],
    by_source: dict[str, tuple[Edge, ...]],
    targets: tuple[str, ...],
    places: tuple[tuple[int, ...], ...],
    backlinks: dict[str, _Backlinks],
    story_members: dict[str, tuple[str, ...]],
) -> _Derived:
    """An unpickled _Derived, its `edges` made again from `by_source`, and `by_target` from
    the places of its edges among them (see `__reduce_ex__`)."""
    edges = tuple(itertools.chain.from_iterable(by_source.values()))
    by_target = _ByTarget(edges, targets, places)
    return _Derived(stories, by_source, by_target, edges, backlinks, story_members)


class _ByTarget(Mapping[str, tuple[Edge, ...]]):
    """An unpickled _Derived's `by_target`: each target's edges picked from `edges` by their
    places when first asked for. A build after an edit asks for few: making them all would
    touch each of 665,000 edges at 10,000 stories, scattered in memory (0.2 s)."""

    def __init__(
        self, edges: tuple[Edge, ...], targets: tuple[str, ...], places: tuple[tuple[int, ...], ...]
    ) -> None:
        self.edges = edges
        self.targets = targets
        self.places = places
        self._place = dict(zip(targets, itertools.count()))
        self._made: dict[str, tuple[Edge, ...]] = {}

    def __getitem__(self, target: str) -> tuple[Edge, ...]:
        made = self._made.get(target)
        if made is None:
            group = self.places[self._place[target]]
            made = self._made[target] = tuple(map(self.edges.__getitem__, group))
        return made

    def get(self, target: str, default: Any = None) -> Any:
        return self[target] if target in self._place else default

    def __contains__(self, target: object) -> bool:
        return target in self._place

    def __iter__(self) -> Iterator[str]:
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)


def _derive(
    stories: frozenset[str],
    by_source: dict[str, tuple[Edge, ...]],
    old: _Derived | None,
    sources: list[str] | None = None,
) -> _Derived:
    """The derived parts of the edges `by_source` (every record's, in the order of their ids),
    from the last build's (`old`) where they are the same.

    A record's edges recalled from the memo are the very tuple `old` holds: only the others
    are compared (only those of `sources`, when given: the others are the same as then).
    """
    if old is None or old.stories != stories:
        return _afresh(stories, by_source)
    before = old.by_source
    if sources is None:  # every record's: those that are not the very tuples told in C
        moved = map(operator.is_not, by_source.values(), map(before.get, by_source))
        candidates: Iterable[tuple[str, tuple[Edge, ...]]] = itertools.compress(
            by_source.items(), moved
        )
    else:
        candidates = _some(by_source, sources)
    changed = [s for s, e in candidates if (o := before.get(s)) is not e and o != e]
    if sources is None:
        changed.extend(before.keys() - by_source.keys())
    else:
        changed.extend(s for s in sources if s in before and s not in by_source)
    if not changed:
        return old
    if len(changed) > _FEW * len(by_source):
        return _afresh(stories, by_source)
    removed = {e for s in changed for e in before.get(s, ())}
    added = {e for s in changed for e in by_source.get(s, ())}
    removed, added = removed - added, added - removed
    by_target = dict(old.by_target)
    touched: dict[str, list[Edge]] = {e.target: [] for e in itertools.chain(removed, added)}
    for edge in added:
        touched[edge.target].append(edge)
    for target, new in touched.items():
        group = [e for e in by_target.get(target, ()) if e not in removed] + new
        if group:
            by_target[target] = tuple(sorted(group, key=_EDGE_ORDER))
        else:
            del by_target[target]
    pairs = {p for e in itertools.chain(removed, added) if (p := _membership(e, stories))}
    story_members = dict(old.story_members)
    for story in {story for story, _ in pairs}:
        story_members[story] = _members_of(story, stories, by_source, by_target)
    backlinks = dict(old.backlinks)
    grown = False
    for target in touched.keys() | {member for _, member in pairs}:
        entry = _backlinks_of(target, stories, by_source, by_target)
        if entry:
            grown = grown or target not in backlinks
            backlinks[target] = entry
        else:
            backlinks.pop(target, None)
    if grown:
        backlinks = dict(sorted(backlinks.items()))
    edges = tuple(itertools.chain.from_iterable(by_source.values()))
    return _Derived(stories, by_source, by_target, edges, backlinks, story_members)


def _some(
    by_source: dict[str, tuple[Edge, ...]], sources: list[str]
) -> list[tuple[str, tuple[Edge, ...]]]:
    return [(s, by_source[s]) for s in sources if s in by_source]


def _afresh(stories: frozenset[str], by_source: dict[str, tuple[Edge, ...]]) -> _Derived:
    # A record's edges all start from it and are in order: in the order of the ids, all are.
    edges = tuple(itertools.chain.from_iterable(by_source.values()))
    members = _story_members(stories, edges)
    return _Derived(
        stories=stories,
        by_source=by_source,
        by_target=_index(edges, attrgetter("target")),
        edges=edges,
        backlinks=_backlinks(edges, members),
        story_members=members,
    )


# Edges' own order (their fields in turn), as a key: faster than comparing Edges.
_EDGE_ORDER = attrgetter("source", "target", "relation", "label")


def _find(text: Text, needle: str, start: int, *, exact: bool) -> tuple[Location, int]:
    """Where `needle` stands in the text, searching from `start`; the text's start if unsure.

    A story body maps line for line onto its file; a YAML value may be folded or indented,
    so there the value's own position is the honest answer.
    """
    index = text.value.find(needle, start)
    if index < 0 or not exact:
        return text.location, start
    line = text.value.count("\n", 0, index)
    column = index - (text.value.rfind("\n", 0, index) + 1) + 1
    return text.location.at(text.location.line + line, column), index + len(needle)


def link_locations(text: Text, *, inline: bool) -> list[tuple[str, Location]]:
    """Each [[link]] of the text, in the renderer's order, with its position in the file.

    A story body maps line for line onto its file. A YAML value is searched for in its file,
    on from where the value starts, so quoting and block styles cannot shift the position.
    """
    try:
        found = find_links(text.value, inline=inline)
    except MarkupTooComplex:
        return []
    start = text.location
    if text.origin is None:
        return [(target, start.at(start.line + line - 1, column)) for target, line, column in found]
    source = text.origin
    line_starts = [0, *(m.end() for m in re.finditer("\n", source))]
    offset = line_starts[min(start.line, len(line_starts)) - 1] + start.column - 1
    located: list[tuple[str, Location]] = []
    for target, _, _ in found:
        match = re.compile(r"(?<!\\)\[\[\s*" + re.escape(target)).search(source, offset)
        if match is None:
            located.append((target, start))
            continue
        offset = match.end()
        line = bisect.bisect_right(line_starts, match.start())
        located.append((target, start.at(line, match.start() - line_starts[line - 1] + 1)))
    return located


def _positions(
    located: list[tuple[str, Location]],
) -> Iterator[tuple[tuple[str, int], Location]]:
    """(id, n) -> location of the n-th link to that id in the text."""
    seen: dict[str, int] = defaultdict(int)
    for target_id, location in located:
        yield (target_id, seen[target_id]), location
        seen[target_id] += 1


def _nth(items: tuple[str, ...], index: int) -> int:
    return items[:index].count(items[index])


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _label_order() -> dict[str, int]:
    order: dict[str, int] = {"Stories": 0, "Chronology items": 1}
    for kind in (STORY, *RECORD_KINDS):
        for field in SCHEMAS[kind]:
            for sub in (field, *field.fields):
                if sub.backlink and sub.backlink not in order:
                    order[sub.backlink] = len(order)
    # Mentions and citations are grouped by the kind of the record they come from.
    for base in (MENTIONS, CITED_BY):
        for kind in (STORY, *RECORD_KINDS):
            order[f"{base} {TITLES[kind].lower()}"] = len(order)
    return order


_LABEL_ORDER = _label_order()


def _backlinks(
    edges: tuple[Edge, ...], story_members: Mapping[str, tuple[str, ...]]
) -> dict[str, _Backlinks]:
    """Backlinks grouped by label. "Stories" lists every story a record belongs to, however
    it is tied (the story's lists, its links, or the record's own `stories`), so links from
    stories need no group of their own."""
    grouped: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for edge in edges:
        if edge.source != edge.target and edge.label not in (STORY_LINKS, "Stories"):
            grouped[edge.target][edge.label].add(edge.source)
    for story, members in story_members.items():
        for member in members:
            grouped[member]["Stories"].add(story)
    return {target: _grouped(labels) for target, labels in sorted(grouped.items())}


def _grouped(labels: Mapping[str, set[str]]) -> _Backlinks:
    # The ids interned: the very strs of the records (edges from workers hold copies).
    return tuple(
        (label, tuple(sorted(map(_intern, sources))))
        for label, sources in sorted(labels.items(), key=lambda kv: _LABEL_ORDER[kv[0]])
    )


def _backlinks_of(
    target: str,
    stories: frozenset[str],
    by_source: Mapping[str, tuple[Edge, ...]],
    by_target: Mapping[str, tuple[Edge, ...]],
) -> _Backlinks:
    """One record's backlinks (as `_backlinks` gives them) from the edges to and from it."""
    labels: dict[str, set[str]] = defaultdict(set)
    incoming = by_target.get(target, ())
    for edge in incoming:
        if edge.source != edge.target and edge.label not in (STORY_LINKS, "Stories"):
            labels[edge.label].add(edge.source)
    for edge in itertools.chain(incoming, by_source.get(target, ())):
        pair = _membership(edge, stories)
        if pair is not None and pair[1] == target:
            labels["Stories"].add(pair[0])
    return _grouped(labels)


def _membership(edge: Edge, stories: frozenset[str]) -> tuple[str, str] | None:
    """(story, member) when the edge ties a record to a story (see `_story_members`)."""
    if edge.source in stories and edge.relation != "cites":
        return edge.source, edge.target
    if edge.target in stories and edge.relation.endswith(".stories"):
        return edge.target, edge.source
    return None


def _story_members(stories: frozenset[str], edges: tuple[Edge, ...]) -> dict[str, tuple[str, ...]]:
    """Records tied to each story: its own refs and links, and items naming it in `stories`."""
    members: dict[str, set[str]] = {story: set() for story in stories}
    for edge in edges:
        pair = _membership(edge, stories)
        if pair is not None:
            members[pair[0]].add(pair[1])
    return {story: tuple(sorted(map(_intern, ids))) for story, ids in sorted(members.items())}


def _members_of(
    story: str,
    stories: frozenset[str],
    by_source: Mapping[str, tuple[Edge, ...]],
    by_target: Mapping[str, tuple[Edge, ...]],
) -> tuple[str, ...]:
    """One story's members (as `_story_members` gives them) from the edges to and from it."""
    edges = itertools.chain(by_source.get(story, ()), by_target.get(story, ()))
    pairs = (_membership(edge, stories) for edge in edges)
    return tuple(
        sorted({_intern(pair[1]) for pair in pairs if pair is not None and pair[0] == story})
    )
