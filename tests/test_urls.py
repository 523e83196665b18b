"""Tests for generator.urls: output paths, the way back to the root, and relative links."""

from __future__ import annotations

import posixpath
from pathlib import Path

import pytest

from generator.diagnostics import Location
from generator.model import Record
from generator.urls import (
    CHRONOLOGY,
    HOME,
    NOT_FOUND,
    kind_url,
    link,
    output_path,
    record_url,
    relative_prefix,
)

PAGES = [HOME, CHRONOLOGY, NOT_FOUND, "actors/", "actors/hikmet-hajiyev/", "stories/a-b/"]
FILES = [*PAGES, "assets/style.css", "stories/a-b/map.png"]


def record(kind: str, ident: str) -> Record:
    return Record(kind, ident, ident, Location(f"content/{kind}/{ident}.yaml"), {}, {})


def test_record_and_kind_urls() -> None:
    assert record_url(record("actors", "azerbaijan")) == "actors/azerbaijan/"
    assert record_url(record("stories", "baku-demands")) == "stories/baku-demands/"
    assert kind_url("deposits") == "deposits/"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("", "index.html"),
        ("chronology/", "chronology/index.html"),
        ("actors/x/", "actors/x/index.html"),
        ("404.html", "404.html"),
        ("assets/style.css", "assets/style.css"),
    ],
)
def test_output_path(url: str, path: str) -> None:
    assert output_path(url) == path


@pytest.mark.parametrize(
    ("url", "prefix"),
    [("", ""), ("404.html", ""), ("actors/", "../"), ("actors/x/", "../../")],
)
def test_relative_prefix(url: str, prefix: str) -> None:
    assert relative_prefix(url) == prefix


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("", "actors/x/", "actors/x/index.html"),
        ("", "", "index.html"),
        ("actors/x/", "", "../../index.html"),
        ("actors/x/", "deposits/y/", "../../deposits/y/index.html"),
        ("actors/", "actors/x/", "../actors/x/index.html"),
        ("actors/x/", "assets/style.css", "../../assets/style.css"),
        ("404.html", "chronology/", "chronology/index.html"),
        ("chronology/", "chronology/", "../chronology/index.html"),
    ],
)
def test_link(source: str, target: str, expected: str) -> None:
    assert link(source, target) == expected


@pytest.mark.parametrize("source", PAGES)
@pytest.mark.parametrize("target", FILES)
def test_every_link_is_relative_names_a_file_and_leads_to_its_target(
    source: str, target: str
) -> None:
    href = link(source, target)
    assert not href.startswith("/") and "://" not in href
    assert not href.endswith("/")  # a folder link opens a file listing from file://
    here = posixpath.dirname(output_path(source))
    assert posixpath.normpath(posixpath.join(here, href)) == output_path(target)
    # The same from disk: the file the browser opens is the target's file.
    root = Path("/srv/site/sub/path")
    opened = (root / here / href).resolve()
    assert opened == (root / output_path(target)).resolve()
