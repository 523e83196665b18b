"""The build cache: a cached build gives the same bytes as a clean one after every kind of
edit; a corrupt, stale or foreign cache is ignored; a failed build leaves it as it was."""

from __future__ import annotations

import dataclasses
import fcntl
import operator
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_bench_corpus import _bench
from test_determinism import FULL, tree

from generator import cache, cli, links, parse, pipeline, rebuild, unchanged
from generator.listing import walk
from generator.pipeline import Options, build, load
from generator.reading import Document, Recent, Unread, read_content, shown
from generator.rebuild import Trace
from generator.render import TEMPLATES


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, path
    path.write_text(text.replace(old, new), "utf-8")


def _edit_story(content: Path, templates: Path) -> None:
    story = content / "stories" / "blockade-on-mine-road.md"
    story.write_text(story.read_text("utf-8") + "\nA new paragraph on [[cerro-alto]].\n", "utf-8")


def _rename_actor(content: Path, templates: Path) -> None:
    # Shown by name through [[elena-marsh]] links and backlinks on other pages.
    _replace(content / "actors" / "elena-marsh.yaml", "name: Elena Marsh", "name: Elena March")


def _rename_file(content: Path, templates: Path) -> None:
    (content / "actors" / "tomas-reyes.yaml").rename(content / "actors" / "tomas-reyes-jr.yaml")
    for path in content.rglob("*"):
        if path.suffix in (".md", ".yaml", ".yml"):
            text = path.read_text("utf-8")
            path.write_text(re.sub(r"\btomas-reyes\b", "tomas-reyes-jr", text), "utf-8")


def _delete_record(content: Path, templates: Path) -> None:
    (content / "events" / "december-talks.yaml").unlink()


def _edit_template(content: Path, templates: Path) -> None:
    _replace(templates / "record.html", "{% block main %}", "{% block main %}<p>Edited</p>")


def _edit_site(content: Path, templates: Path) -> None:
    _replace(content / "site.yaml", "timezone: America/Lima", "timezone: Asia/Tokyo")
    _replace(content / "site.yaml", 'title: "Cerro Alto', 'title: "The Cerro Alto')


EDITS: dict[str, Callable[[Path, Path], None]] = {
    "story": _edit_story,
    "record": _rename_actor,
    "rename": _rename_file,
    "delete": _delete_record,
    "template": _edit_template,
    "site.yaml": _edit_site,
}


def _site(tmp_path: Path) -> tuple[Path, Path]:
    content, templates = tmp_path / "content", tmp_path / "templates"
    shutil.copytree(FULL, content)
    shutil.copytree(TEMPLATES, templates)
    return content, templates


def _build(content: Path, out: Path, templates: Path, cached: Path | None, jobs: int = 1) -> dict:
    options = Options(content=content, out=out, templates=templates, cache=cached, jobs=jobs)
    result = build(options)
    assert result.written, [d.format() for d in result.diagnostics]
    return tree(out)


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("edit", list(EDITS))
def test_a_cached_build_after_an_edit_equals_a_clean_build(
    tmp_path: Path, edit: str, jobs: int
) -> None:
    content, templates = _site(tmp_path)
    folder, out = tmp_path / "cache", tmp_path / "site"
    first = _build(content, out, templates, folder, jobs)
    assert (folder / cache.FILE).is_file()
    assert _build(content, out, templates, folder, jobs) == first  # everything from the cache
    EDITS[edit](content, templates)
    cached = _build(content, out, templates, folder, jobs)
    clean = _build(content, tmp_path / "clean", templates, None)
    assert sorted(cached) == sorted(clean)
    assert [name for name in clean if cached[name] != clean[name]] == []
    assert cached != first


