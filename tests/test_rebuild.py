"""The traces inverted (`rebuild.Readers`): the makers a changed key makes stale, found from
the keys, and kept up to date by difference as makers run and read other keys; and the site's
files looked at on another core (`rebuild.Look`)."""

from __future__ import annotations

import os
import pickle
import random
import signal
import sys
import threading
from array import array
from pathlib import Path

import pytest
from test_determinism import FULL

from generator import rebuild
from generator.cache import Memo
from generator.pipeline import Options, build
from generator.plan import Maker
from generator.rebuild import Readers, Trace
from generator.workers import can_fork
from generator.write import stamp_of

KEYS = [f"r\x1frecord-{n}" for n in range(40)] + ["all", "edges", "site", "templates"]


def _trace(rng: random.Random, name: str) -> Trace:
    keys = tuple(sorted(rng.sample(KEYS, rng.randint(0, 8))))
    return Trace(keys, ((f"{name}.html", (1, 2, 3)),))


def _traces(rng: random.Random, n: int = 30) -> dict[str, Trace]:
    return {f"maker-{i}": _trace(rng, f"maker-{i}") for i in range(n)}


def _makers(traces: dict[str, Trace]) -> list[Maker]:
    return [Maker(name, lambda shop: ({}, [])) for name in traces]


def test_the_makers_a_changed_key_makes_stale_are_those_rebuild_stale_finds() -> None:
    rng = random.Random(7)
    for _ in range(50):
        traces = _traces(rng)
        makers = _makers(traces)
        changed = set(rng.sample(KEYS, rng.randint(0, 4)))
        expected = rebuild.stale(makers, traces, changed)
        assert Readers(traces).stale(changed) == {makers[i].name for i in expected}


def test_packed_traces_give_back_their_keys_and_stale_finds_the_same_makers() -> None:
    rng = random.Random(9)
    for _ in range(30):
        traces = _traces(rng)
        seen = {key: "v" for trace in traces.values() for key in trace.keys}
        packed, table = rebuild.pack(traces, {}, {}, seen, None)
        assert list(packed) == list(traces) and table == tuple(seen)
        for name, trace in packed.items():
            assert len(trace) == 4 and trace[3] is table and type(trace[0]) is bytes
            assert trace.keys == traces[name].keys and trace.files == traces[name].files
            copy = pickle.loads(pickle.dumps(trace, pickle.HIGHEST_PROTOCOL))
            assert copy.keys == trace.keys and copy.named(name).keys == trace.keys
        makers = _makers(traces)
        changed = set(rng.sample(KEYS, rng.randint(0, 4)))
        assert rebuild.stale(makers, packed, changed) == rebuild.stale(makers, traces, changed)
        assert Readers(packed).stale(changed) == Readers(traces).stale(changed)


def test_a_maker_that_ran_and_read_the_same_keys_is_packed_with_the_same_bytes() -> None:
    rng = random.Random(10)
    traces = _traces(rng)
    seen = {key: "v" for key in KEYS}
    before, table = rebuild.pack(traces, {}, {}, seen, None)
    same = Trace(traces["maker-1"].keys, (("maker-1.html", (4, 5, 6)),))
    other = Trace(("r\x1fnew",), (("maker-2.html", (4, 5, 6)),))
    made = {"maker-1": same, "maker-2": other}
    now, again = rebuild.pack({**before, **made}, made, before, seen, table)
    assert again is table
    assert now["maker-1"][0] is before["maker-1"][0] and now["maker-1"].files == same.files
    assert now["maker-2"] is other  # (a key the table lacks: kept as it is)
    assert all(now[name] is before[name] for name in traces if name not in made)


def test_a_trace_that_keeps_a_memo_is_not_packed() -> None:
    # (the search index's: its maker runs after every edit, and its keys would be made
    # again from their places each time)
    rng = random.Random(11)
    traces = _traces(rng)
    kept = Trace(KEYS[:5], (("search.js", (1, 2, 3)),), {"r\x1fa": "entry"})
    traces["search"] = kept
    seen = {key: "v" for key in KEYS}
    packed, table = rebuild.pack(traces, {}, {}, seen, None)
    assert packed["search"] is kept and packed["search"].keys == KEYS[:5]
    assert all(packed[name][3] is table for name in traces if name != "search")
    makers = _makers(traces)
    changed = {KEYS[2]}
    assert rebuild.stale(makers, packed, changed) == rebuild.stale(makers, traces, changed)
    assert Readers(packed).stale(changed) == Readers(traces).stale(changed)


