"""Tests for generator.views on the shipped example: what the views keep for the build."""

from __future__ import annotations

from pathlib import Path

from generator.pipeline import Options, load
from generator.schema import STORY
from generator.views import Views

CONTENT = Path(__file__).resolve().parent.parent / "content"


def test_views_keep_the_relative_html_of_summaries_but_not_of_bodies() -> None:
    corpus, links, _ = load(Options(content=CONTENT))
    assert corpus is not None and links is not None
    views = Views(corpus, links)
    story = corpus.of_kind(STORY)[0]
    page = views.story(story)
    body = links.html[story.id, "body"]
    assert body and str(page.body) == str(views.html(page.url, story, "body"))
    kept = {text for _, text in views._relative}
    assert body not in kept  # a body is on one page: kept, it would only hold memory
    assert links.html[story.id, "summary"] in kept  # a summary is on many pages
    # Kept or not, it is the same relative HTML, made for the page's depth.
    assert views.html(page.url, story, "summary") == page.summary