def _build_in_a_new_process(content: Path, out: Path, folder: Path) -> dict:
    paths = ["--content", str(content), "--out", str(out), "--cache", str(folder)]
    done = subprocess.run(
        [sys.executable, "-m", "generator.cli", "build", "--quiet", *paths],
        cwd=content.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tree(out)


@pytest.mark.parametrize("edit", [edit for edit in EDITS if edit != "template"])
def test_a_new_process_s_cached_build_after_edits_equals_a_clean_build(
    tmp_path: Path, edit: str
) -> None:
    """Each build in a process of its own, as `factsheet build` runs: what the cache keeps
    is all it starts from (the values seen, kept by a table, and what changed since; the
    search index's memo). After an edit, then after a story edited too."""
    content, templates = _site(tmp_path)
    folder, out = tmp_path / "cache", tmp_path / "site"
    _build_in_a_new_process(content, out, folder)
    for change in (EDITS[edit], _edit_story):
        change(content, templates)
        cached = _build_in_a_new_process(content, out, folder)
        clean = _build(content, tmp_path / "clean", TEMPLATES, None)
        assert sorted(cached) == sorted(clean)
        assert [name for name in clean if cached[name] != clean[name]] == []


@pytest.mark.parametrize(
    "garbage",
    [
        b"not a pickle at all",
        b"",
        pickle.dumps({"version": "another generator", "parse": {}, "markdown": {}}),
        pickle.dumps(["a list, not a dict"]),
    ],
)
def test_a_corrupt_or_foreign_cache_is_ignored(tmp_path: Path, garbage: bytes) -> None:
    content, templates = _site(tmp_path)
    folder = tmp_path / "cache"
    clean = _build(content, tmp_path / "clean", templates, None)
    folder.mkdir()
    (folder / cache.FILE).write_bytes(garbage)
    assert _build(content, tmp_path / "site", templates, folder) == clean
    assert (folder / cache.FILE).read_bytes() != garbage  # replaced by a good one


def test_a_cache_from_a_machine_of_the_other_byte_order_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Packed traces hold their keys' places as numbers in the machine's byte order.
    folder = tmp_path / "cache"
    memos = cache.load(folder, NAMES)
    memos["deps"].new["traces"] = {"page": "read as written"}
    cache.save(folder, memos)
    assert cache.load(folder, NAMES)["deps"].old == {"traces": {"page": "read as written"}}
    other = "big" if sys.byteorder == "little" else "little"
    monkeypatch.setattr(sys, "byteorder", other)
    assert cache.load(folder, NAMES)["deps"].old == {}


def test_a_truncated_cache_is_ignored(tmp_path: Path) -> None:
    content, templates = _site(tmp_path)
    folder = tmp_path / "cache"
    clean = _build(content, tmp_path / "clean", templates, folder)
    data = (folder / cache.FILE).read_bytes()
    (folder / cache.FILE).write_bytes(data[: len(data) // 2])
    _edit_story(content, templates)
    edited = _build(content, tmp_path / "clean2", templates, None)
    assert _build(content, tmp_path / "site", templates, folder) == edited != clean


def test_a_base_pickles_each_memo_on_its_own_after_those_whose_objects_it_holds(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "cache"
    entries = {"files": {"f": ("digest", [])}, **_entries()}
    cache.save(folder, {name: cache.Memo(new=e) for name, e in entries.items()})
    with (folder / cache.FILE).open("rb") as file:
        header = pickle.load(file)
    # Each memo with a pickler of its own; the markdown memo's records are the parse memo's:
    # pickled after it, referring to them.
    assert header["parts"] == 4
    assert header["leads"] == [None, None, None, "parse"]
    data = (folder / cache.FILE).read_bytes()
    assert data.count(b"text 5") == 1  # each record written once
    loaded = _loaded(folder, tuple(entries))
    assert loaded == entries
    # Kept one object, as the link stage's memo needs them (see links._World.recall).
    assert loaded["parse"]["p5"][0][0] is loaded["markdown"]["record:5"][0]
    assert loaded["parse"]["p5"][0][0][2] is loaded["markdown"]["record:5"][0][2]


@dataclasses.dataclass
class _Thing:
    """A record's stand-in: an object with an id."""

    id: str
    text: str


def test_a_base_keeps_the_records_and_their_ids_that_two_memos_share(tmp_path: Path) -> None:
    things = [_Thing(f"thing-{i}", f"text {i}") for i in range(20)]
    entries = {
        "parse": {f"p{i}": ([thing], []) for i, thing in enumerate(things)},
        "markdown": {
            **{f"record:{i}": (thing, (thing.id, "edge")) for i, thing in enumerate(things)},
            "last": {"ids": tuple(thing.id for thing in things)},
        },
    }
    loaded = _full(tmp_path, entries)
    assert loaded == entries
    parsed = [loaded["parse"][f"p{i}"][0][0] for i in range(20)]
    for i, thing in enumerate(parsed):
        record, (source, _) = loaded["markdown"][f"record:{i}"]
        assert record is thing
        assert source is thing.id
        assert loaded["markdown"]["last"]["ids"][i] is thing.id


def test_a_part_that_holds_another_memos_objects_loads_them_with_one_call_to_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    things = [_Thing(f"thing-{i}", f"text {i}") for i in range(50)]
    entries = {
        "parse": {f"p{i}": ([thing], []) for i, thing in enumerate(things)},
        "markdown": {f"record:{i}": (thing, thing.id) for i, thing in enumerate(things)},
    }
    calls = []
    load = cache._Primed.persistent_load
    monkeypatch.setattr(
        cache._Primed, "persistent_load", lambda s, p: calls.append(p) or load(s, p)
    )
    loaded = _full(tmp_path, entries)
    assert loaded == entries and calls == [0]
    for i in range(50):
        record, ident = loaded["markdown"][f"record:{i}"]
        assert record is loaded["parse"][f"p{i}"][0][0] and ident is record.id


def test_a_base_gives_the_objects_one_part_holds_of_another_as_they_were_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parse memo's part holds the list of its records whose objects the markdown
    memo's part refers to, as they were listed when saved: the loader does not look into
    each entry again."""
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})

    def listed(entries: object) -> list[object]:
        raise AssertionError("listed again")

    monkeypatch.setattr(cache, "_held_items", listed)
    loaded = _loaded(folder)
    assert loaded == _entries() and cache._HELD not in loaded["parse"]
    assert loaded["parse"]["p5"][0][0] is loaded["markdown"]["record:5"][0]


def test_a_base_whose_part_knows_other_objects_than_those_given_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    assert _loaded(folder) == _entries()
    init = cache._Primed.__init__
    monkeypatch.setattr(
        cache._Primed, "__init__", lambda self, file, held: init(self, file, held[1:])
    )
    assert _loaded(folder) == {name: {} for name in NAMES}


def test_a_base_cut_after_a_whole_part_is_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    with (folder / cache.FILE).open("rb") as file:
        pickle.load(file)
        pickle.load(file)
        end = file.tell()
    data = (folder / cache.FILE).read_bytes()
    assert end < len(data)
    (folder / cache.FILE).write_bytes(data[:end])
    assert _loaded(folder) == {name: {} for name in NAMES}


def test_a_failed_build_leaves_the_cache_as_it_was(tmp_path: Path) -> None:
    content, templates = _site(tmp_path)
    folder = tmp_path / "cache"
    _build(content, tmp_path / "site", templates, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert sorted(before) == [cache.FILE, cache.STATE]
    _replace(content / "actors" / "elena-marsh.yaml", "country: norvalia", "country: nowhere")
    result = build(Options(content=content, out=tmp_path / "site", cache=folder))
    assert not result.written and result.failed
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_the_command_keeps_its_cache_beside_the_content_unless_told(tmp_path: Path) -> None:
    content, _ = _site(tmp_path)
    beside = tmp_path / ".factsheet-cache"
    argv = ["build", "--quiet", "--content", str(content), "--out", str(tmp_path / "a")]
    assert cli.main([*argv, "--no-cache"]) == 0
    assert not beside.exists()
    assert cli.main(argv) == 0
    assert (beside / cache.FILE).is_file()
    elsewhere = tmp_path / "elsewhere"
    argv[-1] = str(tmp_path / "b")
    assert cli.main([*argv, "--cache", str(elsewhere)]) == 0
    assert (elsewhere / cache.FILE).is_file()
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert cli.main([*argv, "--cache", str(elsewhere), "--no-cache"]) == 2


def counting(
    monkeypatch: pytest.MonkeyPatch, render: str = "render_markdown"
) -> tuple[list[str], list[str]]:
    """The paths parse reads and the texts links renders (with `render`) from now on."""
    parsed: list[str] = []
    rendered: list[str] = []
    real_parse, real_render = parse._parse_document, getattr(links, render)
    monkeypatch.setattr(
        parse, "_parse_document", lambda d, *a: parsed.append(d.path) or real_parse(d, *a)
    )
    monkeypatch.setattr(
        links, render, lambda t, *a, **k: rendered.append(t) or real_render(t, *a, **k)
    )
    return parsed, rendered


def test_a_rebuild_parses_and_renders_only_what_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, templates = _site(tmp_path)
    folder = tmp_path / "cache"
    _build(content, tmp_path / "site", templates, folder)
    parsed, rendered = counting(monkeypatch)
    _build(content, tmp_path / "site", templates, folder)
    assert parsed == [] and rendered == []
    _rename_actor(content, templates)
    _build(content, tmp_path / "site", templates, folder)
    assert parsed == ["content/actors/elena-marsh.yaml"]
    assert rendered and all("[[elena-marsh" in text for text in rendered)


def _add_image(content: Path, templates: Path) -> None:
    folder = content / "stories" / "concession-dispute"
    shutil.copyfile(folder / "locator.png", folder / "map.png")


def test_a_new_process_parses_again_only_the_documents_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parse memo keeps what the last parse made: a build in a new process (what this
    # one kept forgotten) works by difference from it, without a memo key per document.
    content, templates = _site(tmp_path)
    folder, out = tmp_path / "cache", tmp_path / "site"
    _build(content, out, templates, folder)
    keyed: list[str] = []
    real_key = parse._key
    monkeypatch.setattr(parse, "_key", lambda d, tz: keyed.append(d.path) or real_key(d, tz))
    parsed, _ = counting(monkeypatch)
    steps: list[tuple[Callable[[Path, Path], None], list[str]]] = [
        (_edit_story, ["content/stories/blockade-on-mine-road.md"]),
        (_rename_actor, ["content/actors/elena-marsh.yaml"]),
        (_add_image, ["content/stories/concession-dispute/index.md"]),  # (its assets)
        (_edit_story, ["content/stories/blockade-on-mine-road.md"]),
    ]
    for edit, changed in steps:
        monkeypatch.setattr(parse, "_last", type(parse._last)())  # (as in a new process)
        del keyed[:], parsed[:]
        edit(content, templates)
        cached = _build(content, out, templates, folder)
        assert parsed == changed and keyed == changed
        assert cached == _build(content, tmp_path / "clean", templates, None)
    kept = cache.load(folder, ("parse",))["parse"].old[parse.LAST]
    assert "elena-marsh" in kept.corpus.records and len(kept.names) == len(kept.assets) > 30
    # A new id is a full parse, as ever: and still the same bytes as a clean build.
    (content / "actors" / "new-actor.yaml").write_text("name: New Actor\ntype: person\n", "utf-8")
    monkeypatch.setattr(parse, "_last", type(parse._last)())
    del keyed[:], parsed[:]
    cached = _build(content, out, templates, folder)
    assert parsed == ["content/actors/new-actor.yaml"] and len(keyed) > 30
    assert cached == _build(content, tmp_path / "clean", templates, None)


def test_a_parse_memo_that_holds_no_last_parse_means_a_full_parse(tmp_path: Path) -> None:
    content, templates = _site(tmp_path)
    folder, out = tmp_path / "cache", tmp_path / "site"
    _build(content, out, templates, folder)
    memos = cache.load(folder, pipeline.MEMOS)
    memos["parse"].new.update(memos["parse"].old)
    memos["parse"].new[parse.LAST] = "not what a parse keeps"
    cache.save(folder, memos)
    _edit_story(content, templates)
    cached = _build(content, out, templates, folder)
    assert cached == _build(content, tmp_path / "clean", templates, None)


# The cache on disk: a base, then deltas of what each later save changed.

NAMES = ("parse", "markdown", "deps")


def _entries(n: int = 50) -> dict[str, dict[str, object]]:
    """Memos like a build's: records shared by two memos, and big dicts in the deps memo."""
    records = {f"r{i}": ("record", i, [f"text {i}"]) for i in range(n)}
    return {
        "parse": {f"p{i}": ([records[f"r{i}"]], []) for i in range(n)},
        "markdown": {f"record:{i}": (records[f"r{i}"], f"found {i}") for i in range(n)},
        "deps": {
            "traces": {f"page-{i}": (f"key-{i}", f"key-{i + 1}") for i in range(n)},
            "seen": {f"key-{i}": f"digest {i}" for i in range(n + 1)},
            "site": ("stamp", 1),
        },
    }


def _loaded(folder: Path, names: tuple[str, ...] = NAMES) -> dict[str, dict[str, object]]:
    return {name: memo.old for name, memo in cache.load(folder, names).items()}


def _full(tmp_path: Path, entries: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """What loading gives after a save of `entries` as a base, in a folder of its own."""
    folder = tmp_path / f"full-{len(list(tmp_path.iterdir()))}"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in entries.items()})
    assert sorted(p.name for p in folder.iterdir()) == [cache.FILE]
    return _loaded(folder, tuple(entries))


def _resave(folder: Path, edit: Callable[[dict[str, dict[str, object]]], None]) -> dict:
    """Load, keep every entry (the very objects), apply `edit` to the new entries, save."""
    return _save_loaded(folder, cache.load(folder, NAMES), edit, state="a state")


def _save_loaded(
    folder: Path,
    memos: dict[str, cache.Memo],
    edit: Callable[[dict[str, dict[str, object]]], None],
    state: object = None,
) -> dict:
    """Save what a build that loaded `memos` made: every entry kept, then `edit` applied."""
    new = {name: dict(memo.old) for name, memo in memos.items()}
    edit(new)
    for name, memo in memos.items():
        memo.new = new[name]
    cache.save(folder, memos, state=state)
    return new


def _deltas(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("delta-"))


def _edit_one_story(new: dict[str, dict[str, object]]) -> None:
    """What one story's edit does: a new parse entry and visit, sharing their record; a
    few traces remade and digests changed; an entry gone."""
    record = ("record", 3, ["edited text"])
    del new["parse"]["p3"]
    new["parse"]["p3-edited"] = ([record], [])
    new["markdown"]["record:3"] = (record, "found again")
    deps = new["deps"]
    deps["traces"] = {**deps["traces"], "page-3": ("key-3", "key-new")}
    seen = dict(deps["seen"])
    seen["key-3"] = "digest 3b"
    seen["key-new"] = "digest new"
    del seen["key-7"]
    deps["seen"] = seen
    deps["site"] = ("stamp", 2)
    # Made afresh of the very same items, as a build takes over a visit: not written.
    new["markdown"]["record:4"] = tuple(list(new["markdown"]["record:4"]))


def test_a_delta_loads_as_a_full_save_of_the_same_entries(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    new = _resave(folder, _edit_one_story)
    assert _deltas(folder) == ["delta-1.pickle"]
    loaded = _loaded(folder)
    assert loaded == _full(tmp_path, new) == new
    assert "p3" not in loaded["parse"] and "key-7" not in loaded["deps"]["seen"]
    # The parse memo's record and the markdown memo's are one object, as in the build.
    parsed, _ = loaded["parse"]["p3-edited"]
    assert parsed[0] is loaded["markdown"]["record:3"][0]
    assert loaded["parse"]["p5"][0][0] is loaded["markdown"]["record:5"][0]
    assert cache.load_state(folder) == "a state"


def test_a_delta_holds_only_what_changed_down_into_dicts(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries(2000).items()})
    _resave(folder, _edit_one_story)
    with (folder / "delta-1.pickle").open("rb") as file:
        header, alone, changes = pickle.load(file), pickle.load(file), pickle.load(file)
    assert header["seq"] == 1
    assert list(alone) == ["deps"] and "deps" not in changes  # (pickled alone, first)
    changed, removed, nested = alone["deps"]
    assert (changed, removed) == ({"site": ("stamp", 2)}, [])
    assert nested == {
        "traces": ({"page-3": ("key-3", "key-new")}, []),
        "seen": ({"key-3": "digest 3b", "key-new": "digest new"}, ["key-7"]),
    }
    assert changes["parse"][1] == ["p3"] and list(changes["parse"][0]) == ["p3-edited"]
    assert list(changes["markdown"][0]) == ["record:3"]  # not record:4
    size = (folder / "delta-1.pickle").stat().st_size
    assert size * 50 < (folder / cache.FILE).stat().st_size


def test_a_delta_refers_to_the_parts_a_new_entry_took_over_from_the_old(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    entries = _entries()
    page = {f"record {i}": f"the search index's entry of record {i}: " * 4 for i in range(2000)}
    keys = tuple(f"i\x1frecord-{i}" for i in range(2000))
    entries["deps"]["traces"]["search"] = (keys, page)
    cache.save(folder, {name: cache.Memo(new=e) for name, e in entries.items()})

    def edit(new: dict[str, dict[str, object]]) -> None:
        _, old = new["deps"]["traces"]["search"]
        keys = tuple(f"i\x1frecord-{i}" for i in range(2000))  # equal, made afresh
        # Half of it made afresh (by a worker process): equal, not the same.
        page = {key: (text + ".")[:-1] if len(key) % 2 else text for key, text in old.items()}
        traces = {**new["deps"]["traces"], "search": (keys, {**page, "record 5": "new"})}
        new["deps"]["traces"] = traces

    expected = _resave(folder, edit)
    assert _loaded(folder) == expected == _full(tmp_path, expected)
    assert (folder / "delta-1.pickle").stat().st_size * 5 < len(pickle.dumps((keys, page)))
    memos = cache.load(folder, NAMES)
    _, loaded = memos["deps"].old["traces"]["search"]
    assert loaded["record 5"] == "new" and len(loaded) == 2000


def test_a_delta_refers_to_the_objects_a_long_tuple_of_a_replaced_entry_held(
    tmp_path: Path,
) -> None:
    """The records of each kind that the parse memo's last Corpus holds (a long tuple of
    objects, in an entry each build replaces): a new entry that holds one of them, found
    nowhere else that the delta looks, is loaded holding the very object, not a copy."""
    records = [
        SimpleNamespace(id=f"r{i}", text=f"the text of record {i} " * 20) for i in range(200)
    ]

    def kept(items: tuple[SimpleNamespace, ...]) -> SimpleNamespace:
        # (the tuple as deep in the entry as in parse's: an attribute of an attribute's dict)
        return SimpleNamespace(corpus=SimpleNamespace(by_kind={"actor": items, "none": ()}))

    entries: dict[str, dict[str, object]] = {
        "parse": {"last": kept(tuple(records))}
        | {f"p{i}": ([record], ()) for i, record in enumerate(records)},
        "markdown": {f"record:{i}": (record, i) for i, record in enumerate(records)},
        "deps": {"site": ("stamp", 1)},
    }
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in entries.items()})

    def edit(new: dict[str, dict[str, Any]]) -> None:
        (seven,), _ = new["parse"]["p7"]
        edited = SimpleNamespace(id="r3", text="edited")
        items = new["parse"]["last"].corpus.by_kind["actor"]
        new["parse"] = {**new["parse"], "p3": ([edited], ())}
        new["parse"]["last"] = kept((*items[:3], edited, *items[4:], edited))
        new["markdown"]["record:3"] = (seven, "now links to r7")

    _resave(folder, edit)
    assert _deltas(folder) == ["delta-1.pickle"]
    # A reference to each record, not a copy.
    assert (folder / "delta-1.pickle").stat().st_size * 10 < len(pickle.dumps(records))
    loaded = _loaded(folder)
    (seven,), _ = loaded["parse"]["p7"]
    assert loaded["markdown"]["record:3"][0] is seven
    items = loaded["parse"]["last"].corpus.by_kind["actor"]
    assert items[7] is seven and items[3] is items[200] and items[3].text == "edited"
    assert [item.id for item in items] == [f"r{i}" for i in range(200)] + ["r3"]


def _with_index(entries: dict[str, dict[str, object]]) -> tuple[dict[str, str], list[str]]:
    """A search index's trace: a long dict (by record) and list (by page) of long entries."""
    page = {f"record {i}": f"the search index's entry of record {i}: " * 4 for i in range(2000)}
    files = [f"page-{i}.html written at stamp {i} " * 3 for i in range(2000)]
    entries["deps"]["traces"]["search"] = (page, files)
    return page, files


@pytest.mark.parametrize("reorder", [False, True])
def test_a_long_dict_or_list_that_differs_in_a_few_items_is_written_as_those(
    tmp_path: Path, reorder: bool
) -> None:
    folder = tmp_path / "cache"
    entries = _entries()
    page, _files = _with_index(entries)
    cache.save(folder, {name: cache.Memo(new=e) for name, e in entries.items()})

    def edit(new: dict[str, dict[str, object]]) -> None:
        old, old_files = new["deps"]["traces"]["search"]
        # One key replaced by another in its place (an index by records' fingerprints,
        # after one record changed), one added at the end, one removed.
        changed = {("record 9b" if k == "record 9" else k): v for k, v in old.items()}
        changed.update({"record 5": "new entry", "record 2000": "added"})
        del changed["record 7"]
        if reorder:  # the same items in another order: a patch would not give this order
            changed = dict(reversed(changed.items()))
        made = list(old_files)
        made[3] = "page-3.html written again"
        new["deps"]["traces"] = {**new["deps"]["traces"], "search": (changed, made)}

    expected = _resave(folder, edit)
    loaded = _loaded(folder)
    assert loaded == expected == _full(tmp_path, expected)
    got, got_files = loaded["deps"]["traces"]["search"]
    want, want_files = expected["deps"]["traces"]["search"]
    assert list(got) == list(want) and type(got_files) is list and got_files == want_files
    assert got["record 5"] == "new entry" and "record 7" not in got and len(got) == 2000
    assert list(got).index("record 9b") == (1991 if reorder else 8)  # record 7 is gone
    size = (folder / "delta-1.pickle").stat().st_size
    if reorder:  # each entry written as a reference to the old one's
        assert 2000 * 10 < size < len(pickle.dumps(page))
    else:  # only the items that changed
        assert size < 2000
    # The old entry is left as it was (the base's own objects were not patched in place).
    assert len(page) == 2000 and "record 7" in page


def test_a_patch_that_does_not_apply_ends_the_chain(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    entries = _entries()
    _with_index(entries)
    cache.save(folder, {name: cache.Memo(new=e) for name, e in entries.items()})

    def edit(new: dict[str, dict[str, object]]) -> None:
        old, files = new["deps"]["traces"]["search"]
        new["deps"]["traces"] = {**new["deps"]["traces"], "search": ({**old, "x": 1}, files)}

    _resave(folder, edit)
    data = (folder / "delta-1.pickle").read_bytes()
    # The patch's place, made to point at an entry that is no dict.
    assert data.count(b"search") == 1
    (folder / "delta-1.pickle").write_bytes(data.replace(b"search", b"page-1"))
    assert _loaded(folder) == _loaded_base(entries)


def _loaded_base(entries: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    return {name: entries[name] for name in NAMES}


@pytest.mark.parametrize("forks", [False, True], ids=["written-by-the-build", "written-aside"])
def test_deltas_apply_in_order_until_a_new_base_is_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: bool
) -> None:
    monkeypatch.setattr(cache, "_MAX_DELTAS", 3)
    if not forks:  # (as where there is no fork)
        monkeypatch.setattr(cache.workers, "can_fork", lambda: False)
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    seen: list[list[str]] = []
    aside: list[bool] = []  # (whether the base then was written aside)
    for n in range(11):

        def edit(new: dict[str, dict[str, object]], n: int = n) -> None:
            new["markdown"][f"record:{n}"] = ("edit", n)
            new["deps"]["seen"] = {**new["deps"]["seen"], f"key-{n}": f"edit {n}"}
            new["parse"].pop(f"p{n}")

        expected = _resave(folder, edit)
        cache.wait_compacted(folder)
        seen.append(_deltas(folder))
        assert _loaded(folder) == expected == _full(tmp_path, expected)
        aside.append("stands for" in _header(folder / cache.FILE))
    # The build that wrote a 4th delta had a new base written in its place (by a process of
    # its own); where there is no fork, the build that would have written it wrote a base.
    assert [len(d) for d in seen] == [1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]
    assert aside == [False] * 3 + [forks] * 4 + [forks] * 4

    # Much changed at once: a new base, not a delta as big as it.
    def edit_all(new: dict[str, dict[str, object]]) -> None:
        for entries in new.values():
            entries.update({key: ("changed", key) for key in entries})

    expected = _resave(folder, edit_all)
    assert _deltas(folder) == [] and _loaded(folder) == expected


def _edit(n: int) -> Callable[[dict[str, dict[str, object]]], None]:
    def edit(new: dict[str, dict[str, object]]) -> None:
        new["markdown"][f"record:{n}"] = ("edit", n)
        new["deps"]["seen"] = {**new["deps"]["seen"], f"key-{n}": f"edit {n}"}

    return edit


def _header(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        header: dict[str, Any] = pickle.load(file)
    return header


def _ids(folder: Path) -> list[str]:
    return [_header(folder / name)["id"] for name in [cache.FILE, *_deltas(folder)]]


def _base_and_deltas(tmp_path: Path, count: int) -> Path:
    """A cache folder: a base of `_entries()`, then `count` deltas (edits 0, 1...)."""
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    for n in range(count):
        _resave(folder, _edit(n))
    return folder


@pytest.fixture
def aside(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], object]]:
    """The tasks given a process of their own (`workers.detached`), kept to be run here, when
    the test says: at most 2 deltas, then a base written aside."""
    monkeypatch.setattr(cache, "_MAX_DELTAS", 2)
    tasks: list[Callable[[], object]] = []
    monkeypatch.setattr(cache.workers, "detached", lambda task: tasks.append(task) or True)
    return tasks


def test_the_build_that_writes_one_delta_too_many_has_a_base_written_aside(
    tmp_path: Path, aside: list[Callable[[], object]]
) -> None:
    folder = _base_and_deltas(tmp_path, 2)
    assert aside == []
    expected = _resave(folder, _edit(2))  # a 3rd delta: written, then a base aside
    assert _deltas(folder) == ["delta-1.pickle", "delta-2.pickle", "delta-3.pickle"]
    assert len(aside) == 1 and _loaded(folder) == expected
    chain = _ids(folder)
    memos = cache.load(folder, NAMES)  # (a build that loads those files, before the base)
    aside.pop()()
    files = sorted([cache.COMPACTING, cache.FILE, cache.STATE])
    assert sorted(p.name for p in folder.iterdir()) == files
    header = _header(folder / cache.FILE)
    assert header["stands for"] == chain and header["id"] not in chain
    assert _loaded(folder) == expected == _full(tmp_path, expected)
    # The build that loaded the files it stands for saves its changes after it.
    new = _save_loaded(folder, memos, _edit(3))
    assert _deltas(folder) == ["delta-1.pickle"] and aside == []
    assert _header(folder / "delta-1.pickle")["parent"] == header["id"]
    assert _loaded(folder) == new == _full(tmp_path, new)
    assert _resave(folder, _edit(4)) == _loaded(folder) and _deltas(folder)[-1] == "delta-2.pickle"


def test_the_deltas_saved_while_a_base_is_written_aside_follow_it(
    tmp_path: Path, aside: list[Callable[[], object]]
) -> None:
    folder = _base_and_deltas(tmp_path, 3)
    chain = _ids(folder)
    task = aside.pop()
    stale = cache.load(folder, NAMES)  # (builds that load the files before the base: these 4)
    expected = _resave(folder, _edit(3))  # (the lock is free: it asked for one, not run)
    fresh = cache.load(folder, NAMES)  # (these 5)
    saved = _ids(folder)[-1]
    task()
    header = _header(folder / cache.FILE)
    assert header["stands for"] == chain and _deltas(folder) == ["delta-1.pickle"]
    assert _ids(folder) == [header["id"], saved]
    assert _header(folder / "delta-1.pickle")["parent"] == header["id"]
    assert _loaded(folder) == expected == _full(tmp_path, expected)
    # A build that loaded the 5 files saves its delta after them.
    new = _save_loaded(folder, fresh, _edit(4))
    assert _deltas(folder) == ["delta-1.pickle", "delta-2.pickle"]
    assert _header(folder / "delta-2.pickle")["parent"] == saved
    assert _loaded(folder) == new == _full(tmp_path, new)
    # One that loaded the 4 files, before a delta that follows the base: it writes a base.
    new = _save_loaded(folder, stale, _edit(5))
    assert _deltas(folder) == [] and "stands for" not in _header(folder / cache.FILE)
    assert _loaded(folder) == new


def test_a_base_written_aside_is_dropped_if_another_base_was_written_since(
    tmp_path: Path, aside: list[Callable[[], object]]
) -> None:
    folder = _base_and_deltas(tmp_path, 3)
    task = aside.pop()
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries(7).items()})
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    task()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files
    assert _loaded(folder) == _loaded_base(_entries(7))


