"""Benchmark: a deterministic synthetic corpus written to the SPEC, then timed builds.

    python scripts/bench.py --stories 1000 [--runs 3] [--keep DIR]   (or: make bench N=1000)

N stories of 600-900 words (headings, lists, a table, cross-links) and about 5N fact records
of every kind, cross-referenced, with dated events tied to stories, written in the shapes
editors write (block scalars, comments, emphasis, numbered lists, web links: see
`write_corpus`). Prints a table of medians:
cold build, no-change rebuild, rebuild after editing one story, one actor, one template;
pages per second and peak memory (RSS) of the build processes. The template edit appends an
HTML comment to templates/story.html and restores the file afterwards, even on failure.
"serve: one story saved" times the rebuild `factsheet serve` runs after a save (same
process, the last build's work in memory), from save to updated site/. The edits are timed
after an untimed first edit, as an editor's saves are: the first save after a cold build
also stages a whole new tree (and leaves the spare site that later saves update).

The last two rows are the reference (scripts/reference.py): the same content made into a page
per file by PyYAML, python-markdown and Jinja2 alone in a bare loop on all cores, the
stories' pages alone, then every file's. No generator in this stack makes its pages faster
than that loop; the cold build's row reads against it.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = [
    *("mining", "deposit", "ministry", "protest", "road", "note", "statement", "access"),
    *("peacekeepers", "agreement", "environment", "damage", "monitoring", "visit"),
    *("officials", "activists", "corridor", "border", "copper", "gold", "molybdenum"),
    *("licence", "concession", "survey", "report", "diplomats", "region", "town"),
]


def sentence(rng: random.Random, links: list[str], styled: bool = False) -> str:
    """8-16 words, perhaps a [[link]] (with a label, one time in three); `styled`, perhaps
    emphasis, strong emphasis, code or a link to a web address, as editors write them."""
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
    if styled:
        at, style = rng.randrange(1, len(words)), rng.random()
        if style < 0.15:
            words[at] = f"*{words[at]}*"
        elif style < 0.25:
            words[at] = f"**{words[at]} {words[at - 1]}**"
        elif style < 0.35:
            words[at] = f"[{words[at]}](https://example.org/report/{rng.randrange(1000)})"
        elif style < 0.38:
            words[at] = f"`{words[at]}`"
    if links and rng.random() < 0.5:
        target = rng.choice(links)
        link = f"[[{target}|{rng.choice(WORDS)}]]" if rng.random() < 1 / 3 else f"[[{target}]]"
        words.insert(rng.randint(1, len(words)), link)
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, links: list[str], sentences: int = 5) -> str:
    """Sentences wrapped at about 88 characters, as an editor's text is."""
    return _wrap(" ".join(sentence(rng, links, styled=True) for _ in range(sentences)))


