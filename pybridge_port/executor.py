"""A thread pool whose limit counts running jobs, not threads.

At most ``size`` jobs run Python at once, but a job that waits on something
outside the worker (an Elixir callback) gives its slot back while it waits.
Threads are started as needed, so nested callbacks (Elixir → Python →
Elixir → Python …) can never exhaust the pool and deadlock; idle threads
end after a while.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

IDLE_SECONDS = 30.0


class Executor:
    """Runs submitted jobs on threads, at most ``size`` of them at once."""

    def __init__(self, size: int, *, name: str = "pybridge") -> None:
        if size < 1:
            raise ValueError(f"size must be a positive integer, got: {size!r}")
        self.size = size
        self._name = name
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        # Free running slots. A counter under one plain lock: threading.Semaphore
        # costs a Condition round trip per acquire and release, on every request.
        self._free = size
        self._slot_freed = threading.Condition(self._lock)
        self._slot_waiters = 0
        self._idle = 0  # threads waiting for a job that no submit has claimed
        self._threads = 0
        self._local = threading.local()

    @property
    def threads(self) -> int:
        """How many pool threads exist now."""
        return self._threads

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job()`` on a pool thread. Exceptions must be handled by the job."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                start = False
            else:
                self._threads += 1
                start = True
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._run, name=f"{self._name}-{self._threads}", daemon=True).start()

    def claim(self) -> bool:
        """Take a running slot for this thread if one is free now (for ``run(claimed=True)``)."""
        with self._lock:
            if self._free:
                self._free -= 1
                return True
            return False

    def run(self, job: Callable[[], None], *, claimed: bool = False) -> None:
        """Run ``job()`` on this thread, as one of the ``size`` running jobs."""
        if not claimed:
            self._acquire_slot()
        self._local.holds_slot = True
        try:
            job()
        except BaseException:  # as on a pool thread: a job's bug ends only the job
            sys.excepthook(*sys.exc_info())
        finally:
            self._local.holds_slot = False
            self._release_slot()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Give this thread's slot back while the block waits on something else."""
        holds = getattr(self._local, "holds_slot", False)
        if holds:
            self._local.holds_slot = False
            self._release_slot()
        try:
            yield
        finally:
            if holds:
                self._acquire_slot()
                self._local.holds_slot = True

    def _acquire_slot(self) -> None:
        with self._lock:
            while not self._free:
                self._slot_waiters += 1
                try:
                    self._slot_freed.wait()
                finally:
                    self._slot_waiters -= 1
            self._free -= 1

    def _release_slot(self) -> None:
        with self._lock:
            self._free += 1
            if self._slot_waiters:
                self._slot_freed.notify()

    def _run(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    # Only leave if some idle thread is unclaimed (it may be us).
                    if self._idle:
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue
            self.run(job)
            with self._lock:
                self._idle += 1
