"""A served site and Debian's Chromium under Playwright, shared by the browser tests and
scripts/screenshots.py.

`serve(folder)` serves a built site on 127.0.0.1 (a free port), under a strict
Content-Security-Policy, for the length of a `with` block; `launch(playwright)` starts the
system browser with the flags this machine needs (never `playwright install`: it downloads
browsers, which cannot work here).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("FACTSHEET_CHROMIUM", "/usr/bin/chromium"))
# As root, and without Chromium reaching for hosts it cannot reach (TESTING.md).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


# The strict policy SPEC §3 says the site must work under: no inline script or style at all.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """The base URL ('http://127.0.0.1:PORT/') of `folder`, served until the block ends."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)


def page_errors(page: Any) -> list[str]:
    """A list that fills with the page's script errors and Content-Security-Policy violations."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return errors