def test_deltas_go_on_while_a_base_is_written_aside_up_to_twice_as_many(
    tmp_path: Path, aside: list[Callable[[], object]]
) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    counts = []
    for n in range(6):
        expected = _resave(folder, _edit(n))
        counts.append(len(_deltas(folder)))
        assert _loaded(folder) == expected
    # Each build after the 2nd delta asks for a base aside (none was written): at the 5th,
    # more than twice as many deltas would be due, and the build writes a base itself.
    assert counts == [1, 2, 3, 4, 0, 1] and len(aside) == 2


def test_no_base_is_written_aside_while_another_process_writes_one(
    tmp_path: Path, aside: list[Callable[[], object]]
) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    with (folder / cache.COMPACTING).open("wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        for n in range(3):
            _resave(folder, _edit(n))
    assert aside == [] and len(_deltas(folder)) == 3
    _resave(folder, _edit(3))
    assert len(aside) == 1


def test_a_file_system_without_locks_saves_as_before_and_writes_no_base_aside(
    tmp_path: Path, aside: list[Callable[[], object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(37, "No locks available")

    monkeypatch.setattr(cache.fcntl, "flock", no_locks)
    folder = _base_and_deltas(tmp_path, 4)
    assert aside == [] and len(_deltas(folder)) == 4
    expected = _resave(folder, _edit(4))  # (twice as many would be due: a base, here)
    assert _deltas(folder) == [] and _loaded(folder) == expected


def test_a_base_is_written_aside_by_a_process_that_outlives_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "_MAX_DELTAS", 1)
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    _resave(folder, _edit(0))
    forked: list[int] = []
    fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forked.append(pid := fork()) or pid)
    expected = _resave(folder, _edit(1))
    monkeypatch.setattr(os, "fork", fork)
    cache.wait_compacted(folder)
    assert _deltas(folder) == [] and "stands for" in _header(folder / cache.FILE)
    assert _loaded(folder) == expected
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    assert len(forked) == 1  # (the process that forked the one that wrote it, and ended)
    with pytest.raises(ChildProcessError):  # (waited for already: no child left to this one)
        os.waitpid(forked[0], os.WNOHANG)


def test_deltas_that_outgrow_the_base_give_way_to_a_new_one(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries(100).items()})
    counts = []
    for n in range(10):
        # A tenth of the entries each time: a few deltas make a quarter of the base.
        def edit(new: dict[str, dict[str, object]], n: int = n) -> None:
            for i in range(n * 10, n * 10 + 10):
                new["markdown"][f"record:{i % 100}"] = ("edit", n, f"{'x' * 40}{i}")

        expected = _resave(folder, edit)
        counts.append(len(_deltas(folder)))
        assert _loaded(folder) == expected
        deltas = sum((folder / name).stat().st_size for name in _deltas(folder))
        assert deltas <= (folder / cache.FILE).stat().st_size * cache._DELTA_SHARE
    assert counts[:2] == [1, 2] and 0 in counts


def _alone_as_loaded(folder: Path) -> tuple[tuple[str, ...], dict[str, object]]:
    """The deps memo and the ids of the files read, as `load` gives them with the others."""
    memo = cache.load(folder, NAMES)["deps"]
    assert memo.disk is not None
    return memo.disk.ids, memo.old


def test_the_deps_memo_loads_alone_as_with_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    assert cache.load_alone(folder, "deps") == _alone_as_loaded(folder)
    _resave(folder, _edit_one_story)  # (the deps memo's changes, pickled alone: see above)
    _resave(folder, lambda new: new["parse"].pop("p9"))  # (the deps memo unchanged)
    _resave(folder, lambda new: new["deps"].update(site=("stamp", 3)))
    alone = cache.load_alone(folder, "deps")
    assert alone is not None and alone == _alone_as_loaded(folder)
    assert len(alone[0]) == 4 and alone[1]["site"] == ("stamp", 3)
    assert alone[1]["traces"]["page-3"] == ("key-3", "key-new")
    with pytest.raises(ValueError, match="parse is not pickled alone"):
        cache.load_alone(folder, "parse")


def test_the_deps_memo_of_a_base_begun_early_loads_alone(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    entries = {"files": {"f": ("digest", [])}, **_entries()}
    memos = {name: cache.Memo(new=e) for name, e in entries.items()}
    cache.begin(folder, memos, aside=True)  # (the early memos, written by a forked process)
    memos["deps"].new["later"] = ("made", "after")
    cache.save(folder, memos, "state")
    ids, deps = _alone_as_loaded(folder)
    assert cache.load_alone(folder, "deps") == (ids, deps) and deps["later"] == ("made", "after")


@pytest.mark.parametrize("cut", ["deps", "others"])
def test_the_deps_memo_alone_ends_its_chain_at_a_bad_delta(tmp_path: Path, cut: str) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})

    def edit(new: dict[str, dict[str, object]], n: int) -> None:  # (the deps memo and another)
        new["deps"]["site"] = ("stamp", n)
        del new["parse"][f"p{n}"]

    for n in range(3):
        _resave(folder, lambda new, n=n: edit(new, n))
    bad = folder / cache.DELTA.format(2)
    data = bad.read_bytes()
    with bad.open("rb") as file:
        pickle.load(file)
        pickle.load(file)
        end = file.tell()  # (where the deps memo's changes end, and the others' begin)
    bad.write_bytes(data[: end - 10] if cut == "deps" else data[: end + 10])
    alone = cache.load_alone(folder, "deps")
    ids, deps = _alone_as_loaded(folder)
    assert alone is not None and len(ids) == 2 and deps["site"] == ("stamp", 0)
    if cut == "deps":
        assert alone == (ids, deps)
    else:  # (not the others' changes: the ids tell that it read another chain)
        assert len(alone[0]) == 4 and alone[0][:2] == ids and alone[1]["site"] == ("stamp", 2)


