"""The worker's serving loop: leader/follower threads over one input pipe.

One thread at a time (the leader) reads frames: every frame queued on the
pipe, with one system call. Requests that need library code run go to the
executor's queue; when no other thread is running queued jobs, the leader
runs them itself (no hand-off between threads) and stops being the leader
while it does. It reads again when the queue is empty, so under load each
read takes in everything that came meanwhile: measured with 64 callers from
Elixir, about 19 requests per read.

Reading does not wait for slow Python code: when running jobs stall (none
started or ended for a few ms, or one waits on an Elixir callback), the
executor's monitor arms the input watch, and a waiting thread (a watcher) is
woken as soon as input arrives, to read it. So pings, cancels, credit and
callback replies are answered within milliseconds even while a call runs for
minutes, and the requests read meanwhile start on other threads.

Watchers wait on the input itself (epoll, one-shot), not on the leader: when
calls come one at a time, nobody but the leader is ever woken. Measured on
no-op calls one at a time: waking a follower per request (an earlier
design) cost 40 µs of worker CPU of 100.
"""

from __future__ import annotations

import select
import sys
import threading

from .dispatch import Dispatcher, HandshakeRefused, Job
from .framing import FrameReader, OversizedFrame

EXIT_HANDSHAKE_REFUSED = 3
# A length prefix over --max-frame: the input cannot be resynchronised (sysexits' EX_DATAERR).
EXIT_FRAMING_LOST = 65
EXIT_INTERNAL_ERROR = 70
# A watcher idle this long ends if another one is watching too.
WATCHER_IDLE_SECONDS = 10.0


class _EpollWatch:
    """Wakes one waiting thread when input arrives while armed (Linux)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._epoll = select.epoll()
        self._epoll.register(fd, select.EPOLLONESHOT)
        # Whether it may be armed; only saves needless disarms (a wrong guess
        # costs a system call, or one watcher woken for nothing).
        self._armed = False

    def arm(self) -> None:
        self._armed = True
        self._epoll.modify(self._fd, select.EPOLLIN | select.EPOLLONESHOT)

    def disarm(self) -> None:
        if self._armed:
            self._armed = False
            self._epoll.modify(self._fd, select.EPOLLONESHOT)

    def wait(self, timeout: float) -> bool:
        if self._epoll.poll(timeout, 1):
            self._armed = False  # one-shot: it fired
            return True
        return False


class _EventWatch:
    """Where there is no epoll: wakes waiting threads whenever armed, input or not."""

    def __init__(self, fd: int) -> None:
        self._armed = threading.Event()

    def arm(self) -> None:
        self._armed.set()

    def disarm(self) -> None:
        self._armed.clear()

    def wait(self, timeout: float) -> bool:
        return self._armed.wait(timeout)


class Server:
    """Serves frames from ``reader`` on threads of its own until the input ends."""

    def __init__(self, reader: FrameReader, dispatcher: Dispatcher) -> None:
        self._reader = reader
        self._dispatcher = dispatcher
        self._read_lock = threading.Lock()  # held by the leader
        self._input = (_EpollWatch if hasattr(select, "epoll") else _EventWatch)(reader.fileno())
        dispatcher.executor.on_stall = self._stalled
        self._state = threading.Lock()
        self._watchers = 0
        self._done = threading.Event()
        self._status = 0

    def _stalled(self) -> None:
        """Running jobs stall (or one waits on Elixir): replies held back go out,
        and a watcher reads whatever input comes meanwhile."""
        self._dispatcher.writer.flush()
        self._input.arm()

    def run(self) -> int:
        """Serve until the input ends; returns the worker's exit status.

        The calling (main) thread only waits, so it stays free to run signal
        handlers and to shut the process down.
        """
        self._start_thread()
        self._done.wait()
        return self._status

    def _start_thread(self) -> None:
        threading.Thread(target=self._serve, name="pybridge-reader", daemon=True).start()

    def _finish(self, status: int) -> None:
        self._status = status
        self._done.set()

    def _serve(self) -> None:
        """The body of every serving thread."""
        try:
            self._serve_frames()
        except (BrokenPipeError, ConnectionError):
            self._finish(0)  # Elixir is gone: nobody is left to answer
        except BaseException:
            # A bug here would leave nobody reading: end the worker, loudly.
            sys.excepthook(*sys.exc_info())
            self._finish(EXIT_INTERNAL_ERROR)

    def _serve_frames(self) -> None:
        executor = self._dispatcher.executor
        while not self._done.is_set():
            if not self._read_lock.acquire(blocking=False):
                if not self._watch():
                    return
                continue
            try:
                self._input.disarm()  # the leader reads: no watcher needed
                # Queued while still reading, so requests start in arrival order.
                run_here = executor.enqueue(self._read())
            finally:
                self._read_lock.release()
            if not run_here:
                continue  # another thread runs the queue: keep reading
            with self._state:
                lonely = self._watchers == 0
            if lonely:
                self._start_thread()
            executor.drain()

    def _watch(self) -> bool:
        """Wait for input that nobody reads; False when this thread is not needed any more."""
        with self._state:
            self._watchers += 1
        try:
            woken = self._input.wait(WATCHER_IDLE_SECONDS)
        finally:
            with self._state:
                self._watchers -= 1
                others = self._watchers
        return woken or not others

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
            if isinstance(frame, OversizedFrame):  # answered above; nothing more can be read
                self._dispatcher.writer.flush()
                self._finish(EXIT_FRAMING_LOST)
                return []
            if job is not None:
                jobs.append(job)
        return jobs
