"""Parallel builds (--jobs): forked workers give the same site and diagnostics as one process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from test_determinism import FULL, tree

from generator import cache, cli, parse, workers
from generator.cache import Memo
from generator.pipeline import Options, build, load
from generator.reading import Document
from generator.render import TEMPLATES
from generator.workers import even_slices, run_all, slices

INVALID = Path(__file__).parent / "fixtures" / "invalid"


@pytest.mark.parametrize(("count", "parts"), [(0, 4), (1, 4), (5, 2), (10, 4), (3, 8)])
def test_slices_cover_every_item_once_in_order(count: int, parts: int) -> None:
    bounds = slices(count, parts)
    assert [i for a, b in bounds for i in range(a, b)] == list(range(count))
    assert len(bounds) <= max(1, parts) + 1


def test_the_first_item_is_a_slice_of_its_own_the_others_in_parts() -> None:
    """(The makers of a site begin with the search index: its memo goes back to the parent
    without a slice of pages' traces, see `workers.slices`.)"""
    assert slices(10, 4) == [(0, 1), (1, 3), (3, 5), (5, 7), (7, 10)]
    assert slices(3, 8) == [(0, 1), (1, 2), (2, 3)]
    assert slices(2, 1) == [(0, 1), (1, 2)]
    assert slices(1, 4) == [(0, 1)]
    assert slices(0, 4) == []


def test_run_all_keeps_the_order_of_tasks() -> None:
    tasks = [lambda n=n: n * n for n in range(9)]
    assert run_all(tasks, 3) == run_all(tasks, 1) == [n * n for n in range(9)]


def _wait_for(path: Path) -> bool:
    """Whether `path` comes to exist within 20 s (a task run by a worker)."""
    for _ in range(200):
        if path.exists():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not workers.can_fork(), reason="the workers are forked")
def test_results_from_workers_are_taken_as_they_come(tmp_path: Path) -> None:
    """`arrived` is applied to the first result while the second task still runs (that
    task waits for what it does), to each result from a worker, and in the order of tasks."""
    signal = tmp_path / "first arrived"
    tasks = [lambda: "first", partial(_wait_for, signal)]
    seen: list[object] = []

    def arrived(result: object) -> object:
        seen.append(result)
        signal.touch()
        return ("taken", result)

    assert run_all(tasks, 2, arrived) == [("taken", "first"), ("taken", True)]
    assert seen == ["first", True]
    # Run here (one process): kept as they are.
    assert run_all([lambda: 1, lambda: 2], 1, arrived) == [1, 2]
    assert seen == ["first", True]


def test_two_processes_build_the_same_site_as_one(tmp_path: Path) -> None:
    sites = {}
    for jobs in (1, 2):
        out = tmp_path / f"site-{jobs}"
        result = build(Options(content=FULL, out=out, jobs=jobs))
        assert result.written, [d.format() for d in result.diagnostics]
        sites[jobs] = tree(out)
    assert sorted(sites[1]) == sorted(sites[2])
    assert [name for name in sites[1] if sites[1][name] != sites[2][name]] == []


def test_two_processes_leave_the_same_record_of_what_pages_read_as_one(
    tmp_path: Path,
) -> None:
    """The traces, their table of keys and the values seen (packed as the workers' slices
    come, with the values they worked out: see `rebuild.Table`) are those one process
    leaves, the table in the same order."""
    kept = []
    for jobs in (1, 2):
        memos: dict[str, Memo] = {}
        assert build(Options(content=FULL, out=tmp_path / f"site-{jobs}", jobs=jobs), memos=memos)
        new = memos["deps"].new
        traces = {name: (t.keys, t.names, dict(t.memo)) for name, t in new["traces"].items()}
        kept.append((traces, new["keys"], new["seen"].as_dict()))
    assert kept[0] == kept[1]
    traces, keys, seen = kept[1]
    assert len(keys) > 200 and set(keys) == set(seen)