def test_a_base_cut_before_its_trailer_loads_but_not_the_deps_memo_alone(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "cache"
    entries = _entries()
    cache.save(folder, {name: cache.Memo(new=e) for name, e in entries.items()})
    base = folder / cache.FILE
    data = base.read_bytes()
    start = int.from_bytes(data[-8:], "little")
    with base.open("rb") as file:  # (the trailer: where the deps memo's part begins)
        file.seek(start)
        places = pickle.load(file)
        assert list(places) == ["deps"] and 0 < places["deps"] < start
        file.seek(places["deps"])
        assert cache._load_part(file, None) == ({"deps": entries["deps"]}, {})
    base.write_bytes(data[:start])  # (the trailer gone: every part is whole)
    assert _loaded(folder) == entries
    assert cache.load_alone(folder, "deps") is None


GARBAGE = [
    b"not a pickle at all",
    b"",
    pickle.dumps({"version": "another generator", "id": "x", "parent": None, "seq": 1}),
    pickle.dumps(["a list, not a dict"]),
]


@pytest.mark.parametrize("garbage", [*GARBAGE, "truncated", "stale", "bad changes"])
def test_a_bad_delta_ends_the_chain_before_it(tmp_path: Path, garbage: bytes | str) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    first = _resave(folder, _edit_one_story)
    _resave(folder, lambda new: new["parse"].pop("p5"))
    second = _resave(folder, lambda new: new["parse"].pop("p6"))
    assert _loaded(folder) == second and _deltas(folder) == [f"delta-{n}.pickle" for n in (1, 2, 3)]
    bad = folder / "delta-2.pickle"
    data = bad.read_bytes()
    if garbage == "truncated":
        garbage = data[: len(data) // 2]
    elif garbage == "stale":  # made by this code, but for another file than delta-1
        with bad.open("rb") as file:
            header = pickle.load(file)
        garbage = pickle.dumps({**header, "parent": "another"}) + data[len(pickle.dumps(header)) :]
    elif garbage == "bad changes":
        with bad.open("rb") as file:
            header = pickle.load(file)
        garbage = pickle.dumps(header) + pickle.dumps({"parse": ({}, [], {"p1": ({}, [])})})
    assert isinstance(garbage, bytes)
    bad.write_bytes(garbage)
    assert _loaded(folder) == first  # the base and delta-1: as the build that wrote them left them
    # The next save writes the cache afresh from there, and the stale delta-3 is not read.
    third = _resave(folder, lambda new: new["parse"].pop("p9"))
    assert _loaded(folder) == third
    assert "p5" in third["parse"] and "p6" in third["parse"]


@pytest.mark.parametrize("garbage", [*GARBAGE, "truncated"])
def test_a_bad_base_empties_the_memos(tmp_path: Path, garbage: bytes | str) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    _resave(folder, _edit_one_story)
    base = folder / cache.FILE
    if garbage == "truncated":
        garbage = base.read_bytes()[: base.stat().st_size // 2]
    assert isinstance(garbage, bytes)
    base.write_bytes(garbage)
    assert _loaded(folder) == {name: {} for name in NAMES}
    expected = _resave(folder, lambda new: new["parse"].update(p1=1))
    assert _deltas(folder) == [] and _loaded(folder) == expected == {
        "parse": {"p1": 1},
        "markdown": {},
        "deps": {},
    }


def test_a_delta_for_another_base_is_not_applied(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    _resave(folder, _edit_one_story)
    old_delta = (folder / "delta-1.pickle").read_bytes()
    # Another base, written by a process that did not read this one.
    other = _entries(10)
    cache.save(folder, {name: cache.Memo(new=e) for name, e in other.items()})
    assert _deltas(folder) == []
    (folder / "delta-1.pickle").write_bytes(old_delta)  # as a save killed before removing it
    assert _loaded(folder) == other


@pytest.mark.parametrize("meanwhile", ["a delta", "a base"])
def test_a_save_from_memos_of_another_load_writes_what_they_hold(
    tmp_path: Path, meanwhile: str
) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()})
    earlier = cache.load(folder, NAMES)  # another process, which saves later
    if meanwhile == "a delta":
        _resave(folder, _edit_one_story)
    else:
        cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries(10).items()})
    for memo in earlier.values():
        memo.new = {**memo.old, "late": 1}
    cache.save(folder, earlier)
    assert _loaded(folder) == {name: memo.new for name, memo in earlier.items()}