def test_readers_kept_up_to_date_by_difference_are_readers_made_afresh() -> None:
    rng = random.Random(8)
    traces = _traces(rng)
    readers = Readers(traces)
    for _ in range(40):
        ran = rng.sample(sorted(traces), rng.randint(0, 5))
        made = {name: _trace(rng, name) if rng.random() < 0.7 else traces[name] for name in ran}
        traces = {**traces, **made}
        readers.update(traces, made)
        assert readers.traces is traces
        assert readers.by_key == Readers(traces).by_key
        changed = set(rng.sample(KEYS, 3))
        assert readers.stale(changed) == Readers(traces).stale(changed)


def test_a_new_table_packs_traces_as_pack_does_with_the_values_seen_gives() -> None:
    """`Table` (the traces of a build that runs most makers, packed as the workers' slices
    come) gives the traces, keys and values that `pack` and `seen` give such a build after
    every page is made; its keys in the order of the traces that first name them, whatever
    process packed them first, with the values worked out there, each once per process; a
    trace with a memo is not packed, and names the table's keys."""
    rng = random.Random(13)
    for _ in range(20):
        old = _traces(rng)  # (the last build's, packed by its table: makers that did not run)
        old, _ = rebuild.pack(old, {}, {}, {k: "v" for k in KEYS}, None)
        now = _traces(rng, 20)
        now["search"] = Trace(tuple(rng.sample(KEYS, 6)), (("search.js", (1, 2, 3)),), {"a": "b"})
        traces = {**old, **now}
        values = {k: f"value of {k}" for k in KEYS}
        here = _Values(values)
        table = rebuild.Table(here)
        workers = {1: rebuild.Table(_Values(values)), 2: rebuild.Table(_Values(values))}
        arrived: dict[str, Trace] = {}
        names = list(now)
        for start in range(0, len(names), 3):
            process = rng.choice([1, 2])  # (which worker ran the slice)
            own = workers[process]
            first = len(own.order)
            ran = [(n, own.packed_there(now[n]), []) for n in names[start : start + 3]]
            news = (process, own.order[first:], own.texts[first:])
            ran = pickle.loads(pickle.dumps(ran, pickle.HIGHEST_PROTOCOL))
            arrived.update((n, t) for n, t, _ in table.take(ran, news))  # type: ignore[misc]
        assert all(table.pack(t) is t for name, t in arrived.items() if name != "search")
        for own in workers.values():
            asked = own._value.asked  # type: ignore[attr-defined]
            assert len(asked) == len(set(asked))
        assert not here.asked  # (every value came from the workers)
        packed, keys, seen = table.done({**traces, **arrived})
        assert not set(here.asked) & {k for t in now.values() for k in t.keys}
        expected = rebuild.seen(traces, _Values(values), {}, set(), traces)  # type: ignore[arg-type]
        assert seen == expected and set(keys) == set(expected)
        first = [*now.values(), *traces.values()]  # (those that came, then the others)
        assert list(keys) == list(dict.fromkeys(k for t in first for k in t.keys))
        assert seen == rebuild.Seen.of(expected, keys) and seen.more == {}
        assert list(packed) == list(traces)
        for name, trace in packed.items():
            assert trace.keys == traces[name].keys and trace.files == traces[name].files
            assert (len(trace) == 4 and trace[3] is keys) or name == "search"
        search = packed["search"]
        assert search.memo == {"a": "b"} and all(k is keys[keys.index(k)] for k in search.keys)


