"""Runs jobs on threads, at most ``size`` of them at once, in arrival order.

Jobs wait in one queue. A thread that takes a job from it keeps taking the
next one until the queue is empty (it *drains* the queue), so a burst of
short jobs (64 no-op calls read at once) runs without a hand-off between
threads per job: waking a thread and passing it the GIL costs more than a
short job itself.

A monitor thread looks every ``STALL_SECONDS`` while jobs run or wait.
When the job at the head of the queue has waited that long, it puts another
thread to work on the queue (while a slot is free), so a slow job does not
hold up the ones behind it, and jobs that wait on I/O for a few ms each
still run side by side. When the head has waited that long, or running jobs
have neither started nor ended since it last looked, it also calls
``on_stall`` (the server uses it to send held replies and to have input
read meanwhile). When nothing runs for a while, the monitor sleeps until
work comes again.

A job that waits on something outside the worker (an Elixir callback) gives
its slot back while it waits; ``on_stall`` is called and a thread is put to
work on the queue at once. Threads are started as needed, so nested
callbacks (Elixir → Python → Elixir → Python …) can never exhaust the pool
and deadlock; idle threads end after a while.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

Job = Callable[[], None]

IDLE_SECONDS = 30.0
# How long a queued job may wait, or running jobs go without one starting or
# ending, before the monitor steps in (Python's GIL switch interval is 5 ms).
STALL_SECONDS = 0.002
# The monitor sleeps after this long with nothing running or queued.
MONITOR_QUIET_SECONDS = 0.5


class Executor:
    """Runs queued jobs on threads, at most ``size`` of them at once."""

    def __init__(self, size: int, *, name: str = "pybridge") -> None:
        if size < 1:
            raise ValueError(f"size must be a positive integer, got: {size!r}")
        self.size = size
        self._name = name
        self._lock = threading.Lock()
        self._queue: deque[tuple[float, Job]] = deque()  # (time queued, job)
        self._progress = 0  # bumped when a queued job starts or ends: what the monitor watches
        # Called (on the monitor's thread or a waiting job's) when running jobs stall.
        self.on_stall: Callable[[], None] = lambda: None
        # Called by a thread that found the queue empty and stops draining it.
        self.on_idle: Callable[[], None] = lambda: None
        self._draining = 0  # threads taking jobs from the queue, or asked to
        self._starting = 0  # of those, pool threads asked that have no slot yet
        # Free running slots. A counter under one plain lock: threading.Semaphore
        # costs a Condition round trip per acquire and release.
        self._free = size
        self._slot_freed = threading.Condition(self._lock)
        self._slot_waiters = 0
        self._wakeups: queue.SimpleQueue[None] = queue.SimpleQueue()  # one per pool thread asked to drain
        self._idle = 0  # pool threads waiting for a wake-up that nobody has claimed
        self._threads = 0
        self._monitor = threading.Condition(self._lock)
        self._monitor_state = "none"  # "none" (not started), "watching" or "asleep"
        self._local = threading.local()

    @property
    def threads(self) -> int:
        """How many pool threads exist now."""
        return self._threads

    @property
    def queued(self) -> int:
        """How many jobs wait to start."""
        return len(self._queue)

    def submit(self, job: Job) -> None:
        """Run ``job()`` on a pool thread, after the jobs queued before it. Exceptions must be handled by the job."""
        with self._lock:
            self._queue.append((time.monotonic(), job))
            if not self._draining:
                self._add_drainer()
            self._watch()

    def enqueue(self, jobs: Iterable[Job]) -> bool:
        """Queue ``jobs``; True when the caller is to run them, with :meth:`drain`.

        That is when no other thread takes jobs from the queue and a slot is
        free (it is taken for the caller now, so jobs start in arrival order).
        Otherwise the threads at the queue take them.
        """
        now = time.monotonic()
        with self._lock:
            self._queue.extend((now, job) for job in jobs)
            if not self._queue:
                return False
            if self._draining:
                self._watch()
                return False
            if not self._free:
                self._add_drainer()  # it waits for the first slot given back
                return False
            self._free -= 1
            self._draining += 1
            self._watch()
            return True

    def drain(self) -> None:
        """Run queued jobs on this thread until the queue is empty (after :meth:`enqueue` said so)."""
        local = self._local
        local.holds_slot = local.draining = True
        try:
            while True:
                with self._lock:
                    if not self._queue:
                        self._draining -= 1
                        self._release_slot()
                        break
                    _, job = self._queue.popleft()
                self._progress += 1
                try:
                    job()
                except BaseException:  # a job's bug ends only the job
                    sys.excepthook(*sys.exc_info())
                self._progress += 1
        finally:
            local.holds_slot = local.draining = False
        self.on_idle()

    def run(self, job: Job) -> None:
        """Run ``job()`` on this thread now, as one of the ``size`` running jobs (not queued)."""
        local = self._local
        with self._lock:
            self._acquire_slot()
        local.holds_slot, local.draining = True, False
        try:
            job()
        except BaseException:  # as on a pool thread: a job's bug ends only the job
            sys.excepthook(*sys.exc_info())
        finally:
            local.holds_slot = False
            with self._lock:
                self._release_slot()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Give this thread's slot back while the block waits on something else."""
        local = self._local
        holds = getattr(local, "holds_slot", False)
        draining = holds and local.draining
        if holds:
            local.holds_slot = False
            self.on_stall()
            with self._lock:
                self._release_slot()
                if draining:
                    self._draining -= 1
                    if self._queue and not self._draining:
                        self._add_drainer()  # the queue must not wait for this block
        try:
            yield
        finally:
            if holds:
                with self._lock:
                    self._acquire_slot()
                    if draining:
                        self._draining += 1
                local.holds_slot = True

    # -- with self._lock held ---------------------------------------------------------

    def _acquire_slot(self) -> None:
        while not self._free:
            self._slot_waiters += 1
            try:
                self._slot_freed.wait()
            finally:
                self._slot_waiters -= 1
        self._free -= 1

    def _release_slot(self) -> None:
        self._free += 1
        if self._slot_waiters:
            self._slot_freed.notify()

    def _add_drainer(self) -> None:
        """Wake an idle pool thread, or start one, to drain the queue."""
        self._draining += 1
        self._starting += 1
        if self._idle:
            self._idle -= 1
        else:
            self._threads += 1
            name = f"{self._name}-{self._threads}"
            threading.Thread(target=self._pool_thread, name=name, daemon=True).start()
        self._wakeups.put(None)

    def _watch(self) -> None:
        """Jobs run or wait: make sure the monitor looks."""
        if self._monitor_state == "asleep":
            self._monitor.notify()
        elif self._monitor_state == "none":
            self._monitor_state = "watching"
            threading.Thread(target=self._run_monitor, name=f"{self._name}-monitor", daemon=True).start()

    # -- threads of the pool ----------------------------------------------------------

    def _pool_thread(self) -> None:
        while True:
            try:
                self._wakeups.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    # Only leave if some idle thread is unclaimed (it may be us).
                    if self._idle:
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue
            with self._lock:
                self._acquire_slot()
                self._starting -= 1
            self.drain()
            with self._lock:
                self._idle += 1

    def _run_monitor(self) -> None:
        quiet_limit = max(int(MONITOR_QUIET_SECONDS / STALL_SECONDS), 1)
        quiet = 0
        reported = -1  # the progress count at the last stall reported
        with self._lock:
            while True:
                quiet = 0 if self._queue or self._draining else quiet + 1
                if quiet > quiet_limit:
                    self._monitor_state = "asleep"
                    self._monitor.wait()  # until _watch: work came again
                    self._monitor_state = "watching"
                    quiet = 0
                seen = self._progress
                self._monitor.wait(STALL_SECONDS)
                waited = bool(self._queue) and time.monotonic() - self._queue[0][0] >= STALL_SECONDS
                stuck = bool(self._draining) and seen == self._progress
                if waited and self._free > self._starting:
                    self._add_drainer()
                if (waited or stuck) and reported != self._progress:
                    reported = self._progress
                    self._lock.release()
                    try:
                        self.on_stall()
                    finally:
                        self._lock.acquire()