def test_carried_memos_save_what_changed_since_their_last_save(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    memos = {name: cache.Memo(new=e) for name, e in _entries().items()}
    cache.save(folder, memos)
    for n in range(3):  # as `factsheet serve` does, without reading the cache again
        memos = cache.carry(memos, succeeded=n != 1)
        for memo in memos.values():
            memo.new = dict(memo.old)
        memos["parse"].new[f"new {n}"] = n
        if n != 1:  # a failed build saves nothing
            cache.save(folder, memos)
    assert _deltas(folder) == ["delta-1.pickle", "delta-2.pickle"]
    assert _loaded(folder)["parse"] == {**_entries()["parse"], "new 0": 0, "new 1": 1, "new 2": 2}


class _Killed(BaseException):
    pass


@pytest.mark.parametrize("where", ["writing", "renaming", "removing deltas", "the state"])
def test_a_save_killed_at_any_step_leaves_a_cache_load_trusts_or_ignores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in _entries().items()}, "state")
    before = _resave(folder, _edit_one_story)
    real_dump, real_replace = pickle.dump, cache.os.replace

    def dump(data: object, file: Any, *args: Any, **kwargs: Any) -> None:
        file.write(pickle.dumps(data)[:10])
        raise _Killed

    def replace(source: str, target: Path) -> None:
        if where == "renaming" or Path(target).name == cache.STATE:
            raise _Killed
        real_replace(source, target)

    def remove(*args: object) -> None:
        raise _Killed

    if where == "writing":
        monkeypatch.setattr(cache.pickle, "dump", dump)
    elif where == "removing deltas":
        monkeypatch.setattr(cache, "_remove_deltas", remove)
    else:
        monkeypatch.setattr(cache.os, "replace", replace)
    memos = cache.load(folder, NAMES)
    for memo in memos.values():
        memo.new = {key: ("changed", key) for key in memo.old}  # a new base is due
    with pytest.raises(_Killed):
        cache.save(folder, memos, state="new state")
    monkeypatch.setattr(cache.pickle, "dump", real_dump)
    assert cache.load_state(folder) is None  # nothing vouches for the cache now
    after = {name: memo.new for name, memo in memos.items()}
    assert _loaded(folder) == (before if where in ("writing", "renaming") else after)
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]


def test_rebuilds_read_the_deltas_earlier_rebuilds_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "_DELTA_SHARE", 0.9)  # the fixture is small: many pages change
    content, templates = _site(tmp_path)
    folder = tmp_path / "cache"
    _build(content, tmp_path / "site", templates, folder)
    _edit_story(content, templates)
    _build(content, tmp_path / "site", templates, folder)
    assert _deltas(folder) == ["delta-1.pickle"]
    parsed, _ = counting(monkeypatch)
    _rename_actor(content, templates)
    cached = _build(content, tmp_path / "site", templates, folder)
    assert _deltas(folder) == ["delta-1.pickle", "delta-2.pickle"]
    assert parsed == ["content/actors/elena-marsh.yaml"]  # the story edited before: from delta-1
    assert cached == _build(content, tmp_path / "clean", templates, None)
    parsed.clear()
    _delete_record(content, templates)
    cached = _build(content, tmp_path / "site", templates, folder)
    assert parsed == [] and cached == _build(content, tmp_path / "clean", templates, None)


def test_the_keys_a_save_looks_at_are_those_whose_value_is_not_the_very_object_it_was() -> None:
    """`cache._moved` (a comparison in C) against the plain loop it stands for."""
    shared = [object() for _ in range(6)]
    old = {f"k{i}": shared[i] for i in range(5)}
    cases = [
        dict(old),  # the very objects
        {**old, "k2": object()},  # one replaced
        {**old, "k2": f"{'k'}2"},  # an equal str made afresh is not the very object
        {**old, "k9": shared[5]},  # one added at the end
        {"k9": shared[5], **old},  # one added first
        {k: v for k, v in old.items() if k != "k3"},  # one removed
        {k: v for k, v in old.items() if k != "k3"} | {"k9": shared[5]},  # removed, added
        dict(reversed(old.items())),  # another order
        {"k0": None, "k1": shared[1]},  # None in place of a value; most removed
        {},
        {**old, "k2": object(), "k9": shared[5]},  # one replaced, one added at the end
        {f"k{i}": shared[i] for i in range(5)},  # equal keys, not the very objects
        {f"k{i}": shared[i] for i in range(5)} | {"k9": shared[5]},  # and one added
        {k: v for k, v in old.items() if k != "k4"},  # the last removed: each in its place
    ]
    for new in cases:
        moved, removed = cache._moved(old, new)
        assert moved == [k for k, v in new.items() if old.get(k, cache._MISSING) is not v]
        assert removed == [k for k in old if k not in new]
    assert cache._moved({"a": None}, {"a": None}) == ([], [])
    assert cache._moved({}, {"a": None}) == (["a"], [])


def _edited(
    rng: random.Random,
    old: dict[str, object],
    keys: list[str],
    shared: list[object],
    afresh: bool = False,
) -> dict[str, object]:
    """`old` after a few random edits: keys removed, keys of `keys` added (with their value
    in `shared`), values replaced, keys moved elsewhere; and, `afresh`, keys made again as
    equal strs."""
    items = list(old.items())
    for _ in range(rng.choice([1, 2, 3, 8, 20])):
        what, at = rng.random(), rng.randrange(len(items) + 1)
        last = min(at, len(items) - 1)
        if what < 0.3 and items:
            del items[last]
        elif what < 0.6:
            extra = rng.randrange(200, 300)
            items.insert(at, (keys[extra], shared[extra]))
        elif what < (0.8 if afresh else 0.9) and items:
            items[last] = (items[last][0], object())
        elif what < 0.9 and items:
            key, value = items[last]
            items[last] = ("".join(key), value)  # equal, afresh
        elif items:
            items.insert(at, items.pop(rng.randrange(len(items))))  # moved elsewhere
    return dict(items)


def test_the_keys_a_save_looks_at_where_a_few_keys_were_removed_and_added() -> None:
    """`cache._moved` against the plain loop, on dicts made from one by a few keys removed
    and added anywhere, or moved, or made afresh, or many."""
    rng = random.Random(7)
    shared = [object() for _ in range(300)]
    keys = [f"key {i}" for i in range(300)]
    old = {keys[i]: shared[i] for i in range(200)}
    for _ in range(400):
        new = _edited(rng, old, keys, shared, afresh=True)
        moved, removed = cache._moved(old, new)
        assert moved == [k for k, v in new.items() if old.get(k, cache._MISSING) is not v]
        assert removed == [k for k in old if k not in new]


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_documents_a_build_keeps_after_parsing_have_no_text_but_the_same_record(
    tmp_path: Path, jobs: int
) -> None:
    content = tmp_path / "content"
    shutil.copytree(FULL, content)
    listing = walk(content)
    whole, _ = read_content(content, None, listing)
    kept: list[Document | Unread] = []
    corpus, _, _ = load(Options(content=content, jobs=jobs), listing=listing, read=kept)
    assert corpus is not None and len(corpus.records) > 10
    # Each as read, but for its text (site.yaml's kept).
    assert [(d.path, d.kind, d.digest) for d in kept] == [(d.path, d.kind, d.digest) for d in whole]
    texts = [d.text for d in kept if isinstance(d, Document)]
    assert texts.count("") == len(texts) - 1
    # What the cache's state records of them (read by the next build) is the same.
    where = shown(content)
    assert unchanged.record(listing, kept, where) == unchanged.record(listing, whole, where)


