"""The worker's threads: one reads requests, the others run them, and any can do both.

Every thread runs the same loop (``serve``). At each turn it takes, in this
order: the oldest queued job, if fewer than ``size`` jobs run; else the
reading role, if no thread holds it; else it waits for a change. Reading
means calling ``read()`` (given by the server), which blocks until requests
arrive, answers control frames itself and returns the jobs (library code) to
queue. So a thread that read a batch runs it itself, one job after the other
(no hand-off between threads: waking a thread and passing it the GIL costs
more than a short call), and reads again when the queue is empty.

While that thread runs a job, nobody reads. A monitor thread looks every
``STALL_SECONDS`` while there is work: when running jobs have neither started
nor ended since it last looked, or the oldest queued job has waited that
long, it wakes (or starts) one more thread, which reads meanwhile or takes
the queued job, and it calls ``on_stall`` (the dispatcher sends replies it
held back). So cancels, credit and callback replies are read within
milliseconds while a call runs for minutes, and slow calls run side by side
up to ``size``. When nothing has run for ``MONITOR_QUIET_SECONDS`` the
monitor sleeps until work comes again.

A thread that waits on Elixir (a callback) gives its slot back while it
waits (``waiting``), or lends one when it holds none (a library's own thread,
started by a job that waits for it), and makes sure some thread reads: the
reply can arrive, and the Python calls the callback makes can always run, so
nested callbacks never exhaust the slots. Idle threads end after
``IDLE_SECONDS``; one always stays.

::

    stdin ─► [reading role] ─ control frames answered inline
                  │ jobs
                  ▼
             queue (arrival order) ─► up to `size` running jobs ─► replies
                  ▲                        │ stalled 2 ms?
                  └──── monitor ◄──────────┘ wakes one more thread
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Job = Callable[[], None]
# What ``read`` returns: jobs to queue, or None at the end of the input.
Read = Callable[[], "list[Job] | None"]

IDLE_SECONDS = 30.0
# How long a queued job may wait, or running jobs go without one starting or
# ending, before the monitor adds a thread (Python's GIL switch interval is 5 ms).
STALL_SECONDS = 0.002
# The monitor sleeps after this long with nothing running or queued.
MONITOR_QUIET_SECONDS = 0.5
# What _next tells a thread to do when it is not a job.
_READ, _END = object(), object()


class Executor:
    """Reads with ``read`` and runs the jobs it returns, at most ``size`` at once."""

    def __init__(self, size: int, *, name: str = "pybridge") -> None:
        if size < 1:
            raise ValueError(f"size must be a positive integer, got: {size!r}")
        self.size = size
        self._name = name
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # idle threads wait here
        self._slot_freed = threading.Condition(self._lock)  # callback waiters wanting a slot back
        self._queue: deque[tuple[float, Job]] = deque()  # (time queued, job)
        self._running = 0  # jobs holding a slot
        self._slot_waiters = 0  # jobs back from a callback, waiting for a slot
        self._lent = 0  # slots lent by threads outside the executor waiting on Elixir
        self._reading = False  # a thread holds the reading role
        self._idle = 0  # threads waiting on _changed
        self._threads = 0  # threads in the serving loop
        self._progress = 0  # bumped when a job starts or ends: what the monitor watches
        self._read: Read | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()  # what serve() waits on
        self._stopped = False  # the same, read with the lock on every turn (Event.is_set is a Python call)
        self._monitor = threading.Condition(self._lock)
        self._monitor_asleep = False
        self._monitor_started = False
        self._local = threading.local()
        # Called when running jobs stall, and by a thread that finds the queue empty.
        self.on_stall: Callable[[], None] = lambda: None
        self.on_idle: Callable[[], None] = lambda: None

    @property
    def threads(self) -> int:
        """How many serving threads exist now."""
        return self._threads

    @property
    def idle_threads(self) -> int:
        """How many of them wait for work (the others read, run a job or wait on Elixir)."""
        return self._idle

    @property
    def queued(self) -> int:
        """How many jobs wait to start."""
        return len(self._queue)

    def serve(self, read: Read) -> None:
        """Serve until ``read`` returns None (or raises: then that is re-raised here)."""
        self._read = read
        with self._lock:
            self._start_thread()
        self._done.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """End ``serve`` (threads running jobs finish them first)."""
        with self._lock:
            self._stop()

    def run(self, job: Job) -> None:
        """Run ``job()`` on this thread now, as one of the ``size`` running jobs (other transports)."""
        with self._lock:
            self._take_slot()
        self._run_job(job)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Give this thread's slot back while the block waits on Elixir; someone reads meanwhile."""
        holds = getattr(self._local, "holds_slot", False)
        self._local.holds_slot = False
        with self._lock:
            if holds:
                self._running -= 1
            else:
                self._lent += 1
            if self._slot_waiters:
                self._slot_freed.notify()
            if not self._reading or (self._queue and self._has_free_slot()):
                self._add_thread()
        try:
            yield
        finally:
            with self._lock:
                if holds:
                    self._take_slot()
                else:
                    self._lent -= 1
            self._local.holds_slot = holds

    # -- the serving loop ---------------------------------------------------------

    def _serve(self) -> None:
        """The body of every serving thread."""
        job: object = None  # None: ask _next
        while True:
            if job is None:
                with self._lock:
                    job = self._next()
            if job is _END:
                return
            if job is _READ:
                job = self._read_jobs()
            else:
                job = self._run_job(job, take_next=True)  # type: ignore[arg-type]

    def _read_jobs(self) -> Job | None:
        """Take the reading role's turn: read, queue the jobs; the first one to run at once, if a slot is free."""
        try:
            jobs = self._read() if self._read is not None else None
        except BaseException as exc:  # a bug in reading: nobody would read again
            self._error = exc
            jobs = None
        now = time.monotonic()
        with self._lock:
            self._reading = False
            if jobs is None:
                self._stop()
                return None
            queue = self._queue
            for job in jobs:
                queue.append((now, job))
            if jobs and (self._monitor_asleep or not self._monitor_started):
                self._watch()
            return self._queued_job()

    def _next(self) -> object:
        """With the lock: the job this thread runs next, or ``_READ``, or ``_END``."""
        while True:
            if self._stopped:
                self._threads -= 1
                return _END
            job = self._queued_job()
            if job is not None:
                return job
            if not self._reading:
                self._reading = True
                return _READ
            self._idle += 1
            woken = self._changed.wait(IDLE_SECONDS)
            self._idle -= 1
            if not woken and self._threads > 1 and not self._queue:
                self._threads -= 1  # idle and not needed: one thread always stays
                return _END

    def _run_job(self, job: Job, *, take_next: bool = False) -> Job | None:
        """Run ``job`` in the slot it holds; with ``take_next``, return the next queued job if it can start now."""
        self._local.holds_slot = True
        try:
            job()
        except BaseException:  # a job's bug ends only the job
            sys.excepthook(*sys.exc_info())
        self._local.holds_slot = False
        with self._lock:
            self._running -= 1
            self._progress += 1
            if self._slot_waiters:
                self._slot_freed.notify()
            following = self._queued_job() if take_next and not self._stopped else None
            empty = not self._queue
        if empty and following is None:
            self.on_idle()  # before this thread waits or reads: replies held go out
        return following

    # -- with the lock held ---------------------------------------------------------

    def _queued_job(self) -> Job | None:
        """The oldest queued job, now holding a slot, if one is queued and a slot is free."""
        if self._queue and self._has_free_slot():
            _, job = self._queue.popleft()
            self._running += 1
            self._progress += 1
            return job
        return None

    def _has_free_slot(self) -> bool:
        return self._running < self.size + self._lent

    def _take_slot(self) -> None:
        while not self._has_free_slot():
            self._slot_waiters += 1
            self._slot_freed.wait()
            self._slot_waiters -= 1
        self._running += 1

    def _add_thread(self) -> None:
        """Wake an idle thread, or start one."""
        if self._idle:
            self._changed.notify()
        else:
            self._start_thread()

    def _start_thread(self) -> None:
        self._threads += 1
        threading.Thread(target=self._serve, name=f"{self._name}-{self._threads}", daemon=True).start()

    def _stop(self) -> None:
        self._stopped = True
        self._done.set()
        self._changed.notify_all()

    def _watch(self) -> None:
        """There is work: make sure the monitor looks."""
        if self._monitor_asleep:
            self._monitor.notify()
        elif not self._monitor_started:
            self._monitor_started = True
            threading.Thread(target=self._run_monitor, name=f"{self._name}-monitor", daemon=True).start()

    # -- threads ------------------------------------------------------------------------

    def _run_monitor(self) -> None:
        quiet_limit = max(int(MONITOR_QUIET_SECONDS / STALL_SECONDS), 1)
        quiet = 0
        reported = -1  # the progress count at the last stall reported
        with self._lock:
            while not self._stopped:
                quiet = 0 if self._queue or self._running else quiet + 1
                if quiet > quiet_limit:
                    self._monitor_asleep = True
                    self._monitor.wait()  # until _watch: work came again
                    self._monitor_asleep = False
                    quiet = 0
                seen = self._progress
                self._monitor.wait(STALL_SECONDS)
                waited = bool(self._queue) and time.monotonic() - self._queue[0][0] >= STALL_SECONDS
                stuck = bool(self._running) and seen == self._progress
                if not (waited or stuck):
                    continue
                if not self._reading or (waited and self._has_free_slot()):
                    self._add_thread()
                if reported != self._progress:
                    reported = self._progress
                    self._lock.release()
                    try:
                        self.on_stall()
                    finally:
                        self._lock.acquire()
