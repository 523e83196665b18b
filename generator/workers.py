"""Fan work out to forked processes: a list of tasks run on up to N processes, results in order.

Input: argument-free functions (closures over the corpus, the views...). Fork hands every
worker the tasks and everything they read, so only a task's index and its result cross a
pipe. Without fork, or with one process, the tasks run here, one after the other. A worker
that dies (killed by the system when memory runs out) ends the run with `WorkerLost`.
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import gc
import itertools
import multiprocessing
import os
import signal
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

Result = TypeVar("Result")

# The tasks of the pool being run: set just before the pool forks, read by _run.
_tasks: Sequence[Callable[[], Any]] = ()


class WorkerLost(Exception):
    """A worker process ended without giving its result (killed: most often by the system,
    when memory ran out). The run stops here; its other workers are ended."""


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def slices(count: int, parts: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) bounds that cover range(count): the first item in a slice of
    its own, the others in at most `parts` slices.

    The first is alone for the makers of a site, which begin with the one that needs the
    most memory (the search index: see `plan.makers`): a worker gives back a slice's results
    when all are made, and the index's memo (each record's entry: 89 MiB at 10,000 stories)
    would go back pickled with a slice's pages' traces, when the pages have grown the
    worker's caches (the peak memory of a cold build). Alone, it goes back before the
    worker renders any page, and the memory it took is taken again by them.
    """
    if count <= 1:
        return [(0, count)] if count else []
    parts = max(1, min(count - 1, parts))
    edges = [1 + (count - 1) * i // parts for i in range(parts + 1)]
    return [(0, 1), *((a, b) for a, b in itertools.pairwise(edges) if a < b)]


def even_slices(costs: Iterable[int], parts: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) bounds that cover the items, whose costs are given in turn,
    in at most `parts` slices of about the same cost. The pool hands the slices out in
    order: slices of equal length, where the costly items come together (story bodies come
    last), would leave one worker the last of them while the other waits."""
    ends = list(itertools.accumulate(costs))
    if not ends:
        return []
    total = ends[-1]
    cuts = [bisect.bisect_left(ends, total * i / parts) + 1 for i in range(1, parts)]
    edges = [0, *cuts, len(ends)]
    return [(a, b) for a, b in itertools.pairwise(edges) if a < b]


def run_all(
    tasks: Sequence[Callable[[], Result]],
    jobs: int,
    arrived: Callable[[Result], Result] | None = None,
) -> list[Result]:
    """Every task's result, in the order of tasks, computed on up to `jobs` processes.

    `arrived`, if given, is applied in this process to each result that came from another
    (unpickled: made of objects of its own), as it comes and before the next one is taken,
    and what it gives is kept in its place: e.g. to make the result share this process's
    objects (interned str), so that the copies are freed slice by slice, not held until
    every task is done. Results of tasks run here are kept as they are.

    Everything this process holds when the pool forks, and the results, are exempted from
    the cyclic garbage collector (`gc.freeze`) and stay so: `pipeline.build` gives them back
    when the build ends.
    """
    if jobs <= 1 or len(tasks) <= 1 or not can_fork():
        return [task() for task in tasks]
    global _tasks
    _tasks = tasks
    enabled = gc.isenabled()
    # A worker's collector would otherwise walk every object it inherits, and copy the
    # memory pages it touches. Here, the results are unpickled by the hundred thousand
    # while they arrive: a collection every few hundred of them would walk them all, again
    # and again (two thirds of the time the parse stage's results took to load), and the
    # first collection after them once more.
    gc.disable()
    gc.freeze()
    give_back()
    context = multiprocessing.get_context("fork")
    # (not multiprocessing's Pool: a worker killed there loses its task, and the run waits
    # for its result for ever)
    pool = ProcessPoolExecutor(min(jobs, len(tasks)), context, _start, (enabled, os.getpid()))
    done = False
    try:
        with forking():  # (the pool forks its workers when the tasks are handed out)
            results = pool.map(_run, range(len(tasks)))
        found = list(results) if arrived is None else [arrived(result) for result in results]
        done = True
        return found
    except BrokenProcessPool:
        raise WorkerLost(
            "a worker process was killed before it finished (by the system, if memory ran "
            "out: try fewer --jobs)"
        ) from None
    finally:
        _stop(pool, done)
        _tasks = ()
        gc.freeze()
        if enabled:
            gc.enable()
        # What taking the results left free (each came pickled, and was unpickled here),
        # given back before this process goes on to use more (see `give_back`).
        give_back()


def _stop(pool: ProcessPoolExecutor, done: bool) -> None:
    """The pool's workers ended: when every task is done, as they finish; else (interrupted,
    a task failed or a worker was lost) at once, not after the tasks they are running."""
    if not done:
        for process in list((pool._processes or {}).values()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def give_back() -> None:
    """Give the system back the free memory the C allocator holds (glibc's `malloc_trim`,
    where there is one), which it keeps for later and counts in this process's memory.

    A forked worker counts every page of this process as its own (its peak memory is this
    process's, and more): the texts read, freed once parsed, and what pickling the build
    cache's early memos left free (see `cache.begin`) would count again in each worker
    (some 30 to 50 MiB at 10,000 stories). And what this process does next may take new
    pages rather than those: pickling the build cache after the site is made (its
    pickler's table of every object) would add to what the makers' results left free
    (the peak of a cold build at 10,000 stories, in this process: 1,424 MiB).
    """
    global _trim
    if _trim is None:
        _trim = False
        with contextlib.suppress(OSError, AttributeError, TypeError):
            _trim = ctypes.CDLL(None).malloc_trim
    if _trim:
        _trim(0)


def in_worker() -> bool:
    """Whether this process is a worker of a pool (forked by `run_all`): what it keeps for
    a later build in the process ends with it, unused."""
    return _in_worker


# Whether this process is a pool's worker (set when it starts).
_in_worker = False

# glibc's malloc_trim once looked for (False: there is none), or None.
_trim: Any = None


def _start(collect: bool, parent: int) -> None:
    """In a new worker: collect garbage if the parent did (before the pool was made), leave
    Ctrl-C to the parent (see `quiet`), and end with the parent (see `end_with`)."""
    global _in_worker
    _in_worker = True
    quiet()
    end_with(parent)
    if collect:
        gc.enable()


def end_with(parent: int) -> None:
    """Have the system kill this process, forked from `parent`, when its parent ends
    (Linux's PR_SET_PDEATHSIG, where there is one): a build killed (`kill -9`, or by the
    system out of memory) would otherwise leave its workers waiting for tasks for ever,
    each holding its memory."""
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # (it ended before it was asked)
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def quiet() -> None:
    """Leave Ctrl-C to the parent, in a process forked under `forking`: a terminal sends it
    to every process of the group, and a worker that took it would print a traceback and
    leave the parent waiting for its result for ever. The parent, interrupted, ends its
    workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextlib.contextmanager
def forking() -> Iterator[None]:
    """Ctrl-C held back while processes are forked (they are born with it blocked, until
    `quiet` ignores it), then taken here, where it comes, if it came meanwhile."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _run(index: int) -> Any:
    return _tasks[index]()


class Aside:
    """A task running in a process forked by `aside`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.ended: bool | None = None  # (once waited for: whether it ran to its end)

    def wait(self) -> bool:
        """Whether the task ran to its end, once it has ended."""
        if self.ended is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self.ended = os.waitstatus_to_exitcode(status) == 0
            except ChildProcessError:
                self.ended = False
        return self.ended

    def stop(self) -> None:
        """End the task where it is, if it has not ended."""
        if self.ended is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait()


def detached(task: Callable[[], object]) -> bool:
    """Run `task` in a process that outlives this one, which does not wait for it: whether
    it was started (False, and not run, without fork).

    Forked twice (the first child ends at once, so that this process, a `serve` that runs
    for hours, is left no child to wait for), in a session of its own (Ctrl-C at the
    terminal does not reach it), its standard streams /dev/null (whoever reads this
    process's output to its end, a terminal's pipe or a test, does not wait for it). It
    says nothing, and runs at the lowest priority: what it does only saves time later (it
    gives way to the next build), and it may fail unseen."""
    if not can_fork():
        return False
    with forking():
        pid = os.fork()
    if pid:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        return True
    try:  # (in the new processes: never back to the caller)
        os.setsid()
        if os.fork():
            os._exit(0)
        gc.disable()  # (what it inherits is never garbage; see `run_all`)
        quiet()
        with contextlib.suppress(OSError):
            os.nice(19)
        nothing = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):
            os.dup2(nothing, stream)
        _close_pipes()
        task()
    finally:
        os._exit(0)


def _close_pipes() -> None:
    """Close every pipe and socket this process holds: a process that waits for the end of
    one (the output of a test runner that saved its own) would wait for this one too. Files
    stay open (a lock held by one, a base read through another)."""
    with contextlib.suppress(OSError):
        for name in os.listdir("/dev/fd"):
            with contextlib.suppress(OSError, ValueError):
                mode = os.fstat(int(name)).st_mode
                if int(name) > 2 and (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
                    os.close(int(name))


def aside(task: Callable[[], object]) -> Aside | None:
    """Run `task` in a forked process while this one goes on (None, and not run, without
    fork): a process of its own, which ends with this one, as a pool's worker does, and
    gives back no result but whether it ran to its end (see `Aside.wait`)."""
    if not can_fork():
        return None
    parent = os.getpid()
    with forking():
        pid = os.fork()
    if pid:
        return Aside(pid)
    code = 1
    try:  # (in the new process: never back to the caller)
        gc.disable()  # (what it inherits is never garbage; see `run_all`)
        quiet()
        end_with(parent)
        task()
        code = 0
    finally:
        os._exit(code)