def test_a_trace_remade_with_a_few_changes_is_written_as_those(tmp_path: Path) -> None:
    """The search index's trace (a compact `rebuild.Trace`, a tuple of another type), made
    again after one record changed: its long keys made afresh equal, and its memo with one
    entry changed, are written as a patch of the old ones, not entry by entry."""
    folder = tmp_path / "cache"
    entries = _entries()
    memo = {f"record {i}": f"the search index's entry of record {i}: " * 4 for i in range(2000)}
    keys = tuple(f"h\x1frecord-{i}\x1fbody" for i in range(2000))
    entries["deps"]["traces"]["search"] = Trace(keys, (("search.js", (1, 2, 3)),), memo)
    cache.save(folder, {name: cache.Memo(new=e) for name, e in entries.items()})

    def edit(new: dict[str, dict[str, object]]) -> None:
        made = {key: (text + ".")[:-1] for key, text in memo.items()}  # equal, not the same
        made["record 5"] = "new"
        again = tuple(f"h\x1frecord-{i}\x1fbody" for i in range(2000))
        trace = Trace(again, (("search.js", (1, 2, 4)),), made)
        new["deps"]["traces"] = {**new["deps"]["traces"], "search": trace}

    expected = _resave(folder, edit)
    loaded = _loaded(folder)
    assert loaded == expected == _full(tmp_path, expected)
    trace = loaded["deps"]["traces"]["search"]
    assert type(trace) is Trace and trace.memo["record 5"] == "new"
    assert trace.files == (("search.js", (1, 2, 4)),) and len(trace.keys) == 2000
    assert (folder / "delta-1.pickle").stat().st_size < 2000


def test_a_long_tuple_of_str_is_patched_by_the_items_that_are_not_equal() -> None:
    """All str (told in C): the patch item by item gives, up to a quarter of the items."""
    old = tuple(f"h\x1frecord-{i}\x1fbody" for i in range(1000))
    again = tuple((key + ".")[:-1] for key in old)  # equal, not the very objects
    assert cache._items_patch(old, again) == ()
    edited = list(again)
    edited[3], edited[999] = "h\x1fother\x1fbody", "h\x1flast\x1fbody"
    assert cache._items_patch(old, tuple(edited)) == ((3, edited[3]), (999, edited[999]))
    quarter = [f"new {i}" if i % 4 == 0 else key for i, key in enumerate(again)]
    assert len(cache._items_patch(old, tuple(quarter)) or ()) == 250
    quarter[1] = "one more"
    assert cache._items_patch(old, tuple(quarter)) is None
    # Not all str: item by item, where an equal item of another type is a change.
    assert cache._items_patch((*old[:-1], True), (*again[:-1], 1)) == ((999, 1),)
    assert cache._items_patch([*old[:-1], 1], [*again[:-1], 1]) == ()


def _plain_items_patch(old: Any, new: Any) -> tuple[tuple[int, Any], ...] | None:
    """What `cache._items_patch` stands for, item by item."""
    items = tuple(
        (index, item)
        for index, (item, was) in enumerate(zip(new, old, strict=True))
        if not (item is was or cache._same_atom(item, was))
    )
    return items if len(items) <= len(new) * cache._DELTA_SHARE else None


def test_a_long_list_s_patch_is_the_items_that_are_not_the_very_objects_or_equal_atoms() -> None:
    """`cache._items_patch` (the very objects told apart in C, then the rest one by one)
    against the plain loop it stands for, on lists made from one by a few items replaced
    by others, by equal ones made afresh, or by an equal one of another type, or many."""
    rng = random.Random(11)
    pool: list[Any] = [object(), ("a", 1), ("a", 1), 1, True, 1.0, None, "", b"x" * 70]
    kinds = [lambda i: b"entry %d" % i, lambda i: f"entry {i}", lambda i: ("entry", i)]
    kinds.append(lambda i: object())
    old = [rng.choice(kinds)(i) if i % 7 else i for i in range(200)]
    for _ in range(300):
        new = list(old)
        for _ in range(rng.choice([0, 1, 2, 5, 49, 50, 51, 120])):
            at = rng.randrange(len(new))
            was, what = new[at], rng.random()
            if what < 0.5:
                new[at] = rng.choice(pool)
            elif isinstance(was, str | bytes):
                new[at] = was[:1] + was[1:]  # equal, afresh
            elif type(was) is int:
                new[at] = float(was)  # equal, of another type
            elif type(was) is tuple:
                new[at] = tuple(list(was))  # equal, not the very object
        for kind in (list, tuple):
            assert cache._items_patch(kind(old), kind(new)) == _plain_items_patch(old, new)


def test_a_long_dict_s_patch_loads_as_the_dict_it_was_made_from() -> None:
    """`cache._dict_patch` then `cache._patched` (each told in C but for the keys added)
    give back the dict, its order included, or no patch where the order could not be kept;
    the old dict is left as it was."""
    rng = random.Random(5)
    shared = [object() for _ in range(300)]
    old = {f"key {i}": shared[i] for i in range(200)}
    patched = 0
    keys = [f"key {i}" for i in range(300)]
    for _ in range(400):
        new = _edited(rng, old, keys, shared)
        patch = cache._dict_patch(old, new)
        changed = [key for key, value in new.items() if old.get(key) is not value]
        removed = [key for key in old if key not in new]
        in_order = [key for key in new if key in old] == [key for key in old if key in new]
        many = len(changed) + len(removed) > len(new) * cache._DELTA_SHARE
        assert (patch is None) == (many or not in_order)
        if patch is None:
            continue
        patched += 1
        value = cache._patched(("d", ("e", "deps", "x"), *patch), old)
        assert list(value.items()) == list(new.items())
        assert len(old) == 200 and all(old[f"key {i}"] is shared[i] for i in range(200))
    assert patched > 100
    # One key replaced by another at the end (the uses of the renderings after a story's
    # edit), or in its place; two added at the end.
    cases = [
        {key: value for key, value in old.items() if key != "key 3"} | {"key 299": shared[299]},
        {("key 299" if key == "key 3" else key): value for key, value in old.items()},
        {**old, "key 250": shared[250], "key 251": shared[251]},
    ]
    for edited in cases:
        patch = cache._dict_patch(old, edited)
        assert patch is not None
        value = cache._patched(("d", ("e", "deps", "x"), *patch), old)
        assert list(value.items()) == list(edited.items())
    # A key added that the patch holds no value for: not applied.
    changed, removed, added = cache._dict_patch(old, {**old, "key 250": shared[250]}) or ()
    with pytest.raises(KeyError):
        cache._patched(("d", ("e", "deps", "x"), {}, removed, added), old)


def test_a_build_s_traces_share_the_makers_names_with_their_files(tmp_path: Path) -> None:
    """A trace of a maker that wrote one file (its name) holds that name as the very object
    that keys it, made in a worker process or not: the cache holds each name once."""
    content, templates = _site(tmp_path)
    for jobs in (1, 2):
        folder = tmp_path / f"cache-{jobs}"
        _build(content, tmp_path / f"site-{jobs}", templates, folder, jobs)
        traces = cache.load(folder, NAMES)["deps"].old["traces"]
        # (all but the search index's, which keeps a memo)
        single = {name: trace for name, trace in traces.items() if not trace.memo}
        assert len(single) == len(traces) - 1
        assert all(trace.names == (name,) and trace[1] is name for name, trace in single.items())


def test_a_delta_refers_to_the_table_of_keys_that_a_new_packed_trace_names(
    tmp_path: Path,
) -> None:
    """A trace packed with the last build's table of keys (see `rebuild.Trace`) is written
    in a delta as its bytes and a reference to the table, which stays as it was."""
    keys = tuple(f"h\x1frecord-{i}\x1fsummary" for i in range(5000))
    traces = {
        f"page-{i}": Trace(keys[i : i + 3], ((f"page-{i}.html", (1, 2, 3)),)) for i in range(200)
    }
    seen = dict.fromkeys(keys, "digest")
    packed, table = rebuild.pack(traces, {}, {}, seen, None)
    entries = _entries()
    entries["deps"] = {"traces": packed, "keys": table, "seen": seen}
    folder = tmp_path / "cache"
    cache.save(folder, {name: cache.Memo(new=e) for name, e in entries.items()})
    made = Trace(keys[10:13], (("page-7.html", (4, 5, 6)),))

    def edit(new: dict[str, dict[str, Any]]) -> None:
        deps = new["deps"]
        places = {key: place for place, key in enumerate(deps["keys"])}
        deps["traces"] = {**deps["traces"], "page-7": made.packed(deps["keys"], places)}

    _resave(folder, edit)
    assert _deltas(folder) == ["delta-1.pickle"]
    assert (folder / "delta-1.pickle").stat().st_size < len(pickle.dumps(table)) / 4
    loaded = cache.load(folder, NAMES)["deps"].old
    trace = loaded["traces"]["page-7"]
    assert trace.keys == keys[10:13] and trace[3] is loaded["keys"]


