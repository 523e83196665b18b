"""Incremental rebuilds: a rebuild makes only the files whose inputs changed, and its site is
byte for byte the site a clean build makes — after any sequence of edits.

The dependency record (generator/deps.py) notes what each page and data file read; a key it
failed to note would leave a stale page. The random walk below edits names, summaries, dates,
links, places, memberships, templates and site settings, in many orders, and compares every
rebuild with a clean build of the same content.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_determinism import FULL, tree

from generator import cache, cli, maps, parse, pipeline, plan, reading, rebuild, search, unchanged
from generator.pipeline import Options, Result, build
from generator.rebuild import Trace
from generator.render import TEMPLATES
from generator.workers import can_fork
from generator.write import MARKER


def _site(tmp_path: Path) -> tuple[Path, Path]:
    content, templates = tmp_path / "content", tmp_path / "templates"
    shutil.copytree(FULL, content)
    shutil.copytree(TEMPLATES, templates)
    return content, templates


def _options(tmp_path: Path, out: str, cached: bool, jobs: int = 1) -> Options:
    return Options(
        content=tmp_path / "content",
        out=tmp_path / out,
        templates=tmp_path / "templates",
        cache=tmp_path / "cache" if cached else None,
        jobs=jobs,
    )


def _built(tmp_path: Path) -> tuple[Path, Options]:
    """The fixture site, built once with a cache: its content folder and build options."""
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True)
    assert build(options).written
    return content, options


def makers_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the makers run from now on."""
    names: list[str] = []
    real = rebuild.run

    def run(makers: list, todo: list[int], *args: object, **kwargs: object) -> object:
        names.extend(makers[i].name for i in todo)
        return real(makers, todo, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rebuild, "run", run)
    return names


# --- edits: each changes the content (or templates) and keeps it valid, or returns False ---

Edit = Callable[[random.Random, Path, Path], bool]


def _files(content: Path, pattern: str) -> list[Path]:
    return sorted(p for p in content.rglob(pattern) if p.is_file())


def _sub(path: Path, pattern: str, replace: str | Callable[[re.Match[str]], str]) -> bool:
    text = path.read_text("utf-8")
    new = re.sub(pattern, replace, text, count=1, flags=re.MULTILINE)
    if new == text:
        return False
    path.write_text(new, "utf-8")
    return True


def _ids(content: Path) -> list[str]:
    ids = [p.stem for p in _files(content, "*.yaml") if p.parent.name != "content"]
    return [i for i in ids if i not in ("ministries", "towns", "site")]


