"""The build cache: a cached build gives the same bytes as a clean one after every kind of
edit; a corrupt, stale or foreign cache is ignored; a failed build leaves it as it was."""

from __future__ import annotations

import pickle
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from test_determinism import FULL, tree

from generator import cache, cli, links, parse
from generator.pipeline import Options, build
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


def test_a_truncated_cache_is_ignored(tmp_path: Path) -> None:
    content, templates = _site(tmp_path)
    folder = tmp_path / "cache"
    clean = _build(content, tmp_path / "clean", templates, folder)
    data = (folder / cache.FILE).read_bytes()
    (folder / cache.FILE).write_bytes(data[: len(data) // 2])
    _edit_story(content, templates)
    edited = _build(content, tmp_path / "clean2", templates, None)
    assert _build(content, tmp_path / "site", templates, folder) == edited != clean


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