def _temporary(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("aside", [False, True])
def test_a_base_begun_before_the_site_is_made_is_finished_by_the_save(
    tmp_path: Path, aside: bool
) -> None:
    folder = tmp_path / "cache"
    entries = {"files": {"f": ("digest", [])}, **_entries()}
    memos = {name: cache.Memo(new=e) for name, e in entries.items()}
    cache.begin(folder, memos, aside)
    begun = cache._begun
    assert begun is not None and (begun.aside is not None) == aside
    # The early memos are written (by a forked process, aside), into a temporary file: no
    # base yet.
    assert len(_temporary(folder)) == 1
    assert not (folder / cache.FILE).exists()
    memos["deps"].new["later"] = ("made", "after")  # the deps memo is filled after
    cache.save(folder, memos, "state")
    assert not _temporary(folder)
    with (folder / cache.FILE).open("rb") as file:
        header = pickle.load(file)
    assert header["leads"] == [None, None, "parse", None]  # the early memos first
    loaded = _loaded(folder, tuple(entries))
    assert loaded == entries
    assert loaded["deps"]["later"] == ("made", "after")
    assert loaded["parse"]["p5"][0][0] is loaded["markdown"]["record:5"][0]
    assert cache.load_state(folder) == "state"
    # Read from the folder, the memos make a delta: nothing is begun.
    memos = cache.load(folder, tuple(entries))
    cache.begin(folder, memos)
    assert not _temporary(folder)


@pytest.mark.parametrize("aside", [False, True])
@pytest.mark.parametrize("change", ["entry", "memo", "names"])
def test_a_base_begun_for_memos_that_changed_since_is_written_again(
    tmp_path: Path, change: str, aside: bool
) -> None:
    folder = tmp_path / "cache"
    entries = {"files": {"f": ("digest", [])}, **_entries()}
    memos = {name: cache.Memo(new=dict(e)) for name, e in entries.items()}
    cache.begin(folder, memos, aside)
    if change == "entry":
        memos["markdown"].new["record:99"] = ("late", "entry")
        entries["markdown"]["record:99"] = ("late", "entry")
    elif change == "memo":
        memos["parse"].new = entries["parse"] = {"p0": ([("record", 0, ["text 0"])], [])}
    else:
        memos["more"] = cache.Memo(new={"x": 1})
        entries["more"] = {"x": 1}
    cache.save(folder, memos)
    assert not _temporary(folder)
    assert _loaded(folder, tuple(entries)) == entries


@pytest.mark.parametrize("failed", ["killed", "failed"])
def test_a_base_whose_early_memos_the_forked_process_did_not_write_is_written_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failed: str
) -> None:
    folder = tmp_path / "cache"
    entries = {"files": {"f": ("digest", [])}, **_entries()}
    memos = {name: cache.Memo(new=e) for name, e in entries.items()}
    if failed == "failed":
        original = cache._dump_part

        def full_disk(file: Any, part: dict[str, Any], lead: Any) -> None:
            if "markdown" in part:
                raise OSError("no space left on the device")
            original(file, part, lead)

        monkeypatch.setattr(cache, "_dump_part", full_disk)  # (in the forked process too)
    cache.begin(folder, memos, aside=True)
    begun = cache._begun
    assert begun is not None and begun.aside is not None
    if failed == "killed":
        begun.aside.stop()
    else:
        assert not begun.aside.wait()
        monkeypatch.setattr(cache, "_dump_part", original)
    cache.save(folder, memos, "state")
    assert not _temporary(folder)
    assert _loaded(folder, tuple(entries)) == entries
    assert cache.load_state(folder) == "state"


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_build_that_fails_after_beginning_a_base_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    content, templates = _site(tmp_path)
    folder = tmp_path / "cache"
    forked = []

    def fail(*args: object, **kwargs: object) -> None:
        assert len(_temporary(folder)) == 1  # begun
        assert cache._begun is not None
        forked.append(cache._begun.aside)
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "make_site", fail)
    options = Options(
        content=content, out=tmp_path / "site", templates=templates, cache=folder, jobs=jobs
    )
    result = build(options)
    assert not result.written and result.failed
    assert not _temporary(folder)
    assert not (folder / cache.FILE).exists()
    # With two jobs, the early memos were written by a forked process: ended and waited for.
    assert (forked != [None]) == (jobs > 1)
    for aside in forked:
        if aside is not None:
            with pytest.raises(ChildProcessError):
                os.waitpid(aside.pid, os.WNOHANG)