def rename(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(_files(content, "*.yaml"))
    return _sub(path, r"^name: (.*)$", lambda m: f"name: {m.group(1)} {rng.randint(2, 99)}")


def retitle_story(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(_files(content, "*.md"))
    return _sub(path, r"^title: (.*)$", lambda m: f"title: {m.group(1).strip(chr(34))} again")


def edit_body(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice([p for p in _files(content, "*.md") if p.name != "README.md"])
    target = rng.choice(_ids(content))
    with path.open("a", encoding="utf-8") as file:
        file.write(f"\nMore on [[{target}]] and *emphasis* {rng.randint(0, 999)}.\n")
    return True


def edit_summary(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(_files(content, "*.yaml"))
    return _sub(path, r"^summary: ([^>|\n].*)$", lambda m: f"summary: {m.group(1)} Also.")


def redate(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(_files(content, "events/*.yaml") + _files(content, "notes/*.yaml"))
    return _sub(path, r"^date: (\d{4})", lambda m: f"date: {int(m.group(1)) - rng.randint(1, 3)}")


def move_place(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(_files(content, "places/*.yaml") + _files(content, "deposits/*.yaml"))
    return _sub(path, r"\[(-?\d+\.\d+)", lambda m: f"[{float(m.group(1)) + 0.05:.4f}")


def add_actor(rng: random.Random, content: Path, templates: Path) -> bool:
    n = rng.randint(0, 10**6)
    (content / "actors" / f"new-actor-{n}.yaml").write_text(
        f"name: New Actor {n}\ntype: person\nsummary: Seen at [[{rng.choice(_ids(content))}]].\n"
        "sources: [ministry-statement]\n",
        "utf-8",
    )
    return True


def delete_record(rng: random.Random, content: Path, templates: Path) -> bool:
    rng.choice(_files(content, "*.yaml") + _files(content, "*.md")).unlink()
    return True


def tie_to_story(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(_files(content, "events/*.yaml"))
    stories = ["blockade-on-mine-road", "concession-dispute"]
    text = path.read_text("utf-8")
    if "stories:" in text:
        return False
    path.write_text(text + f"stories: [{rng.choice(stories)}]\n", "utf-8")
    return True


def draft_story(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(_files(content, "*.md"))
    return _sub(path, r"^---\n", "---\ndraft: true\n")


def edit_template(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(sorted(templates.glob("*.html")))
    with path.open("a", encoding="utf-8") as file:
        file.write(f"{{# edit {rng.randint(0, 999)} #}}\n")
    return True


def edit_site(rng: random.Random, content: Path, templates: Path) -> bool:
    return _sub(content / "site.yaml", r'^title: "?', f'title: "Edition {rng.randint(2, 99)} ')


def touch(rng: random.Random, content: Path, templates: Path) -> bool:
    path = rng.choice(_files(content, "*.yaml"))
    path.write_bytes(path.read_bytes())
    return True


EDITS: list[Edit] = [
    rename,
    retitle_story,
    edit_body,
    edit_summary,
    redate,
    move_place,
    add_actor,
    delete_record,
    tie_to_story,
    draft_story,
    edit_template,
    edit_site,
    touch,
]


def _back_up(tmp_path: Path, content: Path, templates: Path) -> Path:
    """A copy of the content and templates, in tmp_path/backup."""
    backup = tmp_path / "backup"
    shutil.rmtree(backup, ignore_errors=True)
    shutil.copytree(content, backup / "content")
    shutil.copytree(templates, backup / "templates")
    return backup


def _edited(
    rng: random.Random,
    edits: list[Edit],
    steps: int,
    tmp_path: Path,
    content: Path,
    templates: Path,
) -> Iterator[tuple[int, Edit, Path]]:
    """Each step's edit, chosen from `edits`, once made (if it changed something): with the
    step and a backup of the content and templates from before it."""
    for step in range(steps):
        backup = _back_up(tmp_path, content, templates)
        edit = rng.choice(edits)
        if edit(rng, content, templates):
            yield step, edit, backup


def _assert_as_clean(tmp_path: Path, where: object) -> None:
    """tmp_path/site holds the files of tmp_path/clean, byte for byte."""
    rebuilt, expected = tree(tmp_path / "site"), tree(tmp_path / "clean")
    assert sorted(rebuilt) == sorted(expected), where
    stale = [name for name in expected if rebuilt[name] != expected[name]]
    assert stale == [], where


def _restore(backup: Path, content: Path, templates: Path) -> None:
    """The content and templates as `_back_up` copied them."""
    shutil.rmtree(content)
    shutil.rmtree(templates)
    shutil.copytree(backup / "content", content)
    shutil.copytree(backup / "templates", templates)


@pytest.mark.parametrize(("seed", "jobs"), [(1, 1), (2, 2), (3, 1)])
def test_rebuilds_after_random_edits_equal_clean_builds(
    tmp_path: Path, seed: int, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    surveyed = _check_surveys(monkeypatch)
    content, templates = _site(tmp_path)
    assert build(_options(tmp_path, "site", cached=True, jobs=jobs)).written
    done = []
    for step, edit, backup in _edited(rng, EDITS, 24, tmp_path, content, templates):
        shutil.rmtree(tmp_path / "clean", ignore_errors=True)
        clean = build(_options(tmp_path, "clean", cached=False))
        if not clean.written:  # the edit broke the content (a deleted record still named)
            _restore(backup, content, templates)
            continue
        done.append(edit.__name__)
        result = build(_options(tmp_path, "site", cached=True, jobs=jobs))
        assert result.written, [d.format() for d in result.diagnostics]
        _assert_as_clean(tmp_path, (step, done))
    assert len(done) >= 12, done
    assert len(surveyed) >= 12, surveyed


def drop_sources(rng: random.Random, content: Path, templates: Path) -> bool:
    """A record's sources removed (a warning then: no source backs it)."""
    return _sub(content / "actors" / "elena-marsh.yaml", r"^sources:\n(?:  .*\n)+", "")


def test_builds_in_new_processes_after_each_kind_of_edit_equal_clean_builds(
    tmp_path: Path,
) -> None:
    """`factsheet build` in a new process after each kind of edit (a new process loads the
    build cache: records whose fields stay packed unless read, see `model._pack`): the site
    and the problems shown are the clean build's, byte for byte."""
    rng = random.Random(7)
    content, templates = _site(tmp_path)
    command = [sys.executable, "-m", "generator.cli", "build", "--content", str(content)]
    command += ["--out", str(tmp_path / "site"), "--cache", str(tmp_path / "cache")]
    command += ["--jobs", "2", "-q"]
    root = Path(__file__).parent.parent
    assert subprocess.run(command, cwd=root, capture_output=True).returncode == 0
    done = []
    for edit in [*EDITS, drop_sources, edit_body, rename, draft_story, delete_record]:
        if edit is edit_template:  # (the command builds with the project's templates)
            continue
        backup = _back_up(tmp_path, content, templates)
        if not edit(rng, content, templates):
            continue
        shutil.rmtree(tmp_path / "clean", ignore_errors=True)
        clean = build(replace(_options(tmp_path, "clean", cached=False), templates=TEMPLATES))
        if not clean.written:  # the edit broke the content (a deleted record still named)
            _restore(backup, content, templates)
            continue
        done.append(edit.__name__)
        ran = subprocess.run(command, cwd=root, capture_output=True, text=True)
        assert ran.returncode == 0, ran.stderr
        assert ran.stderr.splitlines() == [d.format() for d in clean.diagnostics], done
        _assert_as_clean(tmp_path, done)
    assert len(done) >= 12, done


def _check_surveys(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, check that the keys a rebuild finds changed among the suspects of
    `deps.survey` are all the keys that changed; the number of suspects, per rebuild."""
    real = rebuild.changed
    surveyed: list[int] = []

    def changed(seen: dict, fingerprints: object, suspects: object = None) -> set[str]:
        found = real(seen, fingerprints, suspects)  # type: ignore[arg-type]
        if suspects is not None:
            assert found == real(seen, fingerprints), sorted(real(seen, fingerprints) - found)  # type: ignore[arg-type]
            surveyed.append(len(suspects))  # type: ignore[arg-type]
        return found

    monkeypatch.setattr(rebuild, "changed", changed)
    return surveyed


def test_a_rebuild_without_changes_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, options = _built(tmp_path)
    marker = (tmp_path / "site" / MARKER).stat()
    made = makers_run(monkeypatch)
    story = content / "stories" / "blockade-on-mine-road.md"
    story.write_bytes(story.read_bytes())  # saved again, unchanged
    (tmp_path / "cache" / cache.STATE).unlink()  # no state: the whole content is read
    result = build(options)
    assert result.written and not result.unchanged
    assert made == []
    again = (tmp_path / "site" / MARKER).stat()
    assert (again.st_ino, again.st_mtime_ns) == (marker.st_ino, marker.st_mtime_ns)


def test_files_saved_unchanged_are_read_alone_and_found_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, options = _built(tmp_path)
    first = build(options)
    assert first.unchanged
    story = content / "stories" / "blockade-on-mine-road.md"
    actor = content / "actors" / "elena-marsh.yaml"
    for path in (story, actor):
        path.write_bytes(path.read_bytes())  # saved again, unchanged
    (content / ".story.md.swp").write_bytes(b"an editor's own file")  # hidden: never read
    read: list[str] = []
    real = unchanged.reread
    monkeypatch.setattr(unchanged, "reread", lambda d: read.append(d.path) or real(d))
    with monkeypatch.context() as m:
        m.setattr(cache, "load", lambda *a: pytest.fail("the cache was read"))
        again = build(options)
        assert again.unchanged and again.written
        assert sorted(read) == ["content/actors/elena-marsh.yaml", f"content/stories/{story.name}"]
        assert (again.pages, again.records, again.diagnostics) == (
            first.pages,
            first.records,
            first.diagnostics,
        )
        read.clear()
        assert build(options).unchanged  # the new stamps were kept: nothing is read again
        assert read == []
    # One character changed, same size: a real build, the same site as a clean one.
    actor.write_text(actor.read_text("utf-8").replace("Elena Marsh", "Elena Marsk"), "utf-8")
    result = build(options)
    assert result.written and not result.unchanged
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path, options)


def test_a_file_saved_unchanged_without_the_record_of_files_means_a_real_build(
    tmp_path: Path,
) -> None:
    content, options = _built(tmp_path)
    state = tmp_path / "cache" / cache.STATE
    with state.open("rb") as file:
        pickle.load(file)  # the state; the record of the content's files follows
        end = file.tell()
    state.write_bytes(state.read_bytes()[: end + 10])  # the record cut short
    assert build(options).unchanged
    actor = content / "actors" / "elena-marsh.yaml"
    actor.write_bytes(actor.read_bytes())
    result = build(options)
    assert result.written and not result.unchanged
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path, options)


@pytest.mark.parametrize("change", ["image", "other file", "mode", "renamed"])
def test_files_whose_stamps_changed_but_are_not_documents_mean_a_real_build(
    tmp_path: Path, change: str
) -> None:
    content, options = _built(tmp_path)
    actor = content / "actors" / "elena-marsh.yaml"
    if change == "image":
        image = next(content.rglob("*.png"))
        image.write_bytes(image.read_bytes())
    elif change == "other file":
        other = content / "actors" / "README.txt"
        other.write_bytes(other.read_bytes())
    elif change == "mode":
        actor.chmod(0o600 if actor.stat().st_mode & 0o044 else 0o644)
    else:
        (content / "actors" / "README.txt").rename(content / "actors" / "READ-ME.txt")
    result = build(options)
    assert result.written and not result.unchanged
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path, options)


def test_a_build_with_nothing_changed_reads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, _ = _site(tmp_path)
    (content / "actors" / "loner.yaml").write_text("name: A loner\ntype: person\n", "utf-8")
    options = _options(tmp_path, "site", cached=True)
    assert build(options).written
    first = build(options)
    assert first.unchanged and (first.pages, first.records) == (49, 37)
    assert sorted(d.code for d in first.diagnostics) == ["W0301", "W0302"]
    monkeypatch.setattr(cache, "load", lambda *a: pytest.fail("the cache was read"))
    monkeypatch.setattr(parse, "parse_documents", lambda *a: pytest.fail("content was read"))
    again = build(options)
    assert again.unchanged and again.written
    assert [d.format() for d in again.diagnostics] == [d.format() for d in first.diagnostics]


@pytest.mark.parametrize(
    "change",
    ["content", "new file", "deleted file", "template", "drafts", "base_url", "site", "state"],
)
def test_any_change_to_the_inputs_or_the_site_means_a_real_build(
    tmp_path: Path, change: str
) -> None:
    content, options = _built(tmp_path)
    templates = tmp_path / "templates"
    if change == "content":
        path = content / "actors" / "elena-marsh.yaml"
        path.write_text(path.read_text("utf-8").replace("Elena Marsh", "Elena Marsch"), "utf-8")
    elif change == "new file":
        (content / "actors" / "notes.txt").write_text("not a record\n", "utf-8")
    elif change == "deleted file":
        (content / "actors" / "README.txt").unlink()
    elif change == "template":
        (templates / "404.html").write_text((templates / "404.html").read_text() + "\n")
    elif change == "drafts":
        options = replace(options, drafts=True)
    elif change == "base_url":
        options = replace(options, base_url="https://example.org/facts/")
    elif change == "site":
        shutil.rmtree(tmp_path / "site")
    else:
        (tmp_path / "cache" / cache.STATE).write_bytes(b"garbage")
    result = build(options)
    assert result.written and not result.unchanged
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path, options)


def test_the_command_says_when_nothing_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, _ = _site(tmp_path)
    argv = ["build", "--content", str(content), "--out", str(tmp_path / "site")]
    assert cli.main(argv) == 0
    assert "nothing changed" not in capsys.readouterr().err
    assert cli.main(argv) == 0
    assert capsys.readouterr().err.rstrip().endswith("; nothing changed since the last build")


def test_a_story_edit_remakes_the_story_and_what_shows_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, options = _built(tmp_path)
    made = makers_run(monkeypatch)
    story = content / "stories" / "blockade-on-mine-road.md"
    story.write_text(story.read_text("utf-8") + "\nOne more sentence.\n", "utf-8")
    assert build(options).written
    assert sorted(made) == [
        "data/stories/blockade-on-mine-road.json",
        "feed.xml",
        "search/records.js",
        "stories/blockade-on-mine-road/index.html",
    ]


def test_a_new_name_remakes_every_page_that_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, options = _built(tmp_path)
    before = tree(tmp_path / "site")
    made = makers_run(monkeypatch)
    path = content / "actors" / "elena-marsh.yaml"
    path.write_text(path.read_text("utf-8").replace("Elena Marsh", "Elena March"), "utf-8")
    assert build(options).written
    after = tree(tmp_path / "site")
    showing = sorted(n for n in after if b"Elena March" in after[n])
    changed = sorted(n for n in after if before.get(n) != after[n])
    assert "stories/blockade-on-mine-road/index.html" in showing  # through a [[link]]
    assert set(showing) <= set(made)
    assert changed == sorted(n for n in made if before.get(n) != after.get(n))
    assert len(made) < len(after) // 2  # not the whole site


def test_a_file_changed_in_the_site_by_hand_is_made_again(tmp_path: Path) -> None:
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True)
    assert build(options).written
    page = tmp_path / "site" / "index.html"
    good = page.read_bytes()
    page.write_bytes(good.replace(b"<main", b"<main data-hand-edited"))
    # Found by the next build that reads the content (the quick check looks at the
    # content, the templates and the site's marker, not at every file of the site).
    (content / "actors" / "README.txt").write_text("Notes.\n", "utf-8")
    assert build(options).written
    assert page.read_bytes() == good


def _looks(monkeypatch: pytest.MonkeyPatch) -> list[rebuild.Look]:
    """Every `rebuild.Look` the builds make from now on."""
    looks: list[rebuild.Look] = []
    real = rebuild.Look

    def look(*args: Any, **kwargs: Any) -> rebuild.Look:
        looks.append(real(*args, **kwargs))
        return looks[-1]

    monkeypatch.setattr(rebuild, "Look", look)
    return looks


def test_files_changed_in_the_site_by_hand_are_found_on_another_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that loads its memos from the cache, on two processes, looks at the site's
    files in a forked process (`rebuild.Look`) while it reads the content: a page changed,
    replaced or removed by hand is made again, as a one-process build makes it."""
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    assert build(options).written
    looks = _looks(monkeypatch)
    site = tmp_path / "site"
    story = content / "stories" / "blockade-on-mine-road.md"
    for n in range(2):  # the second in the spare the first left
        home, data, gone = site / "index.html", site / "robots.txt", site / "search" / "index.html"
        good = home.read_bytes()
        home.write_bytes(good.replace(b"<main", b"<main data-hand-edited"))
        data.unlink()
        data.write_bytes(b"hand-made\n")
        gone.unlink()
        story.write_text(story.read_text("utf-8") + f"\nSaved {n}.\n", "utf-8")
        assert build(options).written
        assert looks[-1].unwritten() == {"index.html", "robots.txt", "search/index.html"}
        assert not looks[-1].here  # the forked process looked
        assert home.read_bytes() == good
        assert tree(site) == tree_of_clean(tmp_path)
        shutil.rmtree(tmp_path / "clean")
    assert len(looks) == 2


def test_the_makers_to_run_are_found_on_another_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build on two processes that loads its memos finds the makers whose inputs changed
    in the forked process of its `rebuild.Look`, while it lists the makers, and makes what
    a clean build makes after each kind of edit."""
    content, templates = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    assert build(options).written
    looks = _looks(monkeypatch)
    story = content / "stories" / "blockade-on-mine-road.md"
    actors = sorted((content / "actors").glob("*.yaml"))
    image = next(content.rglob("*.png"))
    edits = [
        lambda: story.write_text(story.read_text("utf-8") + "\nSaved.\n", "utf-8"),
        # (a copied file's key is not among those asked for: see `make_site`)
        lambda: image.write_bytes(image.read_bytes() + b"\0"),
        lambda: (
            image.write_bytes(image.read_bytes() + b"\1"),
            story.write_text(story.read_text("utf-8") + "\nAgain.\n", "utf-8"),
        ),
        lambda: actors[0].write_text(
            re.sub(r"(?m)^name: (.*)$", r"name: \1 Renamed", actors[0].read_text("utf-8")),
            "utf-8",
        ),
        lambda: (templates / "base.html").write_text(
            (templates / "base.html").read_text("utf-8").replace("<main", "<main data-x"),
            "utf-8",
        ),
    ]
    for edit in edits:
        edit()
        assert build(options).written
        assert looks[-1].asked
        assert tree(tmp_path / "site") == tree_of_clean(tmp_path)
        shutil.rmtree(tmp_path / "clean")
    assert len(looks) == len(edits)


def test_builds_that_look_on_another_core_leave_no_child_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forked process of a build's `rebuild.Look` ends on its own once it answered,
    and the build does not wait for it then: it is waited for when the build ends, as is
    one stopped by a build that fails. Serve, which builds again and again in one process,
    is left no child (a zombie each) nor pipes."""
    if not can_fork():
        pytest.skip("the Look forks")
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    assert build(options).written
    looks: list[rebuild.Look] = []
    forked: list[int] = []
    real = rebuild.Look

    def look(*args: Any, **kwargs: Any) -> rebuild.Look:
        looks.append(real(*args, **kwargs))
        forked.append(looks[-1]._process.pid)
        return looks[-1]

    monkeypatch.setattr(rebuild, "Look", look)
    story = content / "stories" / "blockade-on-mine-road.md"
    text = story.read_text("utf-8")
    fds = sorted(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else []
    story.write_text(text + "\nSaved.\n", "utf-8")
    result = build(options)
    assert result.written and looks[-1].asked and looks[-1]._process is None
    memos = cache.carry(result.memos, True)
    for n in range(2):  # (serve's rebuilds: no Look)
        story.write_text(text + f"\nSaved {n}.\n", "utf-8")
        result = build(options, memos=memos, changed=[story])
        assert result.written
        memos = cache.carry(result.memos, True)
    story.write_text(text + "\nSee [[no-such-record]].\n", "utf-8")
    assert build(options).failed and not looks[-1].asked
    assert len(forked) == 2
    for pid in forked:
        with pytest.raises(ChildProcessError):  # (waited for: no such child)
            os.waitpid(pid, os.WNOHANG)
    assert (sorted(os.listdir("/proc/self/fd")) if fds else []) == fds


def test_a_new_process_looks_by_a_process_forked_before_the_cache_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process on two cores forks its `rebuild.Look` before the build cache loads
    (not after, from a process that holds the cache: see `_early_look`), which loads the
    traces itself once the build has something to do, and is taken on once the build finds
    it loaded the same cache files; a build with nothing to do stops it unheard; one whose
    cache files are not those it loaded forks another after the load, as before."""
    if not can_fork():
        pytest.skip("the Look forks")
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    assert build(options).written
    made: list[tuple[rebuild.Look, bool]] = []  # each Look, and whether given the traces
    adopted: list[bool] = []
    real, real_adopt = rebuild.Look, rebuild.Look.adopt

    def look(traces: Any, *args: Any, **kwargs: Any) -> rebuild.Look:
        made.append((real(traces, *args, **kwargs), traces is not None))
        return made[-1][0]

    def adopt(self: rebuild.Look, *args: Any) -> bool:
        adopted.append(real_adopt(self, *args))
        return adopted[-1]

    monkeypatch.setattr(rebuild, "Look", look)
    monkeypatch.setattr(real, "adopt", adopt)
    story = content / "stories" / "blockade-on-mine-road.md"
    text = story.read_text("utf-8")
    story.write_text(text + "\nSaved.\n", "utf-8")
    assert build(options).written
    assert len(made) == 1 and adopted == [True]
    early, given = made[0]
    assert not given and early.traces is not None and early.asked and not early.here
    assert tree(options.out) == tree_of_clean(tmp_path)
    shutil.rmtree(tmp_path / "clean")
    # Nothing to do: the process forked is stopped before it loads anything.
    assert build(options).unchanged
    assert len(made) == 2 and adopted == [True] and made[1][0]._process is None
    assert made[1][0].traces is None
    # Cache files other than those it loaded (another process saved meanwhile): a Look
    # forked after the load, given the traces, as before.
    monkeypatch.setattr(cache, "load_alone", lambda folder, name: (("another",), {}))
    story.write_text(text + "\nSaved again.\n", "utf-8")
    assert build(options).written
    assert adopted == [True, False] and [given for _, given in made[2:]] == [False, True]
    assert made[3][0].asked and not made[3][0].here
    assert tree(options.out) == tree_of_clean(tmp_path)


def test_a_copied_file_the_last_build_did_not_copy_is_found_changed_all_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys asked of the Look hold those of the files the last build's makers copied;
    one that an earlier build's makers copied, and that changed, is found after the makers
    are listed (the Look's answer is not used then)."""
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    assert build(options).written
    memos = cache.load(tmp_path / "cache", pipeline.MEMOS)
    for memo in memos.values():
        memo.new = dict(memo.old)
    assert memos["deps"].new["copied"]
    memos["deps"].new["copied"] = []  # as if the last build's makers copied none
    cache.save(tmp_path / "cache", memos)
    image = next(content.rglob("*.png"))
    image.write_bytes(image.read_bytes() + b"\0")
    looks = _looks(monkeypatch)
    assert build(options).written
    assert looks[-1].asked
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path)


def test_a_site_the_last_build_did_not_leave_is_made_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _site(tmp_path)
    assert build(_options(tmp_path, "site", cached=True)).written
    shutil.rmtree(tmp_path / "site")
    made = makers_run(monkeypatch)
    assert build(_options(tmp_path, "site", cached=True)).written
    assert len(made) == len(tree(tmp_path / "site")) - 1  # all but the marker file
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path)


def tree_of_clean(tmp_path: Path, options: Options | None = None) -> dict[str, bytes]:
    clean = _options(tmp_path, "clean", cached=False)
    if options is not None:
        clean = replace(options, out=clean.out, cache=None)
    assert build(clean).written
    return tree(tmp_path / "clean")


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The content files read (decoded) from now on."""
    read: list[str] = []
    real = reading._decode

    def decode(raw: bytes, shown: str, *args: object) -> str | None:
        read.append(shown)
        return real(raw, shown, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(reading, "_decode", decode)
    return read


def test_a_rebuild_reads_only_the_files_saved_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, _ = _site(tmp_path)
    bom = content / "actors" / "kestria.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + bom.read_bytes())
    options = _options(tmp_path, "site", cached=True)
    first = build(options)
    assert [d.code for d in first.diagnostics] == ["W0101"]
    read = _reads(monkeypatch)
    story = content / "stories" / "blockade-on-mine-road.md"
    story.write_text(story.read_text("utf-8") + "\nSaved again.\n", "utf-8")
    again = build(options)
    # The story first to find it changed (`unchanged.still`), then as the build reads.
    edited = "content/stories/blockade-on-mine-road.md"
    assert read == [edited, "content/site.yaml", edited]
    assert [d.format() for d in again.diagnostics] == [d.format() for d in first.diagnostics]
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path)


def test_a_file_changed_behind_its_size_and_time_is_read(tmp_path: Path) -> None:
    content, options = _built(tmp_path)
    path = content / "actors" / "elena-marsh.yaml"
    before = path.stat()
    text = path.read_text("utf-8")
    path.write_text(text.replace("Elena Marsh", "Elena Marsk"), "utf-8")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same modification time
    assert build(options).written
    assert (
        b"Elena Marsk" in (tmp_path / "site" / "actors" / "elena-marsh" / "index.html").read_bytes()
    )
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path)


def test_a_new_time_zone_reads_the_files_left_unread(tmp_path: Path) -> None:
    content, options = _built(tmp_path)
    site = content / "site.yaml"
    site.write_text(site.read_text("utf-8").replace("America/Lima", "Asia/Tokyo"), "utf-8")
    assert build(options).written
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path)


def test_the_search_index_makes_again_only_the_entries_of_changed_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, options = _built(tmp_path)
    made: list[str] = []
    real = search.search_entry
    monkeypatch.setattr(
        search, "search_entry", lambda record, links: made.append(record.id) or real(record, links)
    )
    story = content / "stories" / "blockade-on-mine-road.md"
    story.write_text(story.read_text("utf-8") + "\nA word for the index.\n", "utf-8")
    assert build(options).written
    assert made == ["blockade-on-mine-road"]
    index = (tmp_path / "site" / search.INDEX).read_bytes()
    assert b"A word for the index." in index
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path)


def test_a_new_process_makes_the_search_index_from_the_entries_the_cache_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build in a new process (no index kept in this one) takes the last build's entries
    from the cache, in their places, and makes those of changed records only; after edits
    in a row (a story's text, an actor renamed), its index is the clean build's."""
    content, options = _built(tmp_path)
    made: list[str] = []
    entry = search.search_entry
    monkeypatch.setattr(
        search, "search_entry", lambda record, links: made.append(record.id) or entry(record, links)
    )
    resumed: list[bool] = []
    real = search._Kept.resumed

    def resume(*args: Any) -> object:
        kept = real(*args)
        resumed.append(kept is not None)
        return kept

    monkeypatch.setattr(search._Kept, "resumed", resume)
    story = content / "stories" / "blockade-on-mine-road.md"
    actor = content / "actors" / "tomas-reyes.yaml"
    for edit in ("story", "actor", "story"):
        if edit == "story":
            story.write_text(story.read_text("utf-8") + "\nA word for the index.\n", "utf-8")
        else:
            actor.write_text(actor.read_text("utf-8").replace("name: ", "name: Renamed "), "utf-8")
        monkeypatch.setattr(search, "_kept", None)  # as in a new process
        made.clear()
        assert build(options).written
        assert resumed.pop() and not resumed
        if edit == "story":
            assert made == ["blockade-on-mine-road"]
        else:  # (and those whose text names it, if any)
            assert "tomas-reyes" in made and "blockade-on-mine-road" not in made
        index = (tmp_path / "site" / search.INDEX).read_bytes()
        assert index == tree_of_clean(tmp_path)[search.INDEX]
    assert b"Renamed Tom\\u00e1s Reyes" in index


def _files_looked_at(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many traces' files each build's `make_site` looked at in the site."""
    looked: list[int] = []
    real = rebuild.as_written

    def as_written(folder: str, files: object) -> bool:
        looked[-1] += 1
        return real(folder, files)  # type: ignore[arg-type]

    real_make = pipeline.make_site

    def make_site(*args: object, **kwargs: object) -> object:
        looked.append(0)
        return real_make(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rebuild, "as_written", as_written)
    monkeypatch.setattr(pipeline, "make_site", make_site)
    return looked


def test_a_rebuild_in_the_process_that_made_the_site_trusts_its_traces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As serve rebuilds: the site's files are not looked at one by one, since this process
    wrote them; a build that loads its memos from the cache looks at every one."""
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True)
    looked = _files_looked_at(monkeypatch)
    result = build(options)
    assert result.written
    memos = cache.carry(result.memos, True)
    story = content / "stories" / "blockade-on-mine-road.md"
    for n in range(2):
        story.write_text(story.read_text("utf-8") + f"\nSaved {n}.\n", "utf-8")
        result = build(options, memos=memos)
        assert result.written
        memos = cache.carry(result.memos, True)
    assert looked[1:] == [0, 0]
    assert tree(options.out) == tree_of_clean(tmp_path)
    # The cache's memos are not this process's traces: every file is looked at.
    story.write_text(story.read_text("utf-8") + "\nSaved again.\n", "utf-8")
    assert build(options).written
    assert looked[-1] >= 50
    # Nor are the traces of another site (another stamp), even in this process.
    shutil.rmtree(options.out)
    assert build(options, memos=cache.carry(result.memos, True)).written
    assert tree(options.out) == tree_of_clean(tmp_path)


def test_serve_rebuilds_keep_the_gazetteer_and_the_index_only_while_they_hold(
    tmp_path: Path,
) -> None:
    """Rebuilds one after another in one process, as serve's: the gazetteer is kept while no
    mapped record changed, the search index is patched; after each edit (a story, a mapped
    record's name shown on its neighbours' maps, its place, an unmapped record's name) the
    site is the clean build's."""
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True)
    result = build(options)
    assert result.written
    memos = cache.carry(result.memos, True)
    story = content / "stories" / "blockade-on-mine-road.md"
    deposit = content / "deposits" / "cerro-bajo.yaml"
    actor = _files(content, "actors/*.yaml")[0]

    def save_story() -> bool:
        story.write_text(story.read_text("utf-8") + "\nSaved.\n", "utf-8")
        return True

    steps: list[tuple[Callable[[], bool], bool]] = [
        (save_story, True),
        (lambda: _sub(deposit, r"^name: (.*)$", r"name: \1 Renamed"), False),
        (save_story, True),
        (lambda: _sub(deposit, r"^coordinates: \[-13.6", "coordinates: [-13.9"), False),
        (lambda: _sub(actor, r"^name: (.*)$", r"name: \1 Renamed"), True),
    ]
    for edit, keeps_gazetteer in steps:
        gazetteer = maps._last and maps._last[1]
        assert edit()
        result = build(options, memos=memos)
        assert result.written
        memos = cache.carry(result.memos, True)
        assert (maps._last is not None and maps._last[1] is gazetteer) == keeps_gazetteer
        kept = maps._last, search._kept
        maps._last = search._kept = None  # the clean build makes its own, and leaves them
        try:
            assert tree(options.out) == tree_of_clean(tmp_path), edit
        finally:
            maps._last, search._kept = kept


def redraw_image(rng: random.Random, content: Path, templates: Path) -> bool:
    """A story's image saved with other bytes (copied into the site as it is)."""
    path = rng.choice(_files(content, "*.png"))
    path.write_bytes(path.read_bytes() + bytes([rng.randint(0, 255)]))
    return True


def break_record(rng: random.Random, content: Path, templates: Path) -> bool:
    """A fact file made invalid (the build fails: the test puts it back)."""
    path = rng.choice(_files(content, "*.yaml"))
    path.write_text(path.read_text("utf-8") + "\n  : [unclosed\n", "utf-8")
    return True


def _shortcuts(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often, from now on, make_site found the stale makers from the changed keys and
    wrote an alike site by difference (serve's rebuilds in the process that made the site)."""
    taken: Counter[str] = Counter()
    for name in ("_write_alike", "_write_all"):
        real = getattr(pipeline, name)

        def counted(
            *args: object, _real: Callable[..., object] = real, _name: str = name
        ) -> object:
            taken[_name] += 1
            return _real(*args)

        monkeypatch.setattr(pipeline, name, counted)
    real_stale = pipeline._Left.stale

    def stale(self: pipeline._Left, changed: set[str]) -> list[int]:
        taken["stale"] += 1
        return real_stale(self, changed)

    monkeypatch.setattr(pipeline._Left, "stale", stale)
    return taken


def _as_clean_after_random_edits(
    tmp_path: Path,
    rng: random.Random,
    edits: list[Edit],
    steps: int,
    options: Options,
    memos: dict[str, cache.Memo] | None,
    carried: Callable[[int, Result, bool], dict[str, cache.Memo] | None],
) -> list[str]:
    """Rebuilds (by `options`, from `memos`, then from what `carried` makes of each build's
    result: the step, the result, whether it succeeded) after each of `steps` random
    `edits` of tmp_path's content and templates, each with a clean build's site and
    diagnostics; an edit that broke the content is put back, and rebuilt. The edits made
    ("fixed" after one put back)."""
    content, templates = tmp_path / "content", tmp_path / "templates"
    done = []
    for step, edit, backup in _edited(rng, edits, steps, tmp_path, content, templates):
        clean = _aside(tmp_path)
        result = build(options, memos=memos)
        memos = carried(step, result, result.written)
        assert [d.format() for d in result.diagnostics] == [d.format() for d in clean.diagnostics]
        assert result.written == clean.written, (step, edit.__name__)
        if not clean.written:  # the edit broke the content: put it back (and rebuild)
            _restore(backup, content, templates)
            result = build(options, memos=memos)
            assert result.written
            memos = carried(step, result, True)
            done.append("fixed")
            assert _aside(tmp_path).written
        done.append(edit.__name__)
        _assert_as_clean(tmp_path, (step, done))
    return done


def _aside(tmp_path: Path) -> Result:
    """A clean build into tmp_path/clean, as if by another process: what this process's
    last build left for the next (serve's) is left as it was."""
    left, last = pipeline._left, plan._last
    shutil.rmtree(tmp_path / "clean", ignore_errors=True)
    try:
        return build(_options(tmp_path, "clean", cached=False))
    finally:
        pipeline._left, plan._last = left, last


@pytest.mark.parametrize(("seed", "jobs"), [(4, 1), (5, 2), (6, 1)])
def test_serve_rebuilds_after_random_edits_equal_clean_builds(
    tmp_path: Path, seed: int, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As serve rebuilds: in one process, with the memos of the last build (and its
    inverted traces, surveyed records, spare site...), after edits of every kind, an error
    and its fix among them; the site and the diagnostics are those of a clean build."""
    rng = random.Random(seed)
    surveyed = _check_surveys(monkeypatch)
    taken = _shortcuts(monkeypatch)
    _site(tmp_path)
    options = _options(tmp_path, "site", cached=False, jobs=jobs)
    result = build(options)
    assert result.written
    memos = cache.carry(result.memos, True)
    edits = [*EDITS, redraw_image, edit_body, edit_body, edit_body, break_record]
    done = _as_clean_after_random_edits(
        tmp_path,
        rng,
        edits,
        30,
        options,
        memos,
        lambda step, result, ok: cache.carry(result.memos, ok),
    )
    assert len(done) >= 20, done
    assert "fixed" in done, done
    assert len(surveyed) >= 20, surveyed
    # The shortcuts were taken (and not only them).
    assert taken["stale"] >= 10 and taken["_write_alike"] >= 3 and taken["_write_all"] >= 2


def test_a_file_changed_by_hand_after_serve_is_made_again_by_a_new_process(
    tmp_path: Path,
) -> None:
    """Serve's rebuilds trust what this process wrote; a page (and a spare's file) changed
    by hand afterwards is found by the next `factsheet build`, in a new process."""
    content = tmp_path / "content"
    shutil.copytree(FULL, content)
    options = Options(content=content, out=tmp_path / "site", cache=tmp_path / "cache")
    result = build(options)
    story = content / "stories" / "blockade-on-mine-road.md"
    for n in range(3):  # the spare is brought up to date by difference from the second on
        story.write_text(story.read_text("utf-8") + f"\nSaved {n}.\n", "utf-8")
        result = build(options, memos=cache.carry(result.memos, True))
        assert result.written
    page, spared = tmp_path / "site" / "index.html", tmp_path / ".factsheet-spare-site/robots.txt"
    good = page.read_bytes()
    page.write_bytes(good.replace(b"<main", b"<main data-hand-edited"))
    spared.write_bytes(b"hand-edited\n")
    story.write_text(story.read_text("utf-8") + "\nSaved by a new process.\n", "utf-8")
    command = [sys.executable, "-m", "generator.cli", "build", "--content", str(content)]
    command += ["--out", str(tmp_path / "site"), "--cache", str(tmp_path / "cache"), "-q"]
    done = subprocess.run(command, cwd=Path(__file__).parent.parent, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert page.read_bytes() == good
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path, replace(options, templates=TEMPLATES))
    # And the next, which builds in the spare that was changed by hand, too.
    story.write_text(story.read_text("utf-8") + "\nAnd again.\n", "utf-8")
    done = subprocess.run(command, cwd=Path(__file__).parent.parent, capture_output=True)
    assert done.returncode == 0, done.stderr
    shutil.rmtree(tmp_path / "clean")
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path, options)


def test_a_serve_rebuild_after_a_maker_wrote_other_files_removes_them_from_the_spare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a maker wrote a file it no longer writes, the spare (the site before) holds a
    file the site does not: the next rebuild in it removes that file, though the makers
    write the files they wrote last time."""
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=False)
    taken = _shortcuts(monkeypatch)
    result = build(options)
    extra = [False]
    real = rebuild.run

    def run(*args: Any, **kwargs: Any) -> tuple[dict[str, Trace], list[object]]:
        made, problems = real(*args, **kwargs)
        if extra[0]:  # the first maker that ran wrote one more file
            name, trace = next(iter(made.items()))
            stamp = args[6].put("extra.txt", b"more\n")
            made[name] = Trace(trace.keys, (*trace.files, ("extra.txt", stamp)), trace.memo)
        return made, problems

    monkeypatch.setattr(rebuild, "run", run)
    story = content / "stories" / "blockade-on-mine-road.md"
    for n, more in enumerate([False, True, False, False, False, False]):
        extra[0] = more
        story.write_text(story.read_text("utf-8") + f"\nSaved {n}.\n", "utf-8")
        result = build(options, memos=cache.carry(result.memos, True))
        assert result.written
        assert (tmp_path / "site" / "extra.txt").exists() == more
    assert tree(options.out) == tree(_aside(tmp_path) and tmp_path / "clean")
    assert taken["_write_alike"] >= 2


def _writes_alike(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """One "alike" for each build from now on that writes by difference (`_write_alike`)."""
    alike: list[str] = []
    real = pipeline._write_alike

    def counted(*args: Any) -> dict[str, Trace]:
        alike.append("alike")
        return real(*args)

    monkeypatch.setattr(pipeline, "_write_alike", counted)
    return alike


def test_a_new_process_keeps_the_spare_by_difference_only_when_it_has_the_site_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build in a new process writes as serve's do (`_write_alike`: only the files that
    differ) when the spare beside the site has the names of the site's files, as the build
    that left it recorded; after a build that added or removed files, it does not (the
    spare, the site before, holds files the site no longer has). The cache keeps the
    spare's traces only when its files are not those of the site."""
    alike = _writes_alike(monkeypatch)
    # Every save a delta, as with a large site (a base written anew would have the traces
    # in the makers' order: see the build after the actor is added, below).
    monkeypatch.setattr(cache, "_DELTA_SHARE", 1.0)
    content, options = _built(tmp_path)
    story = next(p for p in _files(content, "*.md") if p.name != "README.md")
    actor = content / "actors" / "new-actor.yaml"

    spares: list[str] = []

    def edit(change: Callable[[], object]) -> None:
        change()
        assert build(options).written  # (no memos: as a new process)
        assert tree(tmp_path / "site") == tree_of_clean(tmp_path)
        assert options.cache is not None
        kept = cache.load(options.cache, ("deps",))["deps"].old[pipeline._SPARE_FILES]
        spares.append("site's" if kept == pipeline._SITE_FILES else type(kept).__name__)

    def more() -> None:
        story.write_text(story.read_text("utf-8") + "\nMore.\n", "utf-8")

    edit(more)  # the first edit after a cold build: the spare is left
    assert alike == []
    edit(more)
    assert alike == ["alike"]
    edit(lambda: actor.write_text("name: New Actor\ntype: person\n", "utf-8"))
    edit(more)  # the spare lacks the actor's files: they are written here
    assert alike == ["alike"]
    edit(actor.unlink)
    edit(more)  # the spare holds the actor's files: they must go
    assert alike == ["alike"]
    edit(more)
    assert alike == ["alike", "alike"]
    # (The spare's traces kept after the builds that added or removed files, and after the
    # next, which does not find the makers in the order of the last traces: not alike.)
    assert spares == ["site's", "site's", "dict", "dict", "dict", "site's", "site's"]


def test_a_record_renamed_keeps_the_site_s_file_names_and_the_spare_by_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The makers follow the records' ids, not their names: a rename that moves an actor
    from last to first by name leaves the files' names and order as they were, so a new
    process writes by difference (`_write_alike`) and the cache keeps no traces of the
    spare; the site and its sitemap are the clean build's."""
    alike = _writes_alike(monkeypatch)
    content, options = _built(tmp_path)
    story = next(p for p in _files(content, "*.md") if p.name != "README.md")
    story.write_text(story.read_text("utf-8") + "\nMore.\n", "utf-8")
    assert build(options).written  # (the first edit after a cold build: the spare is left)
    named = (
        (p, re.findall(r"^name: (\w.*)$", p.read_text("utf-8"), re.M))
        for p in _files(content / "actors", "*.yaml")
    )
    names = {p: found[0] for p, found in named if found}
    assert _sub(max(names, key=names.__getitem__), r"^name: .*$", "name: 0 First of all")
    sitemap = (options.out / "sitemap.xml").read_bytes()
    assert build(options).written
    assert alike == ["alike"]
    assert options.cache is not None
    kept = cache.load(options.cache, ("deps",))["deps"].old[pipeline._SPARE_FILES]
    assert kept == pipeline._SITE_FILES
    assert (options.out / "sitemap.xml").read_bytes() == sitemap
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path)


def test_the_index_is_not_taken_from_the_cache_for_links_whose_memos_a_failed_build_mixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rebuilds in one process, as serve's: the first, from the cache, does not make the
    search index (an image redrawn); the next fails after linking a story's new text (of
    the same length) for a broken link in another story; the one after it, the link mended,
    makes the index. Its links come from memos carried over from both: the story's visit is
    the failed build's, not made afresh, and not what the cache's index was made from. So
    the index is not made from the cache's (`search.vouch`): the site is the clean one."""
    content, options = _built(tmp_path)
    image = content / "stories" / "concession-dispute" / "locator.png"
    image.write_bytes(image.read_bytes() + b"\0")
    monkeypatch.setattr(search, "_kept", None)  # as in a new process
    result = build(options)
    assert result.written and search._kept is None  # (the index was not made)
    memos = cache.carry(result.memos, True)
    story = content / "stories" / "blockade-on-mine-road.md"
    assert _sub(story, "on 10 December", "on 19 December")  # (its body)
    other = content / "stories" / "concession-dispute" / "index.md"
    text = other.read_text("utf-8")
    other.write_text(text + "\nSee [[no-such-record]].\n", "utf-8")
    failed = build(options, memos=memos)
    assert failed.failed and not failed.written
    memos = cache.carry(failed.memos, False)
    other.write_text(text, "utf-8")
    result = build(options, memos=memos)
    assert result.written
    assert b"on 19 December" in (tmp_path / "site" / search.INDEX).read_bytes()
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path)


def test_a_story_edited_then_put_back_is_a_real_build_each_time(tmp_path: Path) -> None:
    """The record of the files read is made again for the folders whose entries changed
    (see `unchanged.record`): after the edit, the story's text is the edited one, so its
    text put back (with new stamps) is a change, not a file saved unchanged."""
    content, options = _built(tmp_path)
    story = content / "stories" / "blockade-on-mine-road.md"
    text = story.read_text("utf-8")
    story.write_text(text.replace("on 10 December", "on 19 December"), "utf-8")
    edited = build(options)
    assert edited.written and not edited.unchanged
    story.write_text(text, "utf-8")
    again = build(options)
    assert again.written and not again.unchanged
    assert tree(tmp_path / "site") == tree_of_clean(tmp_path)


def test_a_new_process_works_out_the_gazetteer_only_for_a_stale_map(tmp_path: Path) -> None:
    """A new process (nothing kept from an earlier build) that rebuilds after a story's
    text is edited renders no locator map: its gazetteer's places are never worked out.
    After a mapped record's place is edited, the maps that show it are made again, and the
    site is the clean build's either way."""
    content, options = _built(tmp_path)
    story = content / "stories" / "blockade-on-mine-road.md"
    deposit = content / "deposits" / "cerro-bajo.yaml"
    for edit, works_out in (
        (lambda: story.write_text(story.read_text("utf-8") + "\nSaved.\n", "utf-8"), False),
        (lambda: _sub(deposit, r"^coordinates: \[-13.6", "coordinates: [-13.9"), True),
    ):
        edit()
        maps._last = None  # (as in a new process)
        result = build(options)
        assert result.written
        assert maps._last is not None and maps._last[1].worked_out == works_out
        maps._last = search._kept = None  # the clean build makes its own
        assert tree(options.out) == tree_of_clean(tmp_path)


def test_a_new_process_compiles_only_the_templates_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build cache keeps the page templates as Jinja compiled them: a new process's
    build after a story is edited compiles none; after a template is edited, that one
    (and the page shows the edit); the site is the clean build's either way."""
    import jinja2

    content, options = _built(tmp_path)
    compiled: list[str] = []
    compile_ = jinja2.Environment.compile

    def counted(env: jinja2.Environment, source: str, name: str | None = None, *a: Any) -> Any:
        compiled.append(str(name))
        return compile_(env, source, name, *a)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    story = content / "stories" / "blockade-on-mine-road.md"
    template = tmp_path / "templates" / "story.html"
    for edit, expected in (
        (lambda: story.write_text(story.read_text("utf-8") + "\nSaved.\n", "utf-8"), []),
        (lambda: _sub(template, r"</article>", "<p>Edited.</p></article>"), ["story.html"]),
        (lambda: story.write_text(story.read_text("utf-8") + "\nAgain.\n", "utf-8"), []),
    ):
        assert edit()
        plan._environment = None  # (as in a new process)
        compiled.clear()
        assert build(options).written
        assert compiled == expected
        plan._environment = None
        assert tree(options.out) == tree_of_clean(tmp_path)
    page = options.out / "stories" / "blockade-on-mine-road" / "index.html"
    assert b"<p>Edited.</p></article>" in page.read_bytes()


@pytest.mark.parametrize("template", ["story.html", "_macros.html", "base.html", "404.html"])
def test_a_template_edit_makes_again_only_the_pages_rendered_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    """A page reads the template it is rendered with and those that one extends and
    imports: an edit to a template makes again the pages that read it, no other page and
    no data file, feed or copied asset; the site is the clean build's, the edit shown."""
    content, options = _built(tmp_path)
    pages = {
        str(path.relative_to(options.out)): path.read_text("utf-8")
        for path in options.out.rglob("*.html")
    }
    kinds = {f"{kind}/index.html" for kind in os.listdir(content) if (content / kind).is_dir()}
    expected = {
        "story.html": {p for p in pages if p.startswith("stories/") and p not in kinds},
        "_macros.html": set(pages) - kinds - {"404.html", "search/index.html"},
        "base.html": set(pages),
        "404.html": {"404.html"},
    }[template]
    assert "stories/index.html" in kinds and (len(expected) > 1 or template == "404.html")
    ran = makers_run(monkeypatch)
    path = tmp_path / "templates" / template
    text = path.read_text("utf-8")
    marked = text.replace("{% endmacro %}", "<!-- edited -->{% endmacro %}", 1)
    marked = marked.replace("</body>", "<!-- edited --></body>").replace(
        "{% endblock %}", "<!-- edited -->{% endblock %}", 1
    )
    assert marked != text
    path.write_text(marked, "utf-8")
    plan._environment = None  # (as in a new process)
    assert build(options).written
    assert set(ran) == expected
    shown = {p for p in expected if "<!-- edited -->" in (options.out / p).read_text("utf-8")}
    assert shown and shown <= expected
    plan._environment = None
    assert tree(options.out) == tree_of_clean(tmp_path)


def _copies(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, list[str] | None]]:
    """Every copy of the site the builds make from now on, with the names it gave, if asked."""
    from generator import write

    copies: list[tuple[Any, list[str] | None]] = []
    real = write.SiteCopy.names

    def named(copy: write.SiteCopy) -> list[str] | None:
        names = real(copy)
        copies.append((copy, names))
        return names

    monkeypatch.setattr(write.SiteCopy, "names", named)
    return copies


def test_the_first_rebuild_after_a_whole_site_stages_it_in_a_copy_made_on_another_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process on two cores whose site has no spare beside it (a cold build left
    none) has the site's files linked into a copy by a forked process while it loads and
    links, and stages the new site there: the site is a clean build's (a file added or
    replaced by hand in it, too), the old one is the spare, which the next build stages in
    (no copy then), and no process, folder or file descriptor is left behind."""
    if not can_fork():
        pytest.skip("the copy is made by a forked process")
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    assert build(options).written
    site, spare = tmp_path / "site", tmp_path / ".factsheet-spare-site"
    assert not spare.exists()
    copies = _copies(monkeypatch)
    fds = sorted(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else []
    (site / "hand-made.html").write_bytes(b"stray")
    robots = site / "robots.txt"
    robots.unlink()
    robots.write_bytes(b"hand-made\n")
    story = content / "stories" / "blockade-on-mine-road.md"
    for n in range(2):
        story.write_text(story.read_text("utf-8") + f"\nSaved {n}.\n", "utf-8")
        assert build(options).written
        assert tree(site) == tree_of_clean(tmp_path)
        shutil.rmtree(tmp_path / "clean")
        assert spare.is_dir()
        # (The spare is the site before, the file added by hand in it too; staged there, a
        # build would bring it back, as it did before there was a copy: not this test's.)
        (spare / "hand-made.html").unlink(missing_ok=True)
    assert len(copies) == 1  # (the second build staged in the spare)
    copy, names = copies[0]
    assert names is not None and "hand-made.html" in names and "robots.txt" in names
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".factsheet")) == [
        ".factsheet-spare-site"
    ]
    with pytest.raises(ChildProcessError):  # (waited for: no such child)
        os.waitpid(copy._task.pid, os.WNOHANG)
    assert (sorted(os.listdir("/proc/self/fd")) if fds else []) == fds


def test_a_new_process_that_made_the_whole_site_makes_a_spare_of_it_on_another_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build in a new process (`once`) on two cores that leaves no spare (it made the
    whole site, where there was none) has the site's files linked into a spare by a forked
    process while it saves its cache: the next build stages there, with no copy of the
    site to make, and its site is a clean build's. None on one core, nor in a process that
    builds again (serve)."""
    if not can_fork():
        pytest.skip("the spare is made by a forked process")
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    site, spare = tmp_path / "site", tmp_path / ".factsheet-spare-site"
    fds = sorted(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else []
    assert build(options, once=True).written
    files = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert (
        len(files) > 100
        and sorted(str(p.relative_to(spare)) for p in spare.rglob("*") if p.is_file()) == files
    )
    for name in files:  # the very files, but the marker, which is the spare's own
        same = (site / name).stat().st_ino == (spare / name).stat().st_ino
        assert same is (name != ".factsheet-site")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".factsheet")] == [
        ".factsheet-spare-site"
    ]
    assert (sorted(os.listdir("/proc/self/fd")) if fds else []) == fds
    with pytest.raises(ChildProcessError):  # (waited for: no child left)
        os.waitpid(-1, os.WNOHANG)
    copies = _copies(monkeypatch)
    story = content / "stories" / "blockade-on-mine-road.md"
    before = (site / "stories" / "blockade-on-mine-road" / "index.html").read_bytes()
    story.write_text(story.read_text("utf-8") + "\nSaved.\n", "utf-8")
    assert build(options, once=True).written
    assert copies == []  # (staged in the spare)
    assert tree(site) == tree_of_clean(tmp_path)
    assert (spare / "stories" / "blockade-on-mine-road" / "index.html").read_bytes() == before
    # On one core, or in a process that builds again: no spare made.
    for jobs, once in ((1, True), (2, False)):
        shutil.rmtree(site)
        shutil.rmtree(spare, ignore_errors=True)  # (the site before the edit; then none)
        assert options.cache is not None
        shutil.rmtree(options.cache)
        assert build(replace(options, jobs=jobs), once=once).written
        assert not spare.exists()


def test_a_spare_whose_making_failed_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spare takes its name only once every file is in it: a copy that failed leaves a
    folder the next build removes, and that build, finding no spare, makes the site a clean
    build makes."""
    if not can_fork():
        pytest.skip("the spare is made by a forked process")
    from generator import write

    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    real = write._link_tree

    def failing(source: str, target: str, relative: str, names: list[str]) -> None:
        if relative.startswith("stories/"):  # (halfway: the spare's, in this build)
            raise OSError("the disk is full")
        real(source, target, relative, names)

    monkeypatch.setattr(write, "_link_tree", failing)
    assert build(options, once=True).written
    site, spare = tmp_path / "site", tmp_path / ".factsheet-spare-site"
    assert not spare.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".factsheet-copy")]
    monkeypatch.setattr(write, "_link_tree", real)
    story = content / "stories" / "blockade-on-mine-road.md"
    story.write_text(story.read_text("utf-8") + "\nSaved.\n", "utf-8")
    assert build(options, once=True).written
    assert tree(site) == tree_of_clean(tmp_path)
    assert not any(p.name.startswith(".factsheet-copy") for p in tmp_path.iterdir())


def test_a_failed_build_stops_its_copy_and_the_next_build_removes_what_it_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that fails leaves the site as it was and no process behind; the copy it began
    is removed by the next build's, which makes the site a clean build makes. A build on
    one process makes no copy."""
    if not can_fork():
        pytest.skip("the copy is made by a forked process")
    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    assert build(options).written
    site = tmp_path / "site"
    before = tree(site)
    copies = _copies(monkeypatch)
    from generator import write

    begun: list[write.SiteCopy] = []
    real = write.SiteCopy.__init__

    def noted(copy: write.SiteCopy, out: Path) -> None:
        real(copy, out)
        begun.append(copy)

    monkeypatch.setattr(write.SiteCopy, "__init__", noted)
    story = content / "stories" / "blockade-on-mine-road.md"
    text = story.read_text("utf-8")
    story.write_text(text + "\nSee [[no-such-record]].\n", "utf-8")
    assert build(options).failed
    assert tree(site) == before and len(begun) == 1 and copies == []
    with pytest.raises(ChildProcessError):
        os.waitpid(begun[0]._task.pid, os.WNOHANG)  # type: ignore[union-attr]
    story.write_text(text + "\nSaved.\n", "utf-8")
    assert build(replace(options, jobs=1)).failed is False
    assert len(begun) == 1  # (one process: no copy)
    shutil.rmtree(tmp_path / ".factsheet-spare-site")  # (as if the cold build just ran)
    story.write_text(text + "\nSaved again.\n", "utf-8")
    assert build(options).written
    assert len(begun) == 2 and copies[-1][1] is not None
    assert tree(site) == tree_of_clean(tmp_path)
    assert not any(p.name.startswith(".factsheet-copy") for p in tmp_path.iterdir())


def test_a_build_with_nothing_to_do_begins_no_copy_of_the_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy is begun once the build knows it has something to do: not when nothing
    changed, nor when a file was saved unchanged (the content listed on another core)."""
    if not can_fork():
        pytest.skip("the copy is made by a forked process")
    from generator import write

    content, _ = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    assert build(options).written
    begun: list[Path] = []
    real = write.SiteCopy.__init__

    def noted(copy: write.SiteCopy, out: Path) -> None:
        real(copy, out)
        begun.append(copy.folder)

    monkeypatch.setattr(write.SiteCopy, "__init__", noted)
    story = content / "stories" / "blockade-on-mine-road.md"
    assert build(options).unchanged
    story.write_bytes(story.read_bytes())
    assert build(options).unchanged
    assert begun == []
    story.write_text(story.read_text("utf-8") + "\nSaved.\n", "utf-8")
    assert build(options).written
    assert len(begun) == 1 and not begun[0].exists()


@pytest.mark.parametrize(("seed", "jobs"), [(8, 1), (9, 2)])
def test_rebuilds_from_a_shelved_cache_after_random_edits_equal_clean_builds(
    tmp_path: Path, seed: int, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The markdown memo's visits and renderings shelved in the build cache's base, a few
    to a chunk (see `cache.Shelving`): rebuilds after edits of every kind, an error and its
    fix among them, each from the cache as loaded, or from the memos the last build left
    (serve's: their stand-ins carried, some recalled since), give a clean build's site and
    diagnostics; and new bases are written from memos loaded shelved."""
    monkeypatch.setattr(cache, "_SHELF_MIN", 0)
    monkeypatch.setattr(cache, "_SHELF_CHUNK", 4)
    monkeypatch.setattr(cache, "_MAX_DELTAS", 3)
    recalled = []
    take = cache._Shelved.take
    monkeypatch.setattr(cache._Shelved, "take", lambda s, e: recalled.append(s) or take(s, e))
    rng = random.Random(seed)
    _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=jobs)
    assert build(options).written
    done = _as_clean_after_random_edits(
        tmp_path,
        rng,
        EDITS,
        24,
        options,
        None,
        lambda step, result, ok: cache.carry(result.memos, ok) if step % 2 else None,
    )
    assert len(done) >= 20, done
    assert "fixed" in done, done
    assert len(recalled) > 20


def test_rebuilds_while_and_after_a_base_is_written_aside_equal_clean_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each build from the cache as loaded, after a story's edit: once there are more deltas
    than allowed (1 here), a process of its own writes a new base in their place; a build
    that loaded them before, or while it was written, writes its delta after it, and one
    that loads after loads it. Each gives a clean build's site, and the deltas do not grow."""
    monkeypatch.setattr(cache, "_MAX_DELTAS", 1)
    rng = random.Random(10)
    content, templates = _site(tmp_path)
    options = _options(tmp_path, "site", cached=True, jobs=2)
    assert build(options).written
    folder = tmp_path / "cache"
    bases = set()
    for step in range(8):
        edit_body(rng, content, templates)
        clean = _aside(tmp_path)
        result = build(options)
        assert result.written and clean.written
        _assert_as_clean(tmp_path, step)
        assert len(list(folder.glob("delta-*"))) <= 2, step  # (twice as many: a base here)
        if step % 3 != 1:  # (else the next build may load while it is written)
            cache.wait_compacted(folder)
        with (folder / cache.FILE).open("rb") as file:
            bases.add(tuple(pickle.load(file).get("stands for", ())))
    assert len(bases - {()}) >= 2, bases  # (bases written aside, standing for the files before)