class _Values:
    """Fingerprints of a build: each key's value, counted when asked."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.asked: list[str] = []

    def __call__(self, key: str) -> str:
        self.asked.append(key)
        return self.values[key]


@pytest.mark.parametrize("compact", [False, True])
def test_the_keys_seen_after_a_few_makers_ran_are_every_key_the_traces_name(
    compact: bool,
) -> None:
    """As a dict, or as a `Seen` (what a build keeps), whose table lacks some of the keys
    and holds others that no trace names."""
    rng = random.Random(9)
    traces = _traces(rng, 40)
    values = {k: "0" for k in KEYS}
    last = rebuild.seen(traces, _Values(values), {}, set(), {})  # type: ignore[arg-type]
    if compact:
        table = (*rng.sample(sorted(last), len(last) - 3), "gone 1", "gone 2")
        last = rebuild.Seen.of({**last, "gone 1": "1", "gone 2": "2"}, table)
        assert last == {**last, "gone 1": "1", "gone 2": "2"}
    for step in range(30):
        changed = set(rng.sample(KEYS, 2))
        values.update({k: str(step + 1) for k in changed})
        ran = rng.sample(sorted(traces), 3)
        made = {name: _trace(rng, name) if rng.random() < 0.5 else traces[name] for name in ran}
        now = {**traces, **made}
        fingerprints = _Values(values)
        last = rebuild.seen(now, fingerprints, last, changed, made, traces)  # type: ignore[arg-type]
        assert isinstance(last, rebuild.Seen) == compact
        assert {k: last[k] for t in now.values() for k in t.keys} == {
            k: values[k] for t in now.values() for k in t.keys
        }
        # A maker that read the same keys as last time has none new to work out.
        same = [n for n in made if made[n].keys == traces[n].keys]
        assert (
            not set(fingerprints.asked)
            - changed
            - {k for n in made if n not in same for k in made[n].keys}
        )
        traces = now


def test_a_look_no_one_asks_is_stopped_without_a_word(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A build that ends before it makes the site (an error in the content) closes its
    `Look` unasked: the forked process is stopped, not left to fail writing its names (more
    than a pipe holds) to a pipe no one reads, with a traceback on the editor's terminal."""
    if not can_fork():
        pytest.skip("Look forks")
    traces = {f"p{i}.html": Trace((), ((f"p{i}.html", (1, 2, 3)),)) for i in range(20_000)}
    look = rebuild.Look(traces, tmp_path)
    process = look._process
    closing = threading.Thread(target=look.close, daemon=True)
    closing.start()
    closing.join(60)  # (a process left blocked on the pipe would keep `close` waiting)
    if closing.is_alive():
        process.kill()
    assert not closing.is_alive() and process.exitcode == -signal.SIGTERM
    assert look._process is None
    assert capfd.readouterr().err == ""