def test_two_processes_find_the_same_problems_as_one() -> None:
    folders = sorted(p / "content" for p in INVALID.iterdir() if (p / "content").is_dir())
    assert folders
    for content in folders:
        one = load(Options(content=content, jobs=1))[2]
        assert load(Options(content=content, jobs=3))[2] == one, content


def test_a_template_error_in_a_worker_is_reported_as_in_one_process(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    record = templates / "record.html"
    broken = record.read_text("utf-8").replace(
        "{% block main %}", "{% block main %}{{ page.no_such_field }}", 1
    )
    record.write_text(broken, "utf-8")
    problems = {}
    for jobs in (1, 2):
        out = tmp_path / f"site-{jobs}"
        result = build(Options(content=FULL, out=out, templates=templates, jobs=jobs))
        assert not result.written and not out.exists()
        problems[jobs] = [d.format() for d in result.diagnostics if d.code == "E0602"]
    assert problems[1] and problems[1] == problems[2]


def test_free_memory_is_given_back_before_the_build_cache_is_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site made, what making it left free is given back to the system before the
    cache is pickled (whose pickler's table would otherwise take new pages on top), and
    the cache is saved as ever: the next build has nothing to do."""
    calls: list[str] = []
    give_back, save = workers.give_back, cache.save

    def giving_back() -> None:
        calls.append("give back")
        give_back()

    def saving(*args: Any, **kwargs: Any) -> None:
        calls.append("save")
        save(*args, **kwargs)

    monkeypatch.setattr(workers, "give_back", giving_back)
    monkeypatch.setattr(cache, "save", saving)
    options = Options(content=FULL, out=tmp_path / "site", cache=tmp_path / "cache", jobs=1)
    assert build(options, once=True).written
    assert calls[-2:] == ["give back", "save"]
    assert build(options).unchanged


@pytest.mark.skipif(not workers.can_fork(), reason="the workers are forked")
def test_free_memory_is_given_back_when_a_pools_results_are_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before the workers fork (they would count it as theirs), and once their results are
    all taken here (each came pickled): the memory left free is given back."""
    calls: list[str] = []
    give_back = workers.give_back

    def giving_back() -> None:
        calls.append("give back")
        give_back()

    monkeypatch.setattr(workers, "give_back", giving_back)
    assert run_all([lambda n=n: n for n in range(4)], 2) == [0, 1, 2, 3]
    assert calls == ["give back", "give back"]


def test_jobs_must_be_a_positive_number(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", "--jobs", "0"]) == 2
    assert "not a number of processes" in capsys.readouterr().err


def test_even_slices_hold_about_the_same_cost_in_order() -> None:
    costs = [1] * 30 + [30] * 4
    bounds = even_slices(costs, 4)
    assert [i for a, b in bounds for i in range(a, b)] == list(range(len(costs)))
    # Each costly item is the cost of thirty cheap ones: the cheap ones share one slice.
    assert [b - a for a, b in bounds] == [31, 1, 1, 1]
    assert even_slices(iter([5, 5]), 4) == [(0, 1), (1, 2)]
    assert even_slices([], 4) == []


def test_parse_slices_hold_about_the_same_text_not_the_same_number_of_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fact files come kind by kind, stories last: equal numbers of files would give one
    # worker every story.
    site = Document("content/site.yaml", "site", "site", "title: Test\n")
    facts = [
        Document(f"content/actors/a{i}.yaml", "actors", f"a{i}", f"name: A {i}\ntype: state\n")
        for i in range(30)
    ]
    body = "Words and more words.\n\n" * 4000
    stories = [
        Document(f"content/stories/s{i}.md", "stories", f"s{i}", f"---\n{STORY}---\n{body}")
        for i in range(4)
    ]
    bounds: list[tuple[int, int]] = []

    def run_all(tasks: list[partial[Any]], jobs: int) -> list[Any]:
        bounds.extend(task.args for task in tasks)
        return workers.run_all(tasks, jobs)

    monkeypatch.setattr(parse, "run_all", run_all)
    corpus, diagnostics = parse.parse_documents([site, *facts, *stories], jobs=1)
    assert diagnostics == []
    assert corpus is not None and len(corpus.records) == 34
    assert [b - a for a, b in bounds] == [31, 1, 1, 1]


STORY = "title: A story\ndate: 2022-01-01\n"


_INTERRUPTED = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal's shell leaves it
from generator import workers

def ctrl_c():  # Ctrl-C, as a terminal sends it: to every process of the group
    os.killpg(0, signal.SIGINT)
    time.sleep(30)

def busy():
    time.sleep(30)

try:
    workers.run_all([ctrl_c, busy], 2)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


@pytest.mark.skipif(not workers.can_fork(), reason="the workers are forked")
def test_ctrl_c_while_workers_run_ends_the_build_without_a_traceback() -> None:
    """The workers leave Ctrl-C to the process that forked them: it stops them and says it
    was interrupted (before, each worker printed a traceback and the build hung)."""
    done = _script(_INTERRUPTED)
    assert (done.returncode, done.stderr) == (130, "interrupted\n")


def _script(code: str) -> subprocess.CompletedProcess[str]:
    """The Python `code` run in a process group of its own (its Ctrl-C reaches only it)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=25,
        start_new_session=True,
    )


_KILLED = """
import os, signal, sys
from generator import cli, plan
parent = os.getpid()
render_page = plan.render_page

def killed(*args, **kwargs):  # a worker killed as the system kills one out of memory
    if os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return render_page(*args, **kwargs)

plan.render_page = killed
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.skipif(not workers.can_fork(), reason="the workers are forked")
def test_a_worker_killed_stops_the_build_and_leaves_the_site_as_it_was(tmp_path: Path) -> None:
    """Before, the pool lost the killed worker's task and the build waited for ever."""
    content = tmp_path / "content"
    shutil.copytree(FULL, content)
    out, cache = tmp_path / "site", tmp_path / "cache"
    assert build(Options(content=content, out=out, cache=cache, jobs=1)).written
    before, beside = tree(out), sorted(p.name for p in tmp_path.iterdir())
    (content / "stories" / "added.md").write_text(f"---\n{STORY}---\nA new story.\n", "utf-8")
    # (without the cache: every page made again, on two processes)
    args = ["build", "--content", str(content), "--out", str(out), "--no-cache", "--jobs", "2"]
    done = subprocess.run(
        [sys.executable, "-c", _KILLED, *args],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (cli.STOPPED, "")
    assert done.stderr == (
        "factsheet: a worker process was killed before it finished (by the system, if memory "
        "ran out: try fewer --jobs); the output folder was left as it was\n"
    )
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == beside
    # The cache was left as the last build wrote it: the next build takes it and finishes.
    again = build(Options(content=content, out=out, cache=cache, jobs=2))
    assert again.written and "stories/added/index.html" in tree(out)


def test_run_all_ends_every_worker_when_one_is_killed() -> None:
    """The other workers are ended at once, not left running their tasks (a sleep here)."""
    done = _script(_LOST)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "lost\n"


_LOST = """
import os, signal, time
from generator import workers

def killed():
    os.kill(os.getpid(), signal.SIGKILL)

def busy():
    time.sleep(60)

try:
    workers.run_all([busy, killed, busy], 3)
except workers.WorkerLost:
    print("lost")
"""


_ORPHANED = """
import os, time
from generator import workers

def busy():
    os.write(1, b"%d\\n" % os.getpid())  # (one write: the two workers' lines never mix)
    time.sleep(60)

workers.run_all([busy, busy], 2)
"""

# The same, with the two run by `workers.aside` while this process waits.
_ORPHANED_ASIDE = _ORPHANED.replace(
    "workers.run_all([busy, busy], 2)", "workers.aside(busy), workers.aside(busy)\ntime.sleep(60)"
)


# The process that `rebuild.Look` forks, waiting for the keys that changed.
_ORPHANED_LOOK = """
import os, sys, time
from pathlib import Path
from generator import rebuild

look = rebuild.Look({}, Path(sys.argv[1]))
look.unwritten()  # (sent first: it now waits for the keys)
os.write(1, b"%d\\n%d\\n" % (look._process.pid, look._process.pid))
time.sleep(60)
"""


def _running(pid: int) -> bool:
    """Whether the process is there and not a zombie (ended, not yet reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="PR_SET_PDEATHSIG: Linux")
@pytest.mark.parametrize("script", [_ORPHANED, _ORPHANED_LOOK, _ORPHANED_ASIDE])
def test_workers_end_with_a_build_that_is_killed(script: str, tmp_path: Path) -> None:
    """A build killed (kill -9, or by the system out of memory) leaves no worker behind,
    waiting for tasks for ever with its memory: nor the process that looks at the site's
    files while the cache loads (`rebuild.Look`)."""
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        assert process.stdout is not None
        pids = [int(process.stdout.readline()) for _ in range(2)]
        assert all(map(_running, pids))
        process.kill()
    deadline = time.monotonic() + 20
    while any(map(_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_running, pids))


def test_a_task_aside_runs_in_a_process_of_its_own(tmp_path: Path) -> None:
    """`workers.aside`: the task runs in a forked process while this one goes on; waiting
    tells whether it ran to its end; a stopped one does not finish."""
    done = tmp_path / "done"

    def write_pid() -> None:
        done.write_text(str(os.getpid()))

    def fail() -> None:
        raise ValueError("a task that fails")

    def slow() -> None:
        time.sleep(30)
        done.write_text("too late")

    aside = workers.aside(write_pid)
    assert aside is not None and aside.wait() and aside.wait()
    assert int(done.read_text()) == aside.pid != os.getpid()
    failing = workers.aside(fail)
    assert failing is not None and not failing.wait()
    done.unlink()
    stopped = workers.aside(slow)
    assert stopped is not None
    started = time.monotonic()
    stopped.stop()
    assert not stopped.wait() and not done.exists() and time.monotonic() - started < 10


_DETACHED = """
import os, socket, sys, time
from pathlib import Path
from generator import workers

report = Path(sys.argv[1])
kept = socket.socket()  # (a socket and a pipe this process holds, as serve holds its own)
reading, writing = os.pipe()
kept_file = open(sys.argv[1] + ".file", "w")  # (a file, which the process keeps open)

def target(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # (the one listdir read the folder by, closed since)
        return "gone"

def task():
    fds = {int(fd): target(fd) for fd in os.listdir("/proc/self/fd")}
    lines = [f"{fd} {target}" for fd, target in sorted(fds.items())]
    lines += [f"session {os.getsid(0)}", f"parent {os.getppid()}", f"nice {os.nice(0)}"]
    time.sleep(1)  # (while the caller has ended)
    report.write_text("\\n".join(lines))

print(workers.detached(task), os.getpid(), os.getsid(0), kept_file.fileno(), flush=True)
"""


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_a_detached_task_runs_apart_from_the_process_that_started_it(tmp_path: Path) -> None:
    """`workers.detached`: the task runs after the caller has ended, in a session of its own
    at the lowest priority, not its child, its streams /dev/null, holding no pipe or socket
    of the caller's (a reader of the caller's output does not wait for it), but its files."""
    report = tmp_path / "report"
    command = [sys.executable, "-c", _DETACHED, str(report)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    started, caller, session, kept = done.stdout.split()
    assert started == "True" and done.stderr == ""
    deadline = time.monotonic() + 20
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = report.read_text().splitlines()
    fds = dict(line.split(" ", 1) for line in lines if line[0].isdigit())
    facts = dict(line.split(" ", 1) for line in lines if not line[0].isdigit())
    assert [fds[fd] for fd in ("0", "1", "2")] == [os.devnull] * 3
    assert not [t for t in fds.values() if t.startswith(("pipe:", "socket:"))], fds
    assert fds[kept] == f"{report}.file"
    assert facts["session"] not in (session, caller) and facts["parent"] != caller
    assert facts["nice"] == "19"
