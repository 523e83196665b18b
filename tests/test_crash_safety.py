"""Crash safety (SPEC §5): a build killed at any moment leaves the output folder as it was
(absent before the first build, the old site byte for byte after it, or the complete new
site once the swap is done), and the next build succeeds and removes what the killed one
left behind.

The command runs in a subprocess on a site of 1,500 records (a few seconds of work) and is
killed with SIGKILL after a growing part of its normal duration. The property must hold at
every moment, so the exact moments hit do not matter.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opendata import write_content

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 1500
Tree = dict[str, str] | None  # path -> digest of every file, or None: no folder at all

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def make_content(content: Path, title: str) -> Path:
    """A site of RECORDS records: sources, stories full of cross-links, actors, events."""
    files = {"site.yaml": f"title: {title}\n"}
    actors = (RECORDS - 40) // 2
    for n in range(20):
        files[f"sources/source-{n}.yaml"] = f"name: Source {n}\nurl: https://example.org/{n}\n"
        files[f"stories/story-{n}.md"] = (
            f"---\ntitle: Story {n}\ndate: 2022-12-{n + 1:02d}\nsources: [source-{n}]\n---\n"
            + "".join(
                f"[[actor-{(40 * n + k) % actors}]] met [[actor-{(40 * n + k + 1) % actors}]].\n\n"
                for k in range(40)
            )
        )
    for n in range(actors):
        files[f"actors/actor-{n}.yaml"] = (
            f"name: Actor {n}\ntype: person\nsummary: Actor *{n}*.\nsources: [source-{n % 20}]\n"
        )
    for n in range(RECORDS - 40 - actors):
        files[f"events/event-{n}.yaml"] = (
            f"name: Event {n}\ndate: 2022-{n % 12 + 1:02d}-{n % 28 + 1:02d}\n"
            f"actors: [actor-{n}]\nstories: [story-{n % 20}]\nsources: [source-{n % 20}]\n"
        )
    return write_content(content, files)


def state(out: Path) -> Tree:
    if not out.exists():
        return None
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def command(content: Path, out: Path) -> list[str]:
    build = ["build", "--content", str(content), "--out", str(out), "--quiet"]
    return [sys.executable, "-m", "generator.cli", *build]


def build(content: Path, out: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command(content, out), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return time.perf_counter() - start


def killed(content: Path, out: Path, after: float) -> Tree:
    """Start a build, SIGKILL it after `after` seconds; the output folder then."""
    process = subprocess.Popen(
        command(content, out), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(after)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return state(out)


def leftovers(folder: Path) -> list[str]:
    """What killed builds leave beside the output: their temporary and old trees."""
    prefixes = (".factsheet-tmp-", ".factsheet-old-")
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(prefixes))


def test_a_killed_build_leaves_the_site_intact(tmp_path: Path) -> None:
    content = make_content(tmp_path / "content", "First edition")
    out = tmp_path / "site"

    # Before the first build: no site, whenever the build dies.
    early = [killed(content, out, after) for after in (0.5, 1.5)]
    seconds = build(content, out)
    first = state(out)
    assert first is not None and leftovers(tmp_path) == []
    assert all(seen in (None, first) for seen in early)

    # With a site in place, and a new edition of every page to write.
    (content / "site.yaml").write_text("title: Second edition\n")
    later = [killed(content, out, part * seconds) for part in (0.25, 0.65, 0.88, 0.97)]
    # The first build's time only guides the moments: on a machine whose load changed,
    # every one of them may come after the swap. Then kill sooner, until one comes before.
    sooner = 0.25 * seconds
    while first not in later and sooner > 0.05:
        sooner /= 2
        later.append(killed(content, out, sooner))
    build(content, out)
    second = state(out)
    assert second is not None and second != first and leftovers(tmp_path) == []
    assert [seen in (first, second) for seen in later] == [True] * len(later)
    assert first in later  # one build at least was killed before its swap
