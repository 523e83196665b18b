"""Pictures of the example site for the README: a story, a fact sheet and the chronology.

Builds content/ into a temporary folder, serves it on 127.0.0.1, and has Debian's Chromium
(driven by Playwright, never `playwright install`; tests/browsing.py) take 1280 px wide
screenshots into docs/img/; pngquant and optipng shrink them where they are installed.
Run it with `make screenshots`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the browser tests' helpers: served site, Chromium

from browsing import launch, serve  # noqa: E402

from generator.pipeline import Options, build  # noqa: E402

OUT = ROOT / "docs" / "img"
# file name -> (page, color scheme, viewport height)
SHOTS = {
    "story.png": ("stories/baku-demands-halt-to-mining/index.html", "light", 1000),
    "fact-sheet.png": ("deposits/gyzylbulag/index.html", "light", 1000),
    "chronology.png": ("chronology/index.html", "dark", 900),
}


def shrink(png: Path) -> None:
    """Fewer colours and better compression, where the tools are installed."""
    if shutil.which("pngquant"):
        subprocess.run(
            ["pngquant", "--force", "--skip-if-larger", "--quality=70-95", "--output", png, png],
            check=False,
        )
    if shutil.which("optipng"):
        subprocess.run(["optipng", "-quiet", "-o2", png], check=False)


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        result = build(Options(content=ROOT / "content", out=site))
        if not result.written:
            for diagnostic in result.diagnostics:
                print(diagnostic.format(), file=sys.stderr)
            return 1
        OUT.mkdir(parents=True, exist_ok=True)
        with serve(site) as base, sync_playwright() as playwright:
            browser = launch(playwright)
            for name, (path, scheme, height) in SHOTS.items():
                context = browser.new_context(
                    viewport={"width": 1280, "height": height}, color_scheme=scheme
                )
                page = context.new_page()
                page.goto(base + path)
                page.screenshot(path=OUT / name)
                context.close()
                shrink(OUT / name)
                print(f"{OUT.relative_to(ROOT) / name}: {(OUT / name).stat().st_size} bytes")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
