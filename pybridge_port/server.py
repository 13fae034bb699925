"""The worker's serving loop: leader/follower threads over one input pipe.

One thread at a time (the leader) reads frames. When a frame needs library
code run, the leader hands the reading role to another thread and runs the
request itself, so a call costs no hand-off between threads (measured: about
half of a no-op call's latency went to waking a pool thread), and reading
never stops while Python code runs: pings, cancels, credit and callback
replies are still answered at once. Further requests of the same read go to
the pool.
"""

from __future__ import annotations

import sys
import threading

from .dispatch import Dispatcher, HandshakeRefused, Job
from .framing import FrameReader

EXIT_HANDSHAKE_REFUSED = 3
EXIT_INTERNAL_ERROR = 70
# Threads waiting to lead beyond this many end, so the count follows the load.
_SPARE_FOLLOWERS = 2


class Server:
    """Serves frames from ``reader`` on threads of its own until the input ends."""

    def __init__(self, reader: FrameReader, dispatcher: Dispatcher) -> None:
        self._reader = reader
        self._dispatcher = dispatcher
        self._read_lock = threading.Lock()
        self._state = threading.Lock()
        self._followers = 0  # threads waiting for the read lock
        self._done = threading.Event()
        self._status = 0

    def run(self) -> int:
        """Serve until the input ends; returns the worker's exit status.

        The calling (main) thread only waits, so it stays free to run signal
        handlers and to shut the process down.
        """
        self._start_thread(spare=False)
        self._done.wait()
        return self._status

    def _start_thread(self, *, spare: bool) -> None:
        threading.Thread(target=self._serve, kwargs={"spare": spare}, name="pybridge-reader", daemon=True).start()

    def _finish(self, status: int) -> None:
        self._status = status
        self._done.set()

    def _serve(self, *, spare: bool) -> None:
        """The body of every serving thread; a ``spare`` one ends when enough others wait."""
        try:
            self._serve_frames(spare)
        except (BrokenPipeError, ConnectionError):
            self._finish(0)  # Elixir is gone: nobody is left to answer
        except BaseException:
            # A bug here would leave nobody reading: end the worker, loudly.
            sys.excepthook(*sys.exc_info())
            self._finish(EXIT_INTERNAL_ERROR)

    def _serve_frames(self, spare: bool) -> None:
        executor = self._dispatcher.executor
        while not self._done.is_set():
            with self._state:
                if spare and self._followers >= _SPARE_FOLLOWERS:
                    return
                self._followers += 1
            with self._read_lock:
                with self._state:
                    self._followers -= 1
                jobs = self._read()
                # Claimed while still reading, so requests start in arrival order;
                # with every slot taken, they wait in the pool's queue instead.
                inline = jobs.pop(0) if jobs and executor.claim() else None
            for job in jobs:
                executor.submit(job)
            if inline is None:
                continue
            with self._state:
                lonely = self._followers == 0
            if lonely:  # nobody would read while we run the job: start a reader
                self._start_thread(spare=True)
            executor.run(inline, claimed=True)

    def _read(self) -> list[Job]:
        if self._done.is_set():
            return []
        frames = self._reader.read_frames()
        if not frames:
            self._finish(0)
            return []
        jobs = []
        for frame in frames:
            try:
                job = self._dispatcher.handle_frame(frame)
            except HandshakeRefused:
                self._finish(EXIT_HANDSHAKE_REFUSED)
                return []
            if job is not None:
                jobs.append(job)
        return jobs
