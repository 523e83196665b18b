"""Hosting under a sub-path: the example site served at http://127.0.0.1:PORT/some/sub/path/
by a small http.server, crawled from the home page. Every link and asset is reached and
answers 200; nothing points outside the sub-path; a missing address gets 404.html, whose
links work from there (they are absolute when base_url is set)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
import yaml
from opendata import SHIPPED, TESTS, build_copy
from sitecheck import parse_page

PREFIX = "/some/sub/path/"
URL_ATTRIBUTES = ("href", "src", "action")
# Direct connections only: a proxy from the environment must not see 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SubPathHandler(SimpleHTTPRequestHandler):
    """Serves the site folder at PREFIX, and 404.html (status 404) for anything else, as
    GitHub Pages and Netlify do."""

    def translate_path(self, path: str) -> str:
        route = urlsplit(path).path
        if not route.startswith(PREFIX):
            return str(Path(self.directory) / ".missing")
        return super().translate_path("/" + route.removeprefix(PREFIX))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reports what matters."""


class Served:
    def __init__(self, folder: Path, root: str) -> None:
        self.folder = folder
        self.root = root


@pytest.fixture(scope="module", params=["base_url", "relative"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("subpath")
    site = folder / "site"
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SubPathHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        root = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
        base = root if request.param == "base_url" else None
        assert build_copy(folder, SHIPPED, base) == site
        yield Served(site, root)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with OPENER.open(url, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read()


def links(page_url: str, html: bytes) -> Iterator[str]:
    page = parse_page(page_url, html.decode("utf-8"))
    for element in page.root.iter():
        for name in URL_ATTRIBUTES:
            if element.get(name):
                yield urldefrag(urljoin(page_url, element.get(name)))[0]


def crawl(start: str, host: str) -> tuple[dict[str, int], list[str]]:
    """Status of every URL on `host` reached from `start`, and links that leave the host."""
    status: dict[str, int] = {}
    outside: list[str] = []
    queue = deque([start])
    while queue:
        url = queue.popleft()
        if url in status:
            continue
        code, kind, body = fetch(url)
        status[url] = code
        if code != 200 or kind != "text/html":
            continue
        for target in links(url, body):
            parts = urlsplit(target)
            if parts.scheme in ("http", "https") and parts.netloc == host:
                queue.append(target)
            elif parts.scheme in ("", "file"):
                outside.append(f"{url} -> {target}")
    return status, outside


def test_every_link_and_asset_answers_200_under_the_sub_path(served: Served) -> None:
    host = urlsplit(served.root).netloc
    status, outside = crawl(served.root, host)
    assert outside == []
    assert {url: code for url, code in status.items() if code != 200} == {}
    assert all(url.startswith(served.root) for url in status), "a link leaves the sub-path"
    pages = {
        served.root + p.relative_to(served.folder).as_posix() for p in served.folder.rglob("*.html")
    }
    reached = {url + "index.html" if url.endswith("/") else url for url in status}
    assert pages - reached == {served.root + "404.html"}
    assert any(url.endswith(".css") for url in status)
    assert any(url.endswith("feed.xml") for url in status)
    assert any(url.endswith(".json") for url in status)


def test_a_missing_address_gets_the_404_page_and_its_links_work(served: Served) -> None:
    missing = served.root + "no/such/page/"
    code, kind, body = fetch(missing)
    assert (code, kind) == (404, "text/html")
    targets = set(links(missing, body)) - {missing}  # '#main' leads to the page itself
    assert targets
    broken = {t: fetch(t)[0] for t in targets if t.startswith(served.root)}
    if served.root in body.decode("utf-8"):  # built with base_url: links are absolute
        assert {t: c for t, c in broken.items() if c != 200} == {}
        assert len(broken) == len(targets)


def test_feed_sitemap_and_robots_are_served(served: Served) -> None:
    for name, kind in (("feed.xml", "application/xml"), ("sitemap.xml", "application/xml")):
        code, served_as, body = fetch(served.root + name)
        assert code == 200 and ET.fromstring(body) is not None
        assert served_as in (kind, "text/xml")
    code, _, robots = fetch(served.root + "robots.txt")
    assert code == 200 and robots.startswith(b"User-agent: *")
    sitemap = ET.fromstring(fetch(served.root + "sitemap.xml")[2])
    for loc in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc"):
        assert fetch(urljoin(served.root, loc.text or ""))[0] == 200


def test_the_pages_workflow_builds_with_the_published_address_and_uploads_site() -> None:
    workflow = yaml.safe_load((TESTS.parent / ".github" / "workflows" / "pages.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    run = "\n".join(step.get("run", "") for step in steps)
    assert "make build" in run
    assert '--base-url "${{ steps.pages.outputs.base_url }}/"' in run
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert [s["with"]["path"] for s in uploads] == ["site"]
    assert workflow["jobs"]["deploy"]["needs"] == "build"
