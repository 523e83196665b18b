"""The editor's loop: build, serve the output folder, rebuild on save, reload the browser.

Input: build `Options` and a port; output: a local HTTP server over the output folder whose
HTML responses carry a reload script (added on the way out, never written into the folder),
a status endpoint with the last build's errors for the page's overlay, and a watcher that
rebuilds with `pipeline.build` (atomic, so the folder is never half-built). Prints nothing:
each build goes to the caller's `report`, and a rebuild that lost a worker process to its
`lost` (serve goes on watching: the next save builds again).
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import watchfiles

from .cache import Memo, carry
from .diagnostics import Diagnostic, Severity
from .listing import hidden
from .pipeline import Options, Result, build
from .workers import WorkerLost

HOST = "127.0.0.1"
PREFIX = "/__factsheet/"
RELOAD_SCRIPT = Path(__file__).with_name("reload.js")
CONTEXT_LINES = 2  # lines shown before and after the offending one
KEEPALIVE_SECONDS = 15.0
# The strict policy the site must work under (SPEC §3), so a slip shows while editing.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

Report = Callable[[Result, float, tuple[str, ...]], None]
# What to do with a rebuild that lost a worker (the files saved, and why it stopped).
Lost = Callable[[tuple[str, ...], WorkerLost], None]
# The files a batch of changes saved, as shown to the editor; every path the watcher reported.
_Batch = tuple[tuple[str, ...], list[Path]]


class ServeError(Exception):
    """The server cannot start (the port is taken, say); the message says why."""


@dataclass(frozen=True)
class Problem:
    """An error as the overlay shows it: where, what, and the lines around it."""

    path: str
    line: int
    column: int
    code: str
    message: str
    text: str  # the diagnostic as the terminal prints it
    context: tuple[tuple[int, str], ...] = ()  # (line number, text), the offending one inside


@dataclass(frozen=True)
class Status:
    """What the browser is told after each build; `build` changes with every build."""

    build: str
    ok: bool
    problems: tuple[Problem, ...] = ()
    generation: int = 0  # for the server's own bookkeeping; not sent

    def to_json(self) -> str:
        data = asdict(self)
        del data["generation"]
        return json.dumps(data, ensure_ascii=False)


class _Board:
    """The latest status, shared by the builder and the request threads."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._stamp = f"{time.time_ns():x}"  # build ids differ across restarts too
        self._status = Status(self._stamp + "-0", ok=True)
        self._closed = False

    def current(self) -> Status:
        with self._changed:
            return self._status

    def publish(self, ok: bool, problems: tuple[Problem, ...]) -> Status:
        with self._changed:
            generation = self._status.generation + 1
            self._status = Status(f"{self._stamp}-{generation}", ok, problems, generation)
            self._changed.notify_all()
            return self._status

    def wait(self, seen: int, timeout: float) -> Status | None:
        """The status once it is newer than generation `seen` (or after `timeout`); None
        once the server is closing."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._status.generation > seen, timeout)
            return None if self._closed else self._status

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class DevServer:
    """`with DevServer(options, port) as server:` binds at once (ServeError if it cannot)."""

    def __init__(self, options: Options, port: int = 8000, host: str = HOST) -> None:
        self.options = options
        self.board = _Board()
        handler = partial(_Handler, directory=str(options.out.absolute()))
        try:
            self.http = _HTTPServer((host, port), handler, self.board)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ServeError(
                    f"port {port} on {host} is already in use (another `factsheet serve`?); "
                    "stop it, or choose another port with --port N"
                ) from None
            raise ServeError(f"cannot listen on {host}:{port}: {error.strerror}") from None
        self._thread: threading.Thread | None = None
        # Parsed documents and rendered Markdown of the last build: a save re-parses and
        # re-renders only the files it changed (and texts that link to a renamed record).
        self._memos: dict[str, Memo] | None = None

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host!s}:{port}/"

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        """Serve requests in a background thread."""
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.board.close()
        if self._thread is not None:
            self.http.shutdown()
            self._thread.join()
        self.http.server_close()

    def rebuild(self, changed: Iterable[Path] | None = None) -> tuple[Result, float]:
        """Build into the output folder and tell the browsers; the Result and its seconds.
        `changed`: the files saved since the last build, as the watcher saw them (the build
        then looks at those alone, not at every file, when it can)."""
        started = time.perf_counter()
        # The build cache (options.cache) is read, and written, by a build that starts from
        # it. A rebuild from what the last one left in memory does not write it: the save
        # would cost more than the rebuild. (The next `factsheet build` then finds a site
        # other than the cache's and makes its pages again, from the cache's parsed and
        # rendered Markdown.)
        options = self.options if self._memos is None else replace(self.options, cache=None)
        result = build(options, memos=self._memos, changed=changed)
        # A build with nothing to do read nothing, cache included: the next one reads it.
        self._memos = None if result.unchanged else carry(result.memos, result.written)
        seconds = time.perf_counter() - started
        errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
        problems = tuple(_problem(d, self._roots()) for d in errors)
        self.board.publish(result.written, problems)
        return result, seconds

    def watch(
        self, report: Report, stop: threading.Event | None = None, lost: Lost | None = None
    ) -> None:
        """Rebuild after every save under the content and templates folders, until `stop`
        is set (or Ctrl-C). A rebuild that lost a worker process (killed by the system, most
        often when memory ran out) left the output folder as it was: it goes to `lost`, if
        given, and the watch goes on; without `lost`, it ends the watch."""
        for saved, paths in self._changes(stop):
            try:
                result, seconds = self.rebuild(paths)
            except WorkerLost as error:
                # What the lost build began in memory is not trusted: the next one starts
                # from the build cache, as the first did.
                self._memos = None
                if lost is None:
                    raise
                lost(saved, error)
                continue
            report(result, seconds, saved)

    def _changes(
        self, stop: threading.Event | None
    ) -> Iterator[tuple[tuple[str, ...], list[Path]]]:
        """The files saved or deleted, batch by batch, as shown; with every path the watcher
        reported, for the build. An editor's temporary file (made and gone within one batch)
        is not shown, and a batch of nothing else rebuilds nothing."""
        folders = [p for p in (self.options.content, self.options.templates) if p.is_dir()]
        seen = _Seen(self.options.content)
        for changes in watchfiles.watch(*folders, watch_filter=seen, stop_event=stop, debounce=400):
            added = {path for change, path in changes if change is watchfiles.Change.added}
            paths = {Path(path) for _, path in changes}
            saved = [p for p in paths if p.exists() or str(p) not in added]
            if saved:
                # All: a file listed before may have been deleted, made again and deleted.
                yield tuple(sorted(_shown(p) for p in saved)), sorted(paths)

    def _roots(self) -> tuple[Path, ...]:
        """Folders a diagnostic's path may be relative to (content's and templates' parent)."""
        return (self.options.content.resolve().parent, self.options.templates.resolve().parent)


