"""`factsheet serve`: the real build served with a reload script, rebuilt on save, errors shown
in the browser's overlay until fixed, a clear error for a busy port, and a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from browsing import CHROMIUM, launch, page_errors
from test_cache import counting
from test_determinism import FULL, tree
from test_incremental import makers_run

from generator import cli
from generator.pipeline import Options, Result, build
from generator.serve import DevServer, inject

SITE = "title: Test site\n"
ADA = "name: Ada\ntype: person\nsummary: Works with [[bob]].\n"
BOB = "name: Bob\ntype: person\nsummary: Works with [[ada]].\n"
TIMEOUT = 20.0
BROWSER_REQUIRED = os.environ.get("FACTSHEET_BROWSER_TESTS", "") == "required"


@pytest.fixture
def options(tmp_path: Path) -> Options:
    content = tmp_path / "content"
    (content / "actors").mkdir(parents=True)
    (content / "site.yaml").write_text(SITE, encoding="utf-8")
    (content / "actors" / "ada.yaml").write_text(ADA, encoding="utf-8")
    (content / "actors" / "bob.yaml").write_text(BOB, encoding="utf-8")
    return Options(content=content, out=tmp_path / "site")


@pytest.fixture
def server(options: Options) -> Iterator[DevServer]:
    with DevServer(options, port=0) as running:
        running.rebuild()
        running.start()
        yield running


@pytest.fixture
def watching(server: DevServer) -> Iterator[DevServer]:
    stop = threading.Event()
    thread = threading.Thread(target=server.watch, args=(_ignore, stop), daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def _ignore(result: Result, seconds: float, changed: tuple[str, ...]) -> None:
    """The tests read the server's endpoints, not the report."""


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


def _status(server: DevServer) -> dict[str, Any]:
    status: dict[str, Any] = json.loads(_get(server.url + "__factsheet/status")[2])
    return status