def test_the_code_s_version_reads_the_source_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A build asks for it four times: the modules and the libraries' metadata are read at
    the first, and the version is the same each time (but for the byte order's part)."""
    read: list[str] = []
    version = cache.metadata.version
    monkeypatch.setattr(cache.metadata, "version", lambda name: read.append(name) or version(name))
    cache._code.cache_clear()
    first = cache.code_version()
    assert cache.code_version() == cache.code_version() == first
    assert read == list(cache._LIBRARIES)
    monkeypatch.setattr(sys, "byteorder", "big" if sys.byteorder == "little" else "little")
    assert cache.code_version() != first and read == list(cache._LIBRARIES)


def test_the_first_build_after_a_cold_one_writes_a_small_delta(tmp_path: Path) -> None:
    """A cold build writes the parse memo before its corpus's records by kind are worked
    out, and the next build's corpus has them. Were they pickled as they happen to be, that
    build's delta could not refer to the old records by their place (the old records by id
    is patched, not looked into) and would hold every record again: at 10,000 stories it
    was pickled for 16 s until too big, then thrown away for a new base. (Here, too, a new
    base came instead of a delta.)"""
    content, out, folder = tmp_path / "content", tmp_path / "site", tmp_path / "cache"
    _bench().write_corpus(content, 24)  # type: ignore[attr-defined]
    _build_in_a_new_process(content, out, folder)
    story = content / "stories" / "story-0.md"
    story.write_text(story.read_text("utf-8") + "\nOne more sentence.\n", "utf-8")
    cached = _build_in_a_new_process(content, out, folder)
    assert cached == _build(content, tmp_path / "clean", TEMPLATES, None)
    story.write_text(story.read_text("utf-8") + "\nAnd another.\n", "utf-8")
    _build_in_a_new_process(content, out, folder)
    # A delta each (not a base the second time), the first no bigger than the next one's.
    assert sorted(path.name for path in folder.glob(cache.DELTA.format("*"))) == [
        cache.DELTA.format(1),
        cache.DELTA.format(2),
    ]
    first, later = ((folder / cache.DELTA.format(n)).stat().st_size for n in (1, 2))
    assert first < later * 1.5, (first, later)


def test_early_memos_let_go_once_begun_are_in_the_base_the_save_writes(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    entries = {"files": {"f": ("digest", [])}, **_entries()}
    memos = {name: cache.Memo(new=dict(e)) for name, e in entries.items()}
    assert cache.release(memos) == []  # nothing begun: nothing let go
    cache.begin(folder, memos)
    early = [memos[name].new for name in cache.EARLY]
    let_go = cache.release(memos)
    assert len(let_go) == len(early) and all(map(operator.is_, let_go, early))
    assert all(memos[name].new == {} for name in cache.EARLY)
    memos["deps"].new["later"] = ("made", "after")
    entries["deps"]["later"] = ("made", "after")
    cache.save(folder, memos, "state")
    assert _loaded(folder, tuple(entries)) == entries
    assert cache.load_state(folder) == "state"


@pytest.mark.parametrize("change", ["entry", "memo", "discarded"])
def test_early_memos_let_go_are_never_saved_as_empty(tmp_path: Path, change: str) -> None:
    """A base begun, its early memos let go, then not finished (a memo changed, or the base
    discarded): no base can hold what was let go, so none is written, nor a state."""
    folder = tmp_path / "cache"
    entries = {"files": {"f": ("digest", [])}, **_entries()}
    memos = {name: cache.Memo(new=dict(e)) for name, e in entries.items()}
    cache.begin(folder, memos)
    assert cache.release(memos)
    if change == "entry":
        memos["markdown"].new["record:99"] = ("late", "entry")
    elif change == "memo":
        memos["more"] = cache.Memo(new={"x": 1})
    else:
        cache.discard()
    cache.save(folder, memos, "state")
    assert not (folder / cache.FILE).exists() and not _temporary(folder)
    assert cache.load_state(folder) is None


def test_a_build_once_lets_go_of_what_only_a_next_build_would_start_from(
    tmp_path: Path,
) -> None:
    content, templates = _site(tmp_path)
    folder, out = tmp_path / "cache", tmp_path / "site"
    options = Options(content=content, out=out, templates=templates, cache=folder)
    for recent in Recent.made:  # (what earlier tests' builds left)
        recent._kept.clear()
    result = build(options, once=True)
    assert result.written
    # The early memos are stand-ins now, and no build in this process kept anything by
    # them (what `reading` and `parse` keep for the next build in serve).
    assert all(result.memos[name].new == {} for name in cache.EARLY)
    assert not any(recent._kept for recent in Recent.made)
    # The cache has them all: the next build (in this process, from the folder) starts
    # from it, and makes the site a clean build makes.
    _edit_story(content, templates)
    assert _build(content, out, templates, folder) == _build(
        content, tmp_path / "clean", templates, None
    )
    assert cache.load(folder, ("parse",))["parse"].old


# A base shelves the markdown memo's visits and renderings (see `cache.Shelving`): a build
# reads the chunks of those it recalls.


@pytest.fixture
def shelving(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every memo that has entries to shelve shelves them, a few to a chunk."""
    monkeypatch.setattr(cache, "_SHELF_MIN", 0)
    monkeypatch.setattr(cache, "_SHELF_CHUNK", 3)


def _shelved_entries(n: int = 20) -> dict[str, dict[str, object]]:
    """Memos like a build's: the markdown memo's visits hold the parse memo's records, the
    HTML the link stage gathered, and renderings, which are entries of their own."""
    records = {f"r{i}": ("record", i, [f"text {i}"]) for i in range(n)}
    html = {(f"r{i}", "summary"): f"<p>The summary of record {i}.</p>" * 3 for i in range(n)}
    rendering = {cache.fingerprint(i): (f"<p>{i}</p>", (f"r{i}",)) for i in range(n)}
    visits = {
        f"record:False:r{i}": (
            records[f"r{i}"],
            {"html": html[(f"r{i}", "summary")], "rendered": rendering[cache.fingerprint(i % 5)]},
        )
        for i in range(n)
    }
    return {
        "parse": {f"p{i}": ([records[f"r{i}"]], []) for i in range(n)},
        "markdown": {**rendering, **visits, "links:html": html, "links:last": {"n": n}},
        "deps": {"site": ("stamp", 1)},
    }


def _stubs(entries: dict[str, object]) -> list[str]:
    return [key for key, value in entries.items() if type(value) is cache._Shelved]


def _read(shelf: cache._Shelf) -> int:
    """How many of the shelf's chunks were read."""
    return sum(chunk is not None for chunk in shelf.chunks)


def _shelf(entries: dict[str, object]) -> cache._Shelf:
    (shelf,) = {
        id(v.shelf): v.shelf for v in entries.values() if type(v) is cache._Shelved
    }.values()
    return shelf


def test_a_base_shelves_visits_and_renderings_and_reads_a_chunk_when_one_is_recalled(
    tmp_path: Path, shelving: None
) -> None:
    entries = _shelved_entries()
    cache.save(tmp_path, {name: cache.Memo(new=e) for name, e in entries.items()})
    memos = cache.load(tmp_path, NAMES)
    old = memos["markdown"].old
    # Loaded: all but the visits and renderings, which stand in chunks of 3.
    assert list(old) == ["links:html", "links:last", *list(entries["markdown"])[:40]]
    assert len(_stubs(old)) == 40 and old["links:last"] == {"n": 20}
    shelf = _shelf(old)
    assert _read(shelf) == 0 and len(shelf.keys) == 14
    visit = cache.recall(old, "record:False:r7")
    # Its chunk (visits 6, 7 and 8), each entry in its place; and those of the renderings
    # its visits hold (1, 2 and 3: two chunks), for the visits.
    assert _read(shelf) == 3 and len(_stubs(old)) == 40 - 3
    assert visit == entries["markdown"]["record:False:r7"]
    assert visit is old["record:False:r7"] is cache.recall(old, "record:False:r7")
    assert visit[0] is memos["parse"].old["p7"][0][0]  # the parse memo's record
    assert visit[1]["html"] is old["links:html"][("r7", "summary")]  # the link stage's HTML
    assert visit[1]["rendered"] is cache.recall(old, cache.fingerprint(2))  # that entry
    assert cache.recall(old, "no such key", "none") == "none"
    assert (
        memos["markdown"].get(cache.fingerprint(19)) == entries["markdown"][cache.fingerprint(19)]
    )
    cache.recall_all(old)
    assert old == entries["markdown"] and not _stubs(old) and _read(shelf) == 14


def test_a_small_memo_is_not_shelved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "_SHELF_MIN", 41)
    cache.save(tmp_path, {name: cache.Memo(new=e) for name, e in _shelved_entries().items()})
    assert _loaded(tmp_path) == _shelved_entries()


def test_deltas_after_a_shelved_base_load_as_a_full_save_of_the_same_entries(
    tmp_path: Path, shelving: None
) -> None:
    folder = tmp_path / "cache"
    entries = _shelved_entries()
    cache.save(folder, {name: cache.Memo(new=e) for name, e in entries.items()})

    def edit(new: dict[str, dict[str, object]]) -> None:
        # A visit recalled and remade with the parts of the old one (a delta refers to
        # them, in the base's chunk), another dropped; the others kept unread.
        record, found = cache.recall(new["markdown"], "record:False:r4")
        new["markdown"]["record:False:r4"] = (record, {**found, "more": "a new part"})
        del new["markdown"]["record:False:r11"]

    # (load, keep every entry as loaded, edit, save: see `_resave`)
    memos = cache.load(folder, NAMES)
    new = {name: dict(memo.old) for name, memo in memos.items()}
    edit(new)
    for name, memo in memos.items():
        memo.new = new[name]
    cache.save(folder, memos)
    assert _deltas(folder) == ["delta-1.pickle"]
    delta = (folder / "delta-1.pickle").read_bytes()
    assert b"The summary of record 4" not in delta and b"a new part" in delta
    loaded = _loaded(folder)
    # (the chunk of the edited visit: read for the delta's references to the old one)
    assert len(_stubs(loaded["markdown"])) == 39 - 3
    cache.recall_all(loaded["markdown"])
    expected = {name: dict(memo.new) for name, memo in memos.items()}
    cache.recall_all(expected["markdown"])
    assert loaded == expected
    assert "record:False:r11" not in loaded["markdown"]
    assert loaded["markdown"]["record:False:r4"][1]["more"] == "a new part"
    # A base written from memos loaded shelved holds every entry, as recalled.
    memos = cache.load(folder, NAMES)
    for memo in memos.values():
        memo.new = dict(memo.old)
    memos["markdown"].disk = memos["parse"].disk = memos["deps"].disk = None
    cache.save(tmp_path / "again", memos)
    again = _loaded(tmp_path / "again")
    assert len(_stubs(again["markdown"])) == 39
    cache.recall_all(again["markdown"])
    assert again == expected


def test_an_entry_recalled_on_one_side_only_is_not_a_change(tmp_path: Path, shelving: None) -> None:
    cache.save(tmp_path, {name: cache.Memo(new=e) for name, e in _shelved_entries().items()})
    memos = cache.load(tmp_path, NAMES)
    for memo in memos.values():
        memo.new = dict(memo.old)  # the stand-ins
    cache.recall(memos["markdown"].old, "record:False:r1")  # recalled in the old entries
    cache.recall(memos["markdown"].new, "record:False:r9")  # and in the new
    disk = memos["markdown"].disk
    assert disk is not None
    assert cache._diff(disk.entries, {name: memo.new for name, memo in memos.items()}) == {}


def _chunk_places(folder: Path) -> list[tuple[int, int]]:
    return _shelf(cache.load(folder, NAMES)["markdown"].old).places


def test_a_shelved_chunk_that_cannot_be_read_is_as_no_entries(
    tmp_path: Path, shelving: None
) -> None:
    entries = _shelved_entries()
    cache.save(tmp_path, {name: cache.Memo(new=e) for name, e in entries.items()})
    offset, length = _chunk_places(tmp_path)[12]  # the chunk of visits 16, 17 and 18
    data = bytearray((tmp_path / cache.FILE).read_bytes())
    data[offset : offset + length] = b"\0" * length
    (tmp_path / cache.FILE).write_bytes(bytes(data))
    memos = cache.load(tmp_path, NAMES)
    old = memos["markdown"].old
    assert cache.recall(old, "record:False:r17", "none") == "none"
    assert "record:False:r16" not in old and "record:False:r18" not in old
    assert cache.recall(old, "record:False:r15") == entries["markdown"]["record:False:r15"]
    cache.recall_all(old)
    assert old == {
        k: v for k, v in entries["markdown"].items() if k[-3:] not in ("r16", "r17", "r18")
    }
    # A save from them writes what they hold.
    memos["markdown"].new = dict(old)
    memos["markdown"].new["links:last"] = {"n": 17}
    cache.save(tmp_path, memos)
    reloaded = _loaded(tmp_path)
    cache.recall_all(reloaded["markdown"])
    assert reloaded["markdown"] == memos["markdown"].new


def test_a_base_cut_within_its_shelf_is_ignored(tmp_path: Path, shelving: None) -> None:
    cache.save(tmp_path, {name: cache.Memo(new=e) for name, e in _shelved_entries().items()})
    offset, _ = _chunk_places(tmp_path)[5]
    data = (tmp_path / cache.FILE).read_bytes()
    (tmp_path / cache.FILE).write_bytes(data[:offset])
    assert _loaded(tmp_path) == {name: {} for name in NAMES}


def test_a_shelf_reads_the_base_it_was_loaded_from_once_another_save_replaced_it(
    tmp_path: Path, shelving: None
) -> None:
    entries = _shelved_entries()
    cache.save(tmp_path, {name: cache.Memo(new=e) for name, e in entries.items()})
    memos = cache.load(tmp_path, NAMES)
    cache.save(tmp_path, {name: cache.Memo(new=e) for name, e in _shelved_entries(30).items()})
    cache.recall_all(memos["markdown"].old)
    assert memos["markdown"].old == entries["markdown"]


def _build_shelved_in_a_new_process(content: Path, out: Path, folder: Path) -> dict:
    """As `_build_in_a_new_process`, every memo that has entries to shelve shelving them."""
    paths = ["--content", str(content), "--out", str(out), "--cache", str(folder)]
    code = "from generator import cache, cli; cache._SHELF_MIN = 0; cache._SHELF_CHUNK = 3; "
    code += f"raise SystemExit(cli.main(['build', '--quiet', *{paths!r}]))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tree(out)


@pytest.mark.parametrize("edit", list(EDITS))
def test_builds_from_a_shelved_cache_after_edits_equal_a_clean_build(
    tmp_path: Path, edit: str, shelving: None
) -> None:
    """In this process (on two cores: the workers that visit records fork after every
    shelved entry is recalled), then in a new one."""
    content, templates = _site(tmp_path)
    folder, out = tmp_path / "cache", tmp_path / "site"
    _build(content, out, templates, folder, 2)
    assert len(_stubs(cache.load(folder, pipeline.MEMOS)["markdown"].old)) > 30
    for change, in_this_process in ((EDITS[edit], True), (_edit_story, False)):
        change(content, templates)
        if in_this_process:
            cached = _build(content, out, templates, folder, 2)
        else:  # (with the templates that come with the generator)
            cached = _build_shelved_in_a_new_process(content, out, folder)
            templates = TEMPLATES
        clean = _build(content, tmp_path / "clean", templates, None)
        assert sorted(cached) == sorted(clean)
        assert [name for name in clean if cached[name] != clean[name]] == []


def test_a_story_s_edit_reads_the_chunks_of_its_visit_and_renderings_alone(
    tmp_path: Path, shelving: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, templates = _site(tmp_path)
    folder, out = tmp_path / "cache", tmp_path / "site"
    _build(content, out, templates, folder)
    shelved = _stubs(cache.load(folder, pipeline.MEMOS)["markdown"].old)
    read: list[list[str]] = []
    chunk = cache._Shelf.chunk

    def spy(shelf: cache._Shelf, index: int) -> dict[str, object]:
        if shelf.chunks[index] is None:
            read.append(shelf.keys[index])
        return chunk(shelf, index)

    monkeypatch.setattr(cache._Shelf, "chunk", spy)
    _edit_story(content, templates)
    _build(content, out, templates, folder)
    keys = [key for keys in read for key in keys]
    assert "record:False:blockade-on-mine-road" in keys
    assert 0 < len(keys) * 4 < len(shelved)


def test_visits_recalled_from_different_chunks_share_their_questions_and_answers(
    tmp_path: Path, shelving: None
) -> None:
    """Many visits ask about the same records: the part keeps each question and answer
    once (see `links._held_by_visits`), not a copy in each chunk that asks it."""
    content, templates = _site(tmp_path)
    folder = tmp_path / "cache"
    _build(content, tmp_path / "site", templates, folder)
    old = cache.load(folder, pipeline.MEMOS)["markdown"].old
    assert len(_shelf(old).keys) > 20
    cache.recall_all(old)
    visits = [value[1] for value in old.values() if links._is_entry(value)]
    asked = [question for visit in visits for question in visit.asked]
    answers = [answer for visit in visits for answer in visit.answers if type(answer) is tuple]
    assert len(asked) > 2 * len(set(asked)) and len(answers) > 2 * len(set(answers))
    assert len({id(question) for question in asked}) == len(set(asked))
    assert len({id(answer) for answer in answers}) == len(set(answers))