class _Seen(watchfiles.DefaultFilter):
    """The changes the watcher reports: in the content folder, every file the build may
    read (all but hidden ones), for the build trusts the watcher to name every file saved
    there (watchfiles' default filter leaves out names such as 'flycheck_x.yaml' or folders
    such as 'node_modules/', which are content all the same); elsewhere (the templates), all
    but the default filter's editor and tool files."""

    def __init__(self, content: Path) -> None:
        super().__init__()
        self.content = os.path.join(os.path.abspath(content), "")

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        file = os.path.abspath(path)
        if file.startswith(self.content):
            return not hidden(file[len(self.content) :].replace(os.sep, "/"))
        return bool(super().__call__(change, path))


def _shown(path: Path) -> str:
    with suppress(ValueError):
        return path.relative_to(Path.cwd()).as_posix()
    return path.as_posix()


def _problem(diagnostic: Diagnostic, roots: tuple[Path, ...]) -> Problem:
    where = diagnostic.location
    return Problem(
        where.path,
        where.line,
        where.column,
        diagnostic.code,
        diagnostic.message,
        diagnostic.format(),
        _context(where.path, where.line, roots),
    )


def _context(path: str, line: int, roots: tuple[Path, ...]) -> tuple[tuple[int, str], ...]:
    """The offending line with CONTEXT_LINES on either side, when the file can be read."""
    for root in roots:
        file = (root / path).resolve()
        if not file.is_relative_to(root) or not file.is_file():
            continue
        try:
            with file.open(encoding="utf-8-sig", errors="replace") as handle:
                lines = handle.read(4 * 1024 * 1024).splitlines()
        except OSError:
            return ()
        first = max(1, line - CONTEXT_LINES)
        last = min(len(lines), line + CONTEXT_LINES)
        return tuple((number, lines[number - 1]) for number in range(first, last + 1))
    return ()


def inject(html: bytes, build_id: str) -> bytes:
    """The page with the reload script before `</head>` (or at the end)."""
    tag = f'<script src="{PREFIX}reload.js" data-build="{build_id}" defer></script>'.encode()
    at = html.lower().find(b"</head>")
    if at < 0:
        return html + tag
    return html[:at] + tag + html[at:]


_NOTHING_BUILT = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Not built yet</title></head>
<body><h1>Nothing here yet</h1><p>The site has not been built: see the errors.</p></body>
</html>
"""


class _HTTPServer(ThreadingHTTPServer):
    def __init__(
        self, address: tuple[str, int], handler: Callable[..., Any], board: _Board
    ) -> None:
        self.board = board
        super().__init__(address, handler)


class _Handler(SimpleHTTPRequestHandler):
    """Files from the output folder; HTML gets the reload script; PREFIX is the server's own."""

    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal is for build results."""

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", POLICY)
        super().end_headers()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(PREFIX):
            self._own(path.removeprefix(PREFIX))
            return
        file = Path(self.translate_path(self.path))
        if file.is_dir() and path.endswith("/"):
            file = file / "index.html"
        if file.suffix == ".html" or not file.exists():
            self._page(file)
        else:
            super().do_GET()

    def _page(self, file: Path) -> None:
        try:
            self._send_html(HTTPStatus.OK, file.read_bytes())
        except OSError:
            try:
                body = (Path(self.directory) / "404.html").read_bytes()
            except OSError:
                body = _NOTHING_BUILT
            self._send_html(HTTPStatus.NOT_FOUND, body)

    def _send_html(self, status: HTTPStatus, body: bytes) -> None:
        self._send(
            status, "text/html; charset=utf-8", inject(body, self.server.board.current().build)
        )

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _own(self, name: str) -> None:
        if name == "reload.js":
            self._send(HTTPStatus.OK, "text/javascript; charset=utf-8", RELOAD_SCRIPT.read_bytes())
        elif name == "status":
            status = self.server.board.current()
            self._send(HTTPStatus.OK, "application/json", status.to_json().encode())
        elif name == "events":
            self._events()
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def _events(self) -> None:
        """Server-sent events: the status now, then after every build; pings keep it open."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        board = self.server.board
        seen = -1
        with suppress(OSError):  # the browser went away
            status: Status | None = board.current()
            while status is not None:
                if status.generation != seen:
                    seen = status.generation
                    self.wfile.write(f"data: {status.to_json()}\n\n".encode())
                else:
                    self.wfile.write(b": ping\n\n")
                self.wfile.flush()
                status = board.wait(seen, KEEPALIVE_SECONDS)