def _save_until(
    server: DevServer, path: Path, text: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Save the file (again, until the watcher has seen it) and wait for the status."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        path.write_text(text, encoding="utf-8")
        saved = time.monotonic()
        while time.monotonic() < min(saved + 3, deadline):
            status = _status(server)
            if done(status):
                return status
            time.sleep(0.05)
    raise AssertionError(f"no rebuild after saving {path.name}")


class _Events:
    """The server-sent events stream, read as the browser's EventSource would."""

    def __init__(self, server: DevServer) -> None:
        self.response = urllib.request.urlopen(server.url + "__factsheet/events", timeout=TIMEOUT)
        assert self.response.headers["Content-Type"] == "text/event-stream"

    def next(self) -> dict[str, Any]:
        while True:
            line = self.response.readline().decode()
            assert line, "the stream closed"
            if line.startswith("data: "):
                event: dict[str, Any] = json.loads(line.removeprefix("data: "))
                return event

    def until(self, build: str) -> dict[str, Any]:
        event = self.next()
        while event["build"] != build:
            event = self.next()
        return event

    def close(self) -> None:
        self.response.close()


def test_serves_the_real_build_with_the_reload_script(
    server: DevServer, options: Options, tmp_path: Path
) -> None:
    code, kind, body = _get(server.url + "actors/ada/")
    assert (code, kind) == (200, "text/html; charset=utf-8")
    build_id = _status(server)["build"]
    tag = f'<script src="/__factsheet/reload.js" data-build="{build_id}" defer></script></head>'
    assert tag.encode() in body
    written = (options.out / "actors" / "ada" / "index.html").read_bytes()
    assert b"__factsheet" not in written  # the script is added on the way out only
    assert body.replace(tag.encode(), b"</head>") == written
    other = build(Options(content=options.content, out=tmp_path / "other"))
    assert other.written
    for file in (tmp_path / "other").rglob("*"):
        if file.is_file():
            assert (options.out / file.relative_to(tmp_path / "other")).read_bytes() == (
                file.read_bytes()
            )


def test_other_files_and_missing_pages(server: DevServer) -> None:
    code, kind, body = _get(server.url + "assets/style.css")
    assert (code, kind) == (200, "text/css")
    assert b"__factsheet" not in body
    code, _, body = _get(server.url + "no/such/page/")
    assert code == 404
    assert b"/__factsheet/reload.js" in body
    code, kind, body = _get(server.url + "__factsheet/reload.js")
    assert (code, kind) == (200, "text/javascript; charset=utf-8")
    assert b"EventSource" in body and b"/__factsheet/status" in body
    assert _get(server.url + "__factsheet/nothing")[0] == 404


def test_a_save_rebuilds_and_signals_the_browser(watching: DevServer, options: Options) -> None:
    events = _Events(watching)
    try:
        first = events.next()
        assert first["ok"] is True
        ada = options.content / "actors" / "ada.yaml"
        status = _save_until(
            watching,
            ada,
            ADA.replace("Ada", "Ada Lovelace"),
            lambda s: s["build"] != first["build"],
        )
        assert status == {"build": status["build"], "ok": True, "problems": []}
        assert events.until(status["build"])["ok"] is True
        assert b"Ada Lovelace" in _get(watching.url + "actors/ada/")[2]
    finally:
        events.close()


def test_a_rebuild_reparses_only_what_changed_and_equals_a_clean_build(
    tmp_path: Path, options: Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed, rendered = counting(monkeypatch, "render_inline")
    with DevServer(options, port=0) as server:
        assert server.rebuild()[0].written
        assert len(parsed) == 2 and len(rendered) == 2
        parsed.clear()
        rendered.clear()
        bob = options.content / "actors" / "bob.yaml"
        bob.write_text(BOB.replace("name: Bob", "name: Robert"), encoding="utf-8")
        assert server.rebuild()[0].written
        # Bob's file, and Ada's summary, which links to Bob, whose name changed; not Bob's
        # own summary: its text and the record it links to are as they were.
        assert parsed == ["content/actors/bob.yaml"]
        assert rendered == ["Works with [[bob]]."]
        parsed.clear()
        rendered.clear()
        (options.content / "actors" / "ada.yaml").write_text("name: [", encoding="utf-8")
        assert not server.rebuild()[0].written
        (options.content / "actors" / "ada.yaml").write_text(ADA, encoding="utf-8")
        assert server.rebuild()[0].written
        # The broken file was parsed; the file as it was before came from the failed
        # build's memo, which kept what the last good build knew. Bob's summary links to
        # Ada: rendered while she was missing; once she is back, his record and all it
        # looks up of hers are as in the last good build, which gives his whole visit.
        assert parsed == ["content/actors/ada.yaml"]
        assert rendered == ["Works with [[ada]]."]
    clean = tmp_path / "clean"
    assert build(Options(content=options.content, out=clean)).written
    assert tree(options.out) == tree(clean)


def test_a_save_remakes_the_pages_that_show_it_not_the_site(
    tmp_path: Path, options: Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = makers_run(monkeypatch)
    carl = options.content / "actors" / "carl.yaml"
    carl.write_text("name: Carl\ntype: person\nsummary: Alone.\n", encoding="utf-8")
    with DevServer(options, port=0) as server:
        assert server.rebuild()[0].written
        everything = len(made)
        made.clear()
        bob = options.content / "actors" / "bob.yaml"
        bob.write_text(BOB.replace("name: Bob", "name: Robert"), encoding="utf-8")
        assert server.rebuild()[0].written
        # Bob's page and data, and Ada's, whose summary links to him; the lists of actors,
        # the search index and the graph that name him. Not Carl's page, nor the feeds.
        assert "actors/bob/index.html" in made and "actors/ada/index.html" in made
        assert "actors/index.html" in made and "search/records.js" in made
        assert not {"actors/carl/index.html", "data/actors/carl.json", "feed.xml"} & set(made)
        assert len(made) < everything
    clean = tmp_path / "clean"
    assert build(Options(content=options.content, out=clean)).written
    assert tree(options.out) == tree(clean)


def test_serving_a_site_with_nothing_changed_keeps_its_cache_for_the_first_save(
    tmp_path: Path, options: Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = replace(options, cache=tmp_path / "cache")
    made = makers_run(monkeypatch)
    assert build(options).written  # `factsheet build`, then `factsheet serve`
    everything = len(made)
    made.clear()
    with DevServer(options, port=0) as server:
        assert server.rebuild()[0].unchanged  # nothing was read: no memos in memory
        bob = options.content / "actors" / "bob.yaml"
        bob.write_text(BOB.replace("name: Bob", "name: Robert"), encoding="utf-8")
        assert server.rebuild()[0].written
    # The save re-made what shows Bob, from the cache, not the whole site.
    assert "actors/bob/index.html" in made and "404.html" not in made
    assert len(made) < everything
    clean = tmp_path / "clean"
    assert build(Options(content=options.content, out=clean)).written
    assert tree(options.out) == tree(clean)


def test_errors_show_in_the_overlay_until_fixed(watching: DevServer, options: Options) -> None:
    events = _Events(watching)
    try:
        before = events.next()
        ada = options.content / "actors" / "ada.yaml"
        broken = "name: Ada\ntype: persn\nsummary: Works with [[bob]].\n"
        status = _save_until(watching, ada, broken, lambda s: not s["ok"])
        assert events.until(status["build"])["ok"] is False
        [problem] = status["problems"]
        assert problem["path"] == "content/actors/ada.yaml"
        assert (problem["line"], problem["column"], problem["code"]) == (2, 7, "E0304")
        assert "'persn' is not a type here (did you mean 'person'?)" in problem["message"]
        assert problem["text"].startswith("content/actors/ada.yaml:2:7: error[E0304]: ")
        assert problem["context"] == [
            [1, "name: Ada"],
            [2, "type: persn"],
            [3, "summary: Works with [[bob]]."],
        ]
        # The last good site is still there, and still served, under the overlay.
        assert _get(watching.url + "actors/ada/")[0] == 200
        fixed = _save_until(watching, ada, ADA, lambda s: s["ok"])
        assert fixed["problems"] == []
        assert fixed["build"] not in (before["build"], status["build"])
        assert events.until(fixed["build"])["ok"] is True
    finally:
        events.close()


def test_a_browser_shows_the_overlay_and_reloads(watching: DevServer, options: Options) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed: pip install -e '.[dev]'")
    if not CHROMIUM.is_file():
        _missing(f"no browser at {CHROMIUM}: apt-get install chromium")
    ada = options.content / "actors" / "ada.yaml"
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            errors = page_errors(page)  # the server sends the site's strict policy
            page.goto(watching.url + "actors/ada/")
            broken = "name: Ada\ntype: persn\nsummary: Works with [[bob]].\n"
            _save_until(watching, ada, broken, lambda s: not s["ok"])
            overlay = page.wait_for_selector("#factsheet-errors", timeout=TIMEOUT * 1000)
            text = overlay.inner_text()
            assert "content/actors/ada.yaml:2:7" in text
            assert "'persn' is not a type here" in text
            assert "type: persn" in text
            fixed = ADA.replace("Ada", "Ada Lovelace")
            _save_until(watching, ada, fixed, lambda s: s["ok"])
            # (Polled from here: wait_for_function evaluates a string in the page, which
            # the server's policy forbids, and fails if the reload has not come yet.)
            deadline = time.monotonic() + TIMEOUT
            while "Ada Lovelace" not in _title(page):
                assert time.monotonic() < deadline, "the page was not reloaded"
                page.wait_for_timeout(100)
            assert page.query_selector("#factsheet-errors") is None
            assert errors == []
        finally:
            browser.close()


def _title(page: Any) -> str:
    """The page's title; empty while it is being reloaded."""
    from playwright.sync_api import Error

    try:
        return str(page.title())
    except Error:
        return ""


def _missing(what: str) -> None:
    """Skip locally; under FACTSHEET_BROWSER_TESTS=required a missing tool is a failure."""
    if BROWSER_REQUIRED:
        pytest.fail(f"{what} (FACTSHEET_BROWSER_TESTS=required)", pytrace=False)
    pytest.skip(what)


def test_inject_without_a_head() -> None:
    assert inject(b"<p>x</p>", "7") == (
        b'<p>x</p><script src="/__factsheet/reload.js" data-build="7" defer></script>'
    )


def test_a_busy_port_is_a_usage_error(options: Options, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["serve", "--content", str(options.content), "--port", str(port)]
        assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert "--port N" in err
    assert not options.out.exists()


def test_a_bad_port_is_a_usage_error(options: Options) -> None:
    assert cli.main(["serve", "--port", "http"]) == 2
    assert cli.main(["serve", "--port", "70000"]) == 2


def _serve_then_ctrl_c(options: Options) -> tuple[int, str]:
    """`factsheet serve` in its own process, stopped by Ctrl-C once it serves: its exit
    status and what it printed."""
    # Ctrl-C as a terminal sends it, even where this test runs as a job that ignores SIGINT.
    start = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from generator.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    args = ["serve", "--content", str(options.content), "--port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-c", start, *args],
        cwd=options.content.parent,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines = []
    try:
        for line in process.stderr:
            lines.append(line)
            if line.startswith("serving "):
                break
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=TIMEOUT)[1]
    finally:
        process.kill()
        process.wait()
    return process.returncode, "".join(lines) + rest


def test_ctrl_c_stops_the_server_cleanly(options: Options) -> None:
    status, output = _serve_then_ctrl_c(options)
    assert status == 0, output
    assert "Traceback" not in output
    assert re.search(r"built \d+ pages from 2 records into site", output)
    assert output.rstrip().endswith("stopped")


def test_serve_starts_from_the_build_cache_that_build_left(
    options: Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`factsheet serve` after `factsheet build` (both with the default cache beside the
    content) has nothing to build at its start; a second serve has nothing either, for the
    first one's start wrote the cache as a build does."""
    monkeypatch.chdir(options.content.parent)
    assert cli.main(["build", "--content", str(options.content), "--quiet"]) == 0
    assert (options.content.parent / ".factsheet-cache").is_dir()
    for _ in range(2):
        status, output = _serve_then_ctrl_c(options)
        assert status == 0, output
        assert "nothing changed since the last build" in output, output


def test_rebuilds_after_the_first_leave_the_build_cache_as_it_was(
    tmp_path: Path, options: Options
) -> None:
    """Serve's first build reads and writes the cache; the rebuilds after a save work from
    memory and write nothing there. The site is a clean build's all along, and so is the
    one a new build makes from that cache afterwards (the site is not the cache's one)."""
    options = replace(options, cache=tmp_path / "cache")
    bob = options.content / "actors" / "bob.yaml"
    clean = replace(options, out=tmp_path / "clean", cache=None)
    with DevServer(options, port=0) as server:
        assert server.rebuild()[0].written
        cache = {p.name: p.stat().st_mtime_ns for p in options.cache.iterdir()}
        for name in ("Robert", "Roberto"):
            bob.write_text(BOB.replace("name: Bob", f"name: {name}"), encoding="utf-8")
            assert server.rebuild([bob])[0].written
            assert {p.name: p.stat().st_mtime_ns for p in options.cache.iterdir()} == cache
            assert build(clean).written
            assert tree(options.out) == tree(clean.out)
    bob.write_text(BOB.replace("name: Bob", "name: Rob"), encoding="utf-8")
    result = build(options)
    assert result.written and not result.unchanged
    assert build(clean).written
    assert tree(options.out) == tree(clean.out)


# `factsheet serve` whose render workers are killed (as the system kills one when memory runs
# out) while the file `kill` names exists; Ctrl-C reaches it as a terminal sends it.
_KILLING = """
import os, signal, sys
from generator import cli, plan
signal.signal(signal.SIGINT, signal.default_int_handler)
parent, kill, render_page = os.getpid(), sys.argv.pop(1), plan.render_page

def killed(*args, **kwargs):
    if os.getpid() != parent and os.path.exists(kill):
        os.kill(os.getpid(), signal.SIGKILL)
    return render_page(*args, **kwargs)

plan.render_page = killed
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="serve forks workers on two cores or more")
def test_a_rebuild_that_loses_a_worker_is_reported_and_serve_goes_on(tmp_path: Path) -> None:
    """Before, the lost worker ended serve (exit status 4) at the first save after it."""
    content = tmp_path / "content"
    shutil.copytree(FULL, content)
    site, kill = tmp_path / "site", tmp_path / "kill"
    args = ["serve", "--content", str(content), "--port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLING, str(kill), *args],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stderr or ()])
    reader.start()
    printed: list[str] = []

    def until(start: str, save: Callable[[int], None] | None = None) -> str:
        """The next line printed that starts with `start`; `save` is called (with a count)
        until it comes, every 3 s: the watcher may not have seen the first save."""
        deadline, times = time.monotonic() + 60, 0
        while time.monotonic() < deadline:
            if save is not None:
                save(times)
                times += 1
            try:
                while True:
                    printed.append(lines.get(timeout=3))
                    if printed[-1].startswith(start):
                        return printed[-1]
            except queue.Empty:
                continue
        raise AssertionError("".join(printed))

    def title(name: str) -> Callable[[int], None]:
        """Save site.yaml with a new title: every page changes."""
        site_yaml = content / "site.yaml"
        rest = site_yaml.read_text("utf-8").split("\n", 1)[1]
        return lambda times: site_yaml.write_text(f"title: {name} {times}\n{rest}", "utf-8")

    try:
        until("serving ")
        before = tree(site)
        kill.touch()  # every page made again (site.yaml), on workers that are killed
        lost = until("content/site.yaml changed: ", title("Lost"))
        assert lost == (
            "content/site.yaml changed: a worker process was killed before it finished (by the "
            "system, if memory ran out: try fewer --jobs); site was left as it was; save a file "
            "to build again\n"
        )
        assert tree(site) == before
        kill.unlink()
        until("content/site.yaml changed: built ", title("Found"))
        process.send_signal(signal.SIGINT)
        assert process.wait(TIMEOUT) == 0
    finally:
        process.kill()
        process.wait()
        reader.join(TIMEOUT)
        process.stderr.close()
    assert "Traceback" not in "".join(printed)
    clean = tmp_path / "clean"
    assert build(Options(content=content, out=clean)).written
    assert tree(site) == tree(clean)