def _wrap(text: str, indent: str = "", first: str | None = None) -> str:
    """The text wrapped at 88 characters, as an editor's text is (`first`: the first line's
    indent, if not `indent`)."""
    return textwrap.fill(
        text,
        88,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def write_corpus(content: Path, stories: int, seed: int = 7) -> None:
    """Write the corpus: about 5 fact records per story, every kind, cross-referenced.

    In the shapes real content has (see content/): summaries and descriptions as block
    scalars (`>-`, `|`) of inline Markdown with links, emphasis and web links; lists of
    mappings (roles, citations with a page, actors with a role); aliases; comments. Stories
    of 600-900 words: headings, paragraphs, numbered and bulleted lists whose items run
    over two lines, a table, a block quote, cross-links with and without labels.
    """
    rng = random.Random(seed)
    n = stories
    ids = {
        "actors": [f"actor-{i}" for i in range(n * 3 // 2)],
        "deposits": [f"deposit-{i}" for i in range(n // 4 + 1)],
        "places": [f"place-{i}" for i in range(n // 2 + 1)],
        "events": [f"event-{i}" for i in range(n * 2)],
        "notes": [f"note-{i}" for i in range(n // 4 + 1)],
        "quotes": [f"quote-{i}" for i in range(n // 2 + 1)],
        "sources": [f"source-{i}" for i in range(n // 4 + 1)],
    }
    story_ids = [f"story-{i}" for i in range(n)]
    for kind in (*ids, "stories"):
        (content / kind).mkdir(parents=True, exist_ok=True)
    (content / "site.yaml").write_text(
        "title: Benchmark archive\ndescription: A synthetic corpus for make bench.\n"
        "language: en\ntimezone: Asia/Baku\n",
        encoding="utf-8",
    )
    linkable = ids["actors"] + ids["deposits"] + ids["places"]

    def cite() -> str:
        if rng.random() < 0.5:
            return f"sources: [{rng.choice(ids['sources'])}]\n"
        return (
            f"sources:\n  - source: {rng.choice(ids['sources'])}\n"
            f'    page: "section: Section {rng.randint(1, 4)}"\n'
        )

    def summary() -> str:
        text = " ".join(sentence(rng, linkable, styled=True) for _ in range(rng.randint(1, 2)))
        return "summary: >-\n" + _wrap(text, indent="  ") + "\n"

    def described(share: float) -> str:
        """A description, for that share of the records: one or two paragraphs, at times
        with a list."""
        if rng.random() >= share:
            return ""
        parts = [paragraph(rng, linkable, rng.randint(2, 4))]
        if rng.random() < 0.3:
            parts.append(
                "\n".join(
                    _wrap(sentence(rng, linkable, styled=True), indent="  ", first="- ")
                    for _ in range(rng.randint(2, 3))
                )
            )
        if rng.random() < 0.5:
            parts.append(paragraph(rng, linkable, rng.randint(1, 3)))
        text = "\n\n".join(parts)
        return "description: |\n" + textwrap.indent(text, "  ") + "\n"

    def comment() -> str:
        if rng.random() < 0.2:
            day = f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
            return f"# Checked against {rng.choice(ids['sources'])} on {day}.\n"
        return ""

    def tags() -> str:
        if rng.random() < 0.4:
            return f"tags: [{rng.choice(WORDS)}, {rng.choice(WORDS)}]\n"
        return ""

    for i, actor in enumerate(ids["actors"]):
        kind = ("person", "organization", "state", "group")[i % 4]
        text = f"name: Actor {i}\ntype: {kind}\n{comment()}"
        if rng.random() < 0.3:
            text += f"aliases:\n  az: Aktor {i}\n  ru: Актор {i}\n"
        if kind == "person":
            text += f"roles:\n  - title: Minister\n    of: actor-{(i + 1) % len(ids['actors'])}\n"
        text += summary() + described(0.5) + cite() + tags()
        (content / "actors" / f"{actor}.yaml").write_text(text, encoding="utf-8")
    for i, place in enumerate(ids["places"]):
        lat, lon = 39 + rng.random() * 2, 45 + rng.random() * 2
        within = f"within: place-{i // 2}\n" if i else ""
        text = f"name: Place {i}\ntype: town\ncoordinates: [{lat:.4f}, {lon:.4f}]\n{within}"
        text += comment() + summary() + described(0.4) + cite()
        (content / "places" / f"{place}.yaml").write_text(text, "utf-8")
    for i, deposit in enumerate(ids["deposits"]):
        text = (
            f"name: Deposit {i}\nminerals: [gold, copper]\nplace: {rng.choice(ids['places'])}\n"
            f"aliases: {{az: Yataq {i}, ru: Месторождение {i}}}\n"
            f"controlled_by:\n  - actor: {rng.choice(ids['actors'])}\n    from: 2020-11\n"
        )
        text += comment() + summary() + described(0.6) + cite() + tags()
        (content / "deposits" / f"{deposit}.yaml").write_text(text, encoding="utf-8")
    for i, source in enumerate(ids["sources"]):
        text = (
            f'name: "Source {i}: a report"\npublisher: Wire service {i % 7}\n'
            f"url: https://example.org/{i}\npublished: 2022-{1 + i % 12:02d}-{1 + i % 28:02d}\n"
            "language: en\n"
        )
        text += summary() + described(0.3) + tags()
        (content / "sources" / f"{source}.yaml").write_text(text, encoding="utf-8")
    for i, event in enumerate(ids["events"]):
        story = story_ids[i // 2]
        first, second = rng.choice(ids["actors"]), rng.choice(ids["actors"])
        if rng.random() < 0.5:
            actors = f"actors: [{first}, {second}]\n"
        else:
            actors = (
                f"actors:\n  - actor: {first}\n    role: {rng.choice(WORDS)}\n"
                f"  - actor: {second}\n    role: {rng.choice(WORDS)} {rng.choice(WORDS)}\n"
            )
        text = (
            f"name: Event {i}\ndate: 2022-{1 + i % 12:02d}-{1 + i % 28:02d}\n{actors}"
            f"places: [{rng.choice(ids['places'])}]\ndeposits: [{rng.choice(ids['deposits'])}]\n"
            f"stories: [{story}]\n"
        )
        text += comment() + summary() + described(0.5) + cite() + tags()
        (content / "events" / f"{event}.yaml").write_text(text, encoding="utf-8")
    for i, note in enumerate(ids["notes"]):
        text = (
            f"name: Note {i}\ndate: 2022-{1 + i % 12:02d}\nfrom: {rng.choice(ids['actors'])}\n"
            f"to: {rng.choice(ids['actors'])}\nstories: [{rng.choice(story_ids)}]\n"
        )
        text += summary() + described(0.5) + cite()
        (content / "notes" / f"{note}.yaml").write_text(text, encoding="utf-8")
    for quote in ids["quotes"]:
        words = sentence(rng, []).replace('"', "")
        text = (
            f'by: {rng.choice(ids["actors"])}\ntext: "That’s why {words}"\n'
            f"said_at: {rng.choice(ids['events'])}\nstories: [{rng.choice(story_ids)}]\n"
        )
        text += comment() + summary() + cite()
        (content / "quotes" / f"{quote}.yaml").write_text(text, encoding="utf-8")
    for i, story in enumerate(story_ids):
        (content / "stories" / f"{story}.md").write_text(_story(rng, i, ids, linkable), "utf-8")


def _story(rng: random.Random, i: int, ids: dict[str, list[str]], linkable: list[str]) -> str:
    """A story of 600-900 words with the front matter an editor writes."""

    def items(count: int, numbered: bool) -> str:
        # Items of one or two sentences, those over the line's width wrapped under their text.
        lines = []
        for number in range(1, count + 1):
            marker = f"{number}. " if numbered else "- "
            text = " ".join(sentence(rng, linkable, styled=True) for _ in range(rng.randint(1, 2)))
            lines.append(_wrap(text, indent=" " * len(marker), first=marker))
        return "\n".join(lines)

    body = [paragraph(rng, linkable, rng.randint(4, 6))]
    body += ["## Section 1", paragraph(rng, linkable, rng.randint(6, 8))]
    body += [items(3, numbered=True), paragraph(rng, linkable, rng.randint(3, 5))]
    body += ["## Section 2", paragraph(rng, linkable, rng.randint(4, 6)), items(3, numbered=False)]
    body += [paragraph(rng, linkable, rng.randint(4, 6))]
    body += ["## Section 3", "| Deposit | Minerals | Controlled by |\n|---|---|---|"]
    body[-1] += "".join(
        f"\n| [[{rng.choice(ids['deposits'])}]] | gold, copper | [[{rng.choice(ids['actors'])}]] |"
        for _ in range(3)
    )
    body += [paragraph(rng, linkable, rng.randint(6, 8))]
    body += [_wrap(sentence(rng, [], styled=False), indent="> ")]
    body += ["## Section 4", paragraph(rng, linkable, rng.randint(6, 8))]
    body += ["### What comes next", paragraph(rng, linkable, rng.randint(6, 8))]
    summary = _wrap(sentence(rng, linkable, styled=True), indent="  ")
    front = (
        f"---\ntitle: Story {i}\ndate: 2022-{1 + i % 12:02d}-{1 + i % 28:02d}\n"
        f"dateline: BAKU\nsummary: >-\n{summary}\nauthors:\n  - Factsheet desk\n"
        f"sources:\n  - source: {rng.choice(ids['sources'])}\n"
        f'    page: "section: Section {rng.randint(1, 4)}"\n'
        f"tags: [{rng.choice(WORDS)}, {rng.choice(WORDS)}]\n"
        f"actors: [{rng.choice(ids['actors'])}, {rng.choice(ids['actors'])}]\n"
        f"places: [{rng.choice(ids['places'])}]\n---\n"
    )
    return front + "\n\n".join(body) + "\n"


def timed_build(content: Path, out: Path, extra: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one `factsheet build` process."""
    command = [sys.executable, "-m", "generator.cli", "build", "--quiet"]
    command += ["--content", str(content), "--out", str(out), *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


def served_rebuild(content: Path, out: Path, story: Path) -> float:
    """Seconds of the rebuild `factsheet serve` runs after a story is saved: the build in
    the same process, with what the last build parsed, rendered and read kept in memory,
    told which file was saved, as serve's watcher tells it. The median of the third to
    seventh saves (as an editor at work, with the spare site in place): one save's time
    varies more than the code's."""
    code = (
        "import statistics, sys, time\n"
        "from pathlib import Path\n"
        "from generator.cache import carry\n"
        "from generator.pipeline import Options, build\n"
        "options = Options(content=Path(sys.argv[1]), out=Path(sys.argv[2]), jobs=JOBS)\n"
        "result = build(options, memos=None)\n"
        "assert result.written\n"
        "memos = carry(result.memos, True)\n"
        "story = Path(sys.argv[3])\n"
        "times = []\n"
        "for save in range(7):  # the first saves set up the spare site; the others are timed\n"
        "    story.write_text(story.read_text('utf-8') + f'\\nSaved {save}.\\n', 'utf-8')\n"
        "    started = time.perf_counter()\n"
        "    result = build(options, memos=memos, changed=[story])  # as serve's watcher tells\n"
        "    times.append(time.perf_counter() - started)\n"
        "    assert result.written\n"
        "    memos = carry(result.memos, True)\n"
        "print(statistics.median(times[2:]))\n"
    ).replace("JOBS", str(os.cpu_count() or 1))
    command = [sys.executable, "-c", code, str(content), str(out), str(story)]
    done = subprocess.run(command, check=True, cwd=ROOT, capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def reference(content: Path, out: Path, stories_only: bool) -> tuple[int, float]:
    """The pages the reference loop made (see scripts/reference.py), and its seconds."""
    command = [sys.executable, str(ROOT / "scripts" / "reference.py"), str(content), str(out)]
    command += ["--stories"] if stories_only else []
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run(command, check=True, cwd=ROOT, capture_output=True, text=True)
    shutil.rmtree(out, ignore_errors=True)
    made, _, _, seconds, *_ = done.stdout.split()  # "N pages in S s on J processes"
    return int(made), float(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the corpus here and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="factsheet-bench-"))
    content, out = work / "content", work / "site"
    if not content.exists():
        write_corpus(content, args.stories)
    files = sum(1 for _ in content.rglob("*.*"))
    rows: dict[str, list[float]] = {"cold build": [], "no-change rebuild": []}
    rows["a file saved unchanged"] = []
    rows["one story edited"] = []
    rows["one actor edited"] = []
    rows["one template edited"] = []
    rows["serve: one story saved"] = []
    rows["reference: stories"] = []
    rows["reference: every file"] = []
    made: dict[str, int] = {}  # the reference rows' pages (see `reference`)
    peak = 0.0
    story, actor = content / "stories" / "story-0.md", content / "actors" / "actor-0.yaml"
    other = content / "stories" / "story-1.md"
    template = ROOT / "templates" / "story.html"
    original = template.read_bytes()
    try:
        for run in range(args.runs):
            shutil.rmtree(out, ignore_errors=True)
            cache = content.parent / ".factsheet-cache"
            shutil.rmtree(cache, ignore_errors=True)
            seconds, rss = timed_build(content, out, [])
            rows["cold build"].append(seconds)
            peak = max(peak, rss)
            rows["no-change rebuild"].append(timed_build(content, out, [])[0])
            # An untimed first edit: it leaves the spare site beside site/, as any editor's
            # first save after a cold build does; the edits timed below are the next ones.
            other.write_text(other.read_text("utf-8") + f"\nWarm-up {run}.\n", "utf-8")
            timed_build(content, out, [])
            actor.write_bytes(actor.read_bytes())  # a save without a change: all is read
            rows["a file saved unchanged"].append(timed_build(content, out, [])[0])
            story.write_text(story.read_text("utf-8") + f"\nEdit {run}.\n", "utf-8")
            rows["one story edited"].append(timed_build(content, out, [])[0])
            renamed = f"name: Actor 0 {run}"
            actor.write_text(actor.read_text("utf-8").replace("name: Actor 0", renamed), "utf-8")
            rows["one actor edited"].append(timed_build(content, out, [])[0])
            template.write_bytes(original + f"<!-- bench edit {run} -->\n".encode())
            rows["one template edited"].append(timed_build(content, out, [])[0])
            template.write_bytes(original)
            rows["serve: one story saved"].append(served_rebuild(content, work / "served", story))
            for name, alone in (("reference: stories", True), ("reference: every file", False)):
                made[name], seconds = reference(content, work / "reference", alone)
                rows[name].append(seconds)
    finally:
        template.write_bytes(original)
    pages = sum(1 for _ in out.rglob("*.html"))
    print(f"corpus: {args.stories} stories, {files} files; {pages} pages; {work}")
    print(f"{'measure':<22}{'median s':>10}{'pages/s':>10}   (of {args.runs} runs)")
    for name, values in rows.items():
        median = statistics.median(values)
        print(f"{name:<22}{median:>10.2f}{made.get(name, pages) / median:>10.0f}")
    print(f"peak memory (RSS)     {peak:>10.0f} MiB")
    print(f"reproduce: make bench N={args.stories} RUNS={args.runs}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
