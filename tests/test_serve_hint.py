"""Serve's rebuild told which files were saved (the watcher's `changed` hint): it reads and
parses those alone, and gives the very site, diagnostics and memos of a build that walks the
content folder and parses every document again.

A hint that is wrong (a deleted, new or renamed file, a folder, a file that becomes or stops
being a document) or about anything in doubt falls back to the walk; a hint the watcher would
give incomplete is prevented at the watcher (see `serve._Seen`).
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import watchfiles
from test_determinism import tree
from test_incremental import EDITS, Edit, _files, _options, _site

from generator import listing, parse, reading
from generator.cache import Memo, carry
from generator.pipeline import Options, Result, build, load
from generator.serve import _Seen

# --- what the watcher would report: every path added, changed or deleted -------------------


Seen = dict[str, tuple[object, ...]]


def _snapshot(*folders: Path) -> Seen:
    """Every file's stamps and bytes, every folder's name: any write shows."""
    found: Seen = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_dir():
                found[str(path)] = ()
            else:
                s = path.lstat()
                stamps = (s.st_mode, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino)
                found[str(path)] = (*stamps, path.read_bytes())
    return found


def _saved(before: Seen, after: Seen) -> list[Path]:
    """The paths the watcher would report, written, made or deleted between two looks."""
    return sorted(Path(p) for p in before.keys() | after.keys() if before.get(p) != after.get(p))


# --- more edits: errors, warnings, files that move --------------------------------------------


def _append(rng: random.Random, content: Path, pattern: str, text: str) -> bool:
    path = rng.choice(_files(content, pattern))
    path.write_text(path.read_text("utf-8") + text, "utf-8")
    return True


def control_character(rng: random.Random, content: Path, templates: Path) -> bool:
    return _append(rng, content, "*.md", "\x07\n")


def byte_order_mark(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(_files(content, "*.yaml"))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
    return True


def broken_yaml(rng: random.Random, content: Path, templates: Path) -> bool:
    return _append(rng, content, "*.yaml", "summary: [unclosed\n")


def move_story(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(_files(content, "stories/*.md"))
    path.rename(path.with_name(f"moved-{rng.randint(0, 999)}.md"))
    return True


def misplaced(rng: random.Random, content: Path, templates: Path) -> bool:
    (content / "actors" / f"note-{rng.randint(0, 99)}.md").write_text("# A note\n", "utf-8")
    return True


def _town(town: str) -> str:
    return (
        f"\n- id: {town}\n  name: Town {town}\n  type: town\n  within: alto-province\n"
        "  summary: Near the [[mine-road]].\n  sources: [ministry-statement]\n"
    )


def new_id(rng: random.Random, content: Path, templates: Path) -> bool:
    towns = content / "places" / "towns.yaml"
    if not towns.exists():
        return False
    towns.write_text(towns.read_text("utf-8") + _town(f"town-{rng.randint(0, 999)}"), "utf-8")
    return True


MORE: list[Edit] = [control_character, byte_order_mark, broken_yaml, move_story, misplaced, new_id]


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[bool]:
    """Whether each call of module.name gave something (not None), from now on."""
    calls: list[bool] = []
    real = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(module, name, counted)
    return calls


def _shown(result: Result) -> list[str]:
    return [d.format() for d in result.diagnostics]


def _same_memos(hinted: dict[str, Memo], walked: dict[str, Memo]) -> None:
    """The entries of the files read and documents parsed are those of a build that walked
    and parsed all (a folder's problems in any order: they are sorted when given)."""

    def plain(entries: dict[str, Any]) -> dict[str, Any]:
        return {
            key: (v[0], v[1], sorted(d.format() for d in v[2]), v[3])
            if key[:7] == "folder\0"
            else v
            for key, v in entries.items()
        }

    assert plain(hinted["files"].new) == plain(walked["files"].new)
    assert hinted["parse"].new.keys() == walked["parse"].new.keys()


@pytest.mark.parametrize(("seed", "cached"), [(1, False), (2, True), (3, False)])
def test_hinted_rebuilds_after_random_edits_equal_clean_builds(
    tmp_path: Path, seed: int, cached: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    content, templates = _site(tmp_path)
    options = _options(tmp_path, "site", cached=cached)
    first = build(options)
    assert first.written
    memos = carry(first.memos, True)
    read = _counting(monkeypatch, reading, "_again")
    parsed = _counting(monkeypatch, parse, "_again")
    done = []
    before = _snapshot(content, templates)
    for step in range(30):
        backup = tmp_path / "backup"
        shutil.rmtree(backup, ignore_errors=True)
        shutil.copytree(content, backup / "content")
        shutil.copytree(templates, backup / "templates")
        edit = rng.choice(EDITS + MORE * 2)
        if not edit(rng, content, templates):
            continue
        done.append(edit.__name__)
        for _ in range(2):  # the edit; then, if it broke the build, its undoing
            after = _snapshot(content, templates)
            changed = _saved(before, after)
            before = after
            shutil.rmtree(tmp_path / "clean", ignore_errors=True)
            clean = build(_options(tmp_path, "clean", cached=False))
            # What a build that walks and parses all leaves, given the same memos.
            again = {name: Memo(old=memo.old, disk=memo.disk) for name, memo in memos.items()}
            result = build(options, memos=memos, changed=changed)
            load(options, memos=again)  # the hinted build took what the last one left
            _same_memos(result.memos, again)
            assert _shown(result) == _shown(clean), (step, done)
            assert result.written == clean.written, (step, done)
            memos = carry(result.memos, result.written)
            if clean.written:
                assert tree(tmp_path / "site") == tree(tmp_path / "clean"), (step, done)
                break
            shutil.rmtree(content)
            shutil.rmtree(templates)
            shutil.copytree(backup / "content", content)
            shutil.copytree(backup / "templates", templates)
    assert len(done) >= 15, done
    assert sum(read) >= 5 and sum(parsed) >= 5, (read, parsed)
    assert not all(read), "every hint was trusted: no edit made the walk needed"


def _served(tmp_path: Path) -> tuple[Path, Options, dict[str, Memo]]:
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=False)
    result = build(options)
    assert result.written
    return content, options, carry(result.memos, True)


def _walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    walked: list[str] = []
    real = listing.walk

    def walk(top: Path | str) -> listing.Listing:
        walked.append(os.fspath(top))
        return real(top)

    monkeypatch.setattr(reading, "walk", walk)
    return walked


def _decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []
    real = reading._decode

    def decode(raw: bytes, shown: str, *args: Any) -> str | None:
        read.append(shown)
        return real(raw, shown, *args)

    monkeypatch.setattr(reading, "_decode", decode)
    return read


def _clean(tmp_path: Path) -> Result:
    shutil.rmtree(tmp_path / "clean", ignore_errors=True)
    return build(_options(tmp_path, "clean", cached=False))


def test_a_hinted_save_reads_and_parses_that_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, options, memos = _served(tmp_path)
    story = content / "stories" / "concession-dispute" / "index.md"
    story.write_text(story.read_text("utf-8") + "\nMore on [[kestria]].\n", "utf-8")
    walked, read = _walks(monkeypatch), _decoded(monkeypatch)
    parsed = _counting(monkeypatch, parse, "_parse_document")
    result = build(options, memos=memos, changed=[story])
    assert walked == []
    assert read == ["content/stories/concession-dispute/index.md"]
    assert len(parsed) == 1
    assert _shown(result) == _shown(_clean(tmp_path))
    assert tree(tmp_path / "site") == tree(tmp_path / "clean")


def test_a_save_with_a_warning_then_without_replaces_its_diagnostics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, options, memos = _served(tmp_path)
    walked = _walks(monkeypatch)
    fact = content / "actors" / "kestria.yaml"
    text = fact.read_bytes()
    for data in (b"\xef\xbb\xbf" + text, text):
        fact.write_bytes(data)
        result = build(options, memos=memos, changed=[fact])
        assert walked == []
        assert result.written
        memos = carry(result.memos, True)
        assert _shown(result) == _shown(_clean(tmp_path))
        walked.clear()  # the clean build's
        assert ("W0101" in str(_shown(result))) == data.startswith(b"\xef")


@pytest.mark.parametrize(
    "change",
    ["delete", "new", "folder", "site", "too large", "new id", "duplicate id"],
)
def test_a_hint_in_doubt_means_the_walk(
    tmp_path: Path, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, options, memos = _served(tmp_path)
    story = content / "stories" / "ministers-plan.md"
    changed = [story]
    if change == "delete":
        story.unlink()
    elif change == "new":
        changed = [content / "stories" / "another.md"]
        shutil.copy(story, changed[0])
    elif change == "folder":
        changed = [content / "stories"]
    elif change == "site":
        changed = [content / "site.yaml"]
        changed[0].write_text(changed[0].read_text("utf-8") + "\n", "utf-8")
    elif change == "too large":
        story.write_text(story.read_text("utf-8") + "x" * reading.STORY_LIMIT, "utf-8")
    else:  # a new town; or one whose id is another record's
        changed = [content / "places" / "towns.yaml"]
        town = _town("new-town" if change == "new id" else "kestria")
        changed[0].write_text(changed[0].read_text("utf-8") + town, "utf-8")
    walked = _walks(monkeypatch)
    parsed = _counting(monkeypatch, parse, "_again")
    result = build(options, memos=memos, changed=changed)
    walked, parsed = list(walked), list(parsed)  # the clean build's left out
    clean = _clean(tmp_path)
    assert _shown(result) == _shown(clean)
    assert result.written == clean.written
    assert clean.written == (change not in ("delete", "too large", "duplicate id"))
    if result.written:
        assert tree(tmp_path / "site") == tree(tmp_path / "clean")
    if change in ("new id", "duplicate id"):
        assert walked == [] and parsed == [False]  # read alone, but parsed in full
    else:
        assert walked == [str(content)]


def test_a_hint_with_memos_older_than_the_last_build_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, options, memos = _served(tmp_path)
    story = content / "stories" / "ministers-plan.md"
    story.write_text(story.read_text("utf-8") + "\nOnce.\n", "utf-8")
    assert build(options, memos=memos, changed=[story]).written
    story.write_text(story.read_text("utf-8") + "\nAgain.\n", "utf-8")
    walked = _walks(monkeypatch)
    parsed = _counting(monkeypatch, parse, "_again")
    result = build(options, memos=memos, changed=[story])  # the memos before the last build
    assert walked == [str(content)] and parsed == [False]
    assert _shown(result) == _shown(_clean(tmp_path))
    assert tree(tmp_path / "site") == tree(tmp_path / "clean")


def test_paths_outside_the_content_hidden_or_gone_read_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, options, memos = _served(tmp_path)
    (content / ".notes.md").write_text("hidden\n", "utf-8")
    walked, read = _walks(monkeypatch), _decoded(monkeypatch)
    template = tmp_path / "templates" / "base.html"
    gone = content / "stories" / "4913"  # an editor's file, made and deleted since
    result = build(options, memos=memos, changed=[content / ".notes.md", template, gone])
    assert walked == [] and read == []
    assert _shown(result) == _shown(_clean(tmp_path))


def test_the_watcher_reports_every_content_file_the_build_may_read(tmp_path: Path) -> None:
    content = tmp_path / "content"
    seen = _Seen(content)
    modified = watchfiles.Change.modified
    for name in ("actors/flycheck_x.yaml", "actors/node_modules/x.yaml", "stories/a.md~"):
        assert seen(modified, str(content / name))
    for name in (".git/x", "stories/.a.md.swp", "actors/.hidden/x.yaml"):
        assert not seen(modified, str(content / name))
    assert not seen(modified, str(tmp_path / "templates" / "base.html.swp"))
    assert seen(modified, str(tmp_path / "templates" / "base.html"))


def test_what_a_build_keeps_for_the_next_holds_no_text_but_site_yaml(tmp_path: Path) -> None:
    _served(tmp_path)  # a first build: every file read, its text in a Document
    for recent in (reading._last, parse._last):
        kept = [state.documents for _, state in recent._kept.values()]
        assert kept
        for documents in kept:
            texts = [d.path for d in documents if isinstance(d, reading.Document)]
            assert texts == ["content/site.yaml"]
