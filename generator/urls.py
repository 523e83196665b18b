"""The one place that maps a record or page to its output path and its relative URL.

URLs here are site-root-relative ('actors/azerbaijan/'); a page turns them into links
relative to itself with `relative_prefix`, so the site works under any sub-path and from disk.
"""

from __future__ import annotations

from .model import Record

HOME = ""
CHRONOLOGY = "chronology/"
NOT_FOUND = "404.html"
FEED = "feed.xml"
SITEMAP = "sitemap.xml"
ROBOTS = "robots.txt"
GRAPH = "data/graph.json"


def record_url(record: Record) -> str:
    return f"{record.kind}/{record.id}/"


def kind_url(kind: str) -> str:
    return f"{kind}/"


def data_url(record: Record) -> str:
    """The record (or story) as JSON."""
    return f"data/{record.kind}/{record.id}.json"


def kind_data_url(kind: str) -> str:
    """Every record of a kind as CSV."""
    return f"data/{kind}.csv"


def timeline_url(story: Record) -> str:
    """A story's chronology in TimelineJS's JSON format."""
    return f"data/timeline/{story.id}.json"


def story_feed_url(story: Record) -> str:
    """The Atom feed of a story's chronology."""
    return f"{record_url(story)}{FEED}"


def absolute(base_url: str, url: str) -> str:
    """A page URL under the site's base URL; without one, the URL from the site root.

    For machines (feeds, JSON, JSON-LD): the home page is './' rather than '' on its own.
    """
    if base_url:
        return f"{base_url.rstrip('/')}/{url}"
    return url or "./"


def output_path(url: str) -> str:
    """The file a page URL is written to: 'actors/x/' -> 'actors/x/index.html'."""
    if url == "" or url.endswith("/"):
        return f"{url}index.html"
    return url


def relative_prefix(url: str) -> str:
    """What leads from the page at `url` back to the site root: '' or '../' * depth."""
    depth = output_path(url).count("/")
    return "../" * depth


def link(from_url: str, to_url: str) -> str:
    """A relative link from one page to another (or to a file) of the site.

    It names index.html explicitly: a folder link opens a file listing, not the page, when
    the site is read straight from disk.
    """
    return relative_prefix(from_url) + output_path(to_url)