def test_a_look_asked_gives_the_makers_whose_files_are_not_as_written(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_bytes(b"a")
    stamp = stamp_of(os.lstat(tmp_path / "a.html"))
    traces = {"a": Trace((), (("a.html", stamp),)), "b": Trace((), (("b.html", stamp),))}
    for fork in (True, False):
        look = rebuild.Look(traces, tmp_path, fork=fork)
        assert look.unwritten() == {"b"}
        assert look.here is not (fork and can_fork())
        look.close()


def test_the_makers_whose_files_are_not_as_written_are_those_unwritten_holds(
    tmp_path: Path,
) -> None:
    """`unwritten` (a tight loop: the files named from the site's folder, a one-file trace's
    stamp compared packed) names the makers `Unwritten` holds: a file gone, changed, made a
    folder or a link, in a subfolder or not; a trace of two files, one changed; of none;
    that keeps a memo; packed or not; and, with no site, every one that wrote a file."""
    site = tmp_path / "site"
    (site / "a").mkdir(parents=True)

    def put(*names: str) -> tuple[tuple[str, tuple[int, int, int]], ...]:
        for name in names:
            (site / name).write_bytes(b"written")
        return tuple((name, stamp_of(os.lstat(site / name))) for name in names)

    traces = {
        name: Trace(("k",), put(name))
        for name in ("a/same.html", "a/changed.html", "gone.html", "folder.html", "link.html")
    }
    traces["two"] = Trace(("k",), put("a/one.json", "a/two.json"))
    traces["two, one changed"] = Trace(("k",), put("one.json", "two.json"))
    traces["none"] = Trace(("k",), ())
    traces["kept"] = Trace(("k",), put("kept.js"), {"entry": "memo"})
    traces["kept, gone"] = Trace(("k",), put("gone.js"), {"entry": "memo"})
    (site / "a" / "changed.html").write_bytes(b"written again")
    (site / "gone.html").unlink()
    (site / "folder.html").unlink()
    (site / "folder.html").mkdir()
    (site / "link.html").unlink()
    (site / "link.html").symlink_to(site / "a" / "same.html")
    (site / "two.json").write_bytes(b"changed")
    (site / "gone.js").unlink()
    expected = [
        "a/changed.html",
        "gone.html",
        "folder.html",
        "link.html",
        "two, one changed",
        "kept, gone",
    ]
    for given in (traces, _packed(traces, ("k",))):
        assert rebuild.unwritten(given, site) == expected
        held = rebuild.Unwritten(given, site)
        assert [name for name in given if name in held] == expected
    assert rebuild.unwritten(traces, tmp_path / "nowhere") == [n for n in traces if n != "none"]


@pytest.mark.parametrize(
    ("files", "memo", "compact"),
    [
        ((("a.html", (7, 120, 1_700_000_000_000_000_000)),), {}, True),
        ((("a.html", (2**64 - 1, 0, -5)),), None, True),  # the largest inode, a time before 1970
        ((("a.html", (2**64, 0, 0)),), {}, False),  # (no such stamp: kept as it is)
        ((("a.html", (1, 2, 3)),), {"entry": "kept"}, False),
        ((("a.html", (1, 2, 3)), ("b.json", (4, 5, 6))), {}, False),
        ((), {}, False),
    ],
)
def test_a_trace_held_compactly_gives_back_what_it_was_made_of(
    files: tuple[tuple[str, tuple[int, int, int]], ...], memo: dict[str, str] | None, compact: bool
) -> None:
    keys = ("r\x1frecord-1", "site")
    trace = Trace(keys, files, memo)
    for found in (trace, pickle.loads(pickle.dumps(trace, pickle.HIGHEST_PROTOCOL))):
        assert type(found) is Trace and not hasattr(found, "__dict__")
        assert found.keys == keys and found.files == files and dict(found.memo) == (memo or {})
        assert found.names == tuple(name for name, _ in files)
        assert found == trace and found == Trace(keys, list(files), dict(memo or {}))
        assert (type(found[1]) is str) is compact  # (keys, name, packed stamp)
        assert len(found) == 3
    assert trace.with_keys(tuple(keys)) == trace
    if compact:
        name = "".join(["a", ".html"])  # equal, another object
        assert trace.named(name)[1] is name and trace.named(name) == trace


def test_traces_load_without_calling_their_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a trace calls `tuple.__new__`, not Trace's own (Python code, 145,000 times)."""
    traces = [Trace((f"k{i}",), ((f"p{i}.html", (i, 2, 3)),)) for i in range(3)]
    data = pickle.dumps(traces, pickle.HIGHEST_PROTOCOL)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("called")

    monkeypatch.setattr(Trace, "__new__", refuse)
    assert pickle.loads(data) == traces


def test_a_look_tells_the_readers_of_the_changed_keys_as_the_traces_inverted_do(
    tmp_path: Path,
) -> None:
    if not can_fork():
        pytest.skip("Look forks")
    rng = random.Random(11)
    for _ in range(8):
        traces = _traces(rng, 60)
        changed = set(rng.sample(KEYS, rng.randint(0, 5)))
        look = rebuild.Look(traces, tmp_path)
        look.ask(changed)
        assert look.asked and look.unwritten() == set(traces)  # (no file is there)
        found = look.readers()
        assert not look.here
        look.close()
        assert found == Readers(traces).stale(changed)
        makers = _makers(traces)
        everything = rebuild.stale(makers, traces, changed, look.unwritten(), found)
        assert everything == list(range(len(makers)))
        # Without the names unwritten, the makers whose trace names a changed key.
        assert rebuild.stale(makers, traces, changed, (), found) == rebuild.stale(
            makers, traces, changed
        )


def test_a_look_that_answered_is_waited_for_when_closed(tmp_path: Path) -> None:
    """The forked process, once it gave the readers, ends on its own: the build goes on
    without waiting for it (a fork of a big process takes long to end), and `close`, at the
    end of the build, waits for it, so that no child is left (a process that builds again
    and again: serve)."""
    if not can_fork():
        pytest.skip("Look forks")
    traces = _traces(random.Random(13), 60)
    look = rebuild.Look(traces, tmp_path)
    look.ask({"all"})
    process = look._process
    assert look.readers() == Readers(traces).stale({"all"})
    assert look._process is process and process.exitcode in (None, 0)  # not waited for
    process.join(60)  # (ended on its own)
    assert process.exitcode == 0
    look.close()
    assert look._process is None
    with pytest.raises(ChildProcessError):  # (waited for: no such child any more)
        os.waitpid(process.pid, os.WNOHANG)


def _packed(traces: dict[str, Trace], table: tuple[str, ...]) -> dict[str, Trace]:
    places = {key: place for place, key in enumerate(table)}
    return {name: trace.packed(table, places) for name, trace in traces.items()}


def test_the_readers_found_by_the_bytes_of_places_are_those_the_traces_name() -> None:
    """`_Places` (the traces' places as bytes, looked for in C) finds the traces that name
    a changed key, as the traces inverted do: few keys (by their bytes) or many (by their
    places as ints), with traces packed by one table or two, and some not packed."""
    rng = random.Random(14)
    for _ in range(40):
        traces = _traces(rng, 40)
        table = tuple(rng.sample(KEYS, len(KEYS)))
        other = tuple(rng.sample(KEYS, len(KEYS)))
        packed = _packed(traces, table)
        for name in rng.sample(sorted(traces), 10):  # (packed by another table)
            packed[name] = _packed({name: traces[name]}, other)[name]
        for name in rng.sample(sorted(traces), 5):  # (not packed)
            packed[name] = traces[name]
        many = rng.random() < 0.3
        changed = set(rng.sample([*KEYS, "gone"], rng.randint(17, 30) if many else 3))
        assert len(set(map(id, (t[3] for t in packed.values() if len(t) == 4)))) == 2
        found = rebuild._Places(packed).readers(changed)
        assert found == Readers(traces).stale(changed)
        makers = _makers(traces)
        assert rebuild.stale(makers, packed, changed) == [
            i for i, maker in enumerate(makers) if maker.name in found
        ]


def test_a_place_whose_bytes_straddle_two_places_is_not_found() -> None:
    """Looked for by its bytes among the places of all traces, one after another, a place
    is found only where one begins: not in the end of one and the start of the next (of
    one trace, or of two)."""
    first, second = 5, 257
    data = array("I", (first, second)).tobytes()
    size = array("I").itemsize
    # The places whose bytes are in those of the two, across them.
    across = {array("I", data[at : at + size])[0] for at in range(1, size)}
    wanted = min(across)
    assert wanted not in (first, second) and wanted < 2**20
    table = tuple(f"key {place}" for place in range(max(wanted, second) + 1))
    traces = {
        "two": Trace((table[first], table[second]), (("two.html", (1, 2, 3)),)),
        "first": Trace((table[first],), (("first.html", (1, 2, 3)),)),
        "second": Trace((table[second], table[first]), (("second.html", (1, 2, 3)),)),
        "then": Trace((table[second],), (("then.html", (1, 2, 3)),)),
        "none": Trace((), (("none.html", (1, 2, 3)),)),
        "it": Trace((table[first], table[wanted]), (("it.html", (1, 2, 3)),)),
    }
    packed = _packed(traces, table)
    assert (
        b"".join(trace[0] for trace in packed.values()).find(array("I", (wanted,)).tobytes()) % size
    )  # (first found across two places)
    places = rebuild._Places(packed)
    assert places.readers({table[wanted]}) == {"it"}
    assert places.readers({table[second]}) == {"two", "second", "then"}
    assert places.readers({table[wanted], "key gone"}) == {"it"}


def test_a_trace_that_names_the_keys_its_last_one_named_takes_those_very_keys() -> None:
    """A maker's new trace is made with its keys interned; but with the very keys of its
    last trace, not packed, when it names the same (the search index's, 187,000 at 10,000
    stories, which a new process loaded: not interned again one by one)."""
    files = (("search.js", (1, 2, 3)),)
    loaded = tuple("".join(["r\x1f", f"record-{n}"]) for n in range(5))  # (not interned)
    last = Trace(loaded, files, {"r\x1frecord-1": "entry"})
    made = Trace(tuple("".join(["r\x1f", f"record-{n}"]) for n in range(5)), files)
    same = rebuild._interned(made, last)
    assert same[0] is loaded and same == Trace(loaded, files)
    packed = _packed({"search": Trace(loaded, files)}, loaded)["search"]
    assert len(packed) == 4
    other = Trace((*made.keys[:4], "r\x1fnew"), files)
    for trace, before in ((other, last), (other, None), (made, packed)):
        found = rebuild._interned(trace, before)
        assert found == trace and all(key is sys.intern(key) for key in found.keys)


def _loading(traces: dict[str, Trace], ident: object, calls: Path):
    """A Look's `load` that notes the process it runs in, then gives `traces` and `ident`."""

    def load() -> tuple[object, dict[str, Trace]]:
        with calls.open("a") as file:
            file.write(f"{os.getpid()}\n")
        return ident, traces

    return load


@pytest.mark.skipif(not can_fork(), reason="Look forks")
def test_a_look_forked_before_the_traces_loads_them_there_once_told(tmp_path: Path) -> None:
    """Forked before the build cache loads (see `_early_look`), the process loads the
    traces itself once told to (`go`), and its answers are those of a Look given them."""
    traces = _traces(random.Random(14), 60)
    calls = tmp_path / "calls"
    look = rebuild.Look(None, tmp_path, load=_loading(traces, ("base", "delta"), calls))
    assert look.traces is None and not calls.exists()  # (it waits to be told)
    look.go()
    assert look.adopt(("base", "delta"), traces) and look.traces is traces
    assert calls.read_text().split() != [str(os.getpid())] and len(calls.read_text().split()) == 1
    look.ask({"all", KEYS[3]})
    assert look.unwritten() == set(traces) and not look.here  # (no file is there)
    assert look.readers() == Readers(traces).stale({"all", KEYS[3]})
    look.close()
    assert look._process is None


@pytest.mark.skipif(not can_fork(), reason="Look forks")
def test_a_look_forked_before_the_traces_is_of_no_use_if_it_loaded_others(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    traces = _traces(random.Random(15), 20)
    calls = tmp_path / "calls"
    look = rebuild.Look(None, tmp_path, load=_loading(traces, "other files", calls))
    assert not look.adopt("these files", traces)  # (told to load by `adopt` itself)
    assert look._process is None and look.traces is None and calls.exists()
    look = rebuild.Look(None, tmp_path, load=lambda: None)  # (no cache it could read)
    look.go()
    assert not look.adopt("these files", traces) and look._process is None
    # Never told (the build had nothing to do): stopped, its `load` never run, unheard.
    calls.unlink()
    look = rebuild.Look(None, tmp_path, load=_loading(traces, "these files", calls))
    process = look._process
    look.close()
    assert process.exitcode == -signal.SIGTERM and not calls.exists()
    assert capfd.readouterr().err == ""
    # Given the traces, it is never told to load them, nor taken on.
    look = rebuild.Look(traces, tmp_path)
    look.go()
    assert not look.adopt("these files", traces) and look._process is None
    # Without fork, there is no process to load them.
    look = rebuild.Look(None, tmp_path, fork=False, load=_loading(traces, "these files", calls))
    assert look._process is None and not look.adopt("these files", traces)
    assert not calls.exists()


def test_a_look_not_asked_or_without_its_process_tells_no_readers(tmp_path: Path) -> None:
    traces = _traces(random.Random(12))
    look = rebuild.Look(traces, tmp_path, fork=False)
    look.ask({"all"})
    assert not look.asked and look.readers() is None and look.here
    if not can_fork():
        return
    look = rebuild.Look(traces, tmp_path)
    assert look.readers() is None  # (not asked: the process is stopped)
    assert look._process is None
    look = rebuild.Look(traces, tmp_path)
    look.unwritten()
    process = look._process
    process.terminate()
    process.join()
    look.ask({"all"})  # (sent to a process that is gone)
    assert look.readers() is None and look._process is None


@pytest.mark.skipif(not can_fork(), reason="the workers are forked")
def test_traces_from_workers_share_their_keys_with_this_process(tmp_path: Path) -> None:
    """The keys of the traces that workers send back are interned here as each slice comes:
    every trace that names a key holds (or is packed by) this process's one str for it."""
    memos: dict[str, Memo] = {}
    options = Options(content=FULL, out=tmp_path / "site", jobs=2)
    assert build(options, memos=memos).written
    traces = memos["deps"].new["traces"]
    keys = [k for trace in traces.values() for k in trace.keys]
    assert len(traces) > 40 and len(keys) > 1000
    assert all(k is sys.intern(k) for k in keys)
    assert set(keys) == set(memos["deps"].new["keys"])


def test_makers_run_without_the_cyclic_collector_which_is_as_it_was_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector is off while the makers run (they make no cycles for it to find), and
    back as it was when they are done, whether they succeeded or not."""
    import contextlib
    import gc

    from generator import plan

    seen: list[bool] = []
    render_page = plan.render_page

    def watched(*args: object) -> object:
        seen.append(gc.isenabled())
        return render_page(*args)  # type: ignore[arg-type]

    # (looked up when a page is made: the list of makers may be the last build's)
    monkeypatch.setattr(plan, "render_page", watched)
    options = Options(content=FULL, out=tmp_path / "site", jobs=1)
    assert gc.isenabled()
    assert build(options).written
    assert seen and not any(seen)
    assert gc.isenabled()

    def failing(*args: object) -> object:
        raise RuntimeError("a maker's bug")

    monkeypatch.setattr(plan, "render_page", failing)
    with contextlib.suppress(RuntimeError):  # (raised, or reported: either way)
        build(Options(content=FULL, out=tmp_path / "other", jobs=1))
    assert gc.isenabled()


def test_the_values_seen_are_kept_by_a_table_and_what_changed_since() -> None:
    table = tuple(f"key {i}" for i in range(10))
    values = {key: f"value {i}" * (i % 3) for i, key in enumerate(table)}  # ('' too)
    seen = rebuild.Seen.of(values, table)
    assert seen.table is table and not seen.more and seen == values and list(seen) == list(table)
    assert seen.values_of(["key 3", "key 0", "other"]) == {"key 3": "", "key 0": ""}
    assert seen["key 5"] == "value 5value 5" and "key 9" in seen and "other" not in seen
    assert rebuild.Seen.of(seen, table) is seen
    # Keys gone, one changed and one added: the table, text and ends are the same objects.
    now = {**{k: v for k, v in values.items() if k != "key 4"}, "key 2": "new", "more": "m"}
    later = rebuild.Seen(table, seen.text, seen.ends, {"key 4": None, "key 2": "new", "more": "m"})
    assert later == now and list(later) == list(now) and len(later) == 10 and bool(later)
    assert later.values_of(["key 4", "key 2", "more", "key 1"]) == {
        "key 2": "new",
        "more": "m",
        "key 1": "value 1",
    }
    again = rebuild.Seen.of(now, table)
    assert again == now and again.more == {"key 4": None, "more": "m"}
    assert pickle.loads(pickle.dumps(later)) == now
    nothing = rebuild.Seen.of({}, ("a",))
    assert not nothing and nothing == {} and not rebuild.Seen.of({}, ())
    assert rebuild.changed(later, lambda key: "new", ["key 2", "key 4", "key 1"]) == {"key 1"}


def test_the_places_of_keys_are_found_alike_by_index_or_by_one_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A few keys are each found in the table by `tuple.index`, more by one scan: the same
    places, in order, keys the table lacks left out."""
    monkeypatch.setattr(rebuild, "_by_place", None)
    rng = random.Random(15)
    table = tuple(f"key {i}" for i in range(50))
    for size in range(8):
        for _ in range(20):
            keys = set(rng.sample([*table, "gone", "other"], size))
            expected = [place for place, key in enumerate(table) if key in keys]
            assert list(rebuild._places_of(table, keys)) == expected
    assert list(rebuild._places_of(table, {table[0], table[-1]})) == [0, len(table) - 1]


def test_a_table_kept_by_place_is_looked_up_by_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """(serve's rebuilds, one after another, with the same table; a new process scans it)"""
    monkeypatch.setattr(rebuild, "_by_place", None)
    table = tuple(f"key {i}" for i in range(10))
    seen = rebuild.Seen.of({key: f"v{i}" for i, key in enumerate(table)}, table)
    later = rebuild.Seen(table, seen.text, seen.ends, {"key 1": None, "key 2": "new"})
    asked = ["key 0", "key 1", "key 2", "key 9", "other"]
    expected = {"key 0": "v0", "key 2": "new", "key 9": "v9"}
    assert later.values_of(asked) == expected and rebuild._by_place is None  # (scanned)
    rebuild.by_place(later)
    assert rebuild._by_place is not None and rebuild._by_place[0] is table
    assert later.values_of(asked) == expected
    kept = rebuild._by_place
    rebuild.by_place(seen)  # (the same table: its places are not made again)
    assert rebuild._by_place is kept
    other = (*table, "key 10")
    assert rebuild.Seen.of(dict.fromkeys(other, "x"), other)["key 10"] == "x"  # (scanned)
    rebuild.by_place({"key 0": "v0"})  # (a dict: looked up as it is)
    assert rebuild._by_place is kept
