"""Resource limits and the process environment of a worker (the pool's policies).

Everything here is set once, at start, from the command line (``__main__``):

* memory (``RLIMIT_AS``), CPU time in total (``RLIMIT_CPU``) and open files
  (``RLIMIT_NOFILE``) are kernel rlimits of the worker process (Linux; other
  Unixes honour most of them). Hard and soft limits are set together, so code
  that does not run as root cannot raise them again;
* CPU time per call is watched by a thread (``CallCpuWatchdog``) that reads
  the CPU clock of each thread running a request;
* the working directory, the OS user, and whether the working directory may
  be writable.

A worker that exceeds a limit exits with a status of its own (below), so the
Elixir side can name the limit (``PyBridge.Policy.Limits``) instead of
reporting a bare ``WorkerExited``: a MemoryError under a memory limit (or
running out of file descriptors under a files limit) leaves a process that may
be in no state to go on, so it is replaced rather than trusted. Going over
``RLIMIT_CPU`` ends the process with SIGXCPU, which the kernel sends itself.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from typing import Callable, Iterable

from .errors import BridgeError

# Exit statuses that name the limit a worker went over (PyBridge.Policy.Limits).
EXIT_MEMORY_LIMIT = 86
EXIT_CALL_CPU_LIMIT = 87
EXIT_OPEN_FILES_LIMIT = 88
EXIT_RESIDENT_MEMORY_LIMIT = 89

# Set by ``apply_rlimits``: which exceptions mean "over a limit" in this process.
_memory_limited = False
_files_limited = False
_exit: Callable[[int], None] = os._exit


class LimitError(BridgeError):
    """A limit that cannot be set, or a policy the process cannot meet at start."""

    wire_type = "pybridge.PolicyRefused"


def apply_rlimits(
    *, memory: int | None = None, cpu_seconds: int | None = None, open_files: int | None = None
) -> None:
    """Set the worker's kernel limits (only those given).

    ``cpu_seconds`` sets the hard limit one second above the soft one: the
    soft limit sends SIGXCPU (which ends the worker with status 128 + 24), the
    hard one SIGKILL should SIGXCPU be caught. Core dumps are turned off with
    it, as SIGXCPU would otherwise write one into the working directory.
    """
    import resource

    global _memory_limited, _files_limited
    try:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            _memory_limited = True
        if cpu_seconds is not None:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
            _files_limited = True
    except (ValueError, OSError) as exc:
        raise LimitError(f"cannot set resource limits: {exc}") from exc


def on_exit(exit: Callable[[int], None]) -> None:
    """How the worker exits when it goes over a limit (it takes its children with it)."""
    global _exit
    _exit = exit


def check_exception(exc: BaseException) -> None:
    """Exit with the limit's status if ``exc`` means the worker went over one of its limits.

    Called for every exception that becomes an error reply; costs one
    ``isinstance`` when no limit is set.
    """
    if _memory_limited and isinstance(exc, MemoryError):
        _over_limit(EXIT_MEMORY_LIMIT, f"MemoryError under the memory limit: {exc!r}")
    elif _files_limited and isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        _over_limit(EXIT_OPEN_FILES_LIMIT, f"out of file descriptors under the open files limit: {exc!r}")


def _over_limit(status: int, why: str) -> None:
    try:
        os.write(2, f"pybridge_port: exiting, {why}\n".encode())
    except OSError:
        pass
    _exit(status)


def enter_directory(path: str) -> None:
    """Make ``path`` the working directory (before anything else runs)."""
    try:
        os.chdir(path)
    except OSError as exc:
        raise LimitError(f"cannot use {path!r} as working directory: {exc.strerror}") from exc


def switch_user(name: str) -> None:
    """Become the OS user ``name`` (its uid, primary group and groups), for good.

    Needs root (or CAP_SETUID/CAP_SETGID). Real, effective and saved ids all
    change, so the process cannot switch back. HOME is pointed at the user's
    home directory.
    """
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise LimitError(f"no OS user named {name!r}") from None
    try:
        os.initgroups(name, entry.pw_gid)
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    except OSError as exc:
        raise LimitError(f"cannot run as user {name!r}: {exc.strerror} (the BEAM must run as root)") from exc
    os.environ["HOME"] = entry.pw_dir


def require_read_only_cwd() -> None:
    """Refuse to start when this process can write to its working directory."""
    cwd = os.getcwd()
    if os.access(cwd, os.W_OK):
        raise LimitError(
            f"working directory {cwd!r} is writable by uid {os.getuid()} but read_only_cwd was asked "
            "(use a directory the worker's user cannot write, e.g. with the :user option)"
        )


def _thread_cpu_clock(native_id: int) -> int:
    """The CPU-time clock id of a thread of this process, by its kernel tid (Linux).

    It is what ``pthread_getcpuclockid`` computes, from the tid instead of a
    ``pthread_t``: reading it after the thread has ended fails with an
    OSError instead of touching freed memory.
    """
    return ((~native_id) << 3) | 6  # CPUCLOCK_PERTHREAD_MASK | CPUCLOCK_SCHED


class _Watchdog:
    """A daemon thread that calls ``check()`` every ``period`` seconds."""

    name = "pybridge-watchdog"
    period: float

    def start(self) -> None:
        """Start watching (a daemon thread)."""
        threading.Thread(target=self._watch, name=self.name, daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(self.period)
            self.check()

    def check(self) -> None:
        raise NotImplementedError


class CallCpuWatchdog(_Watchdog):
    """Ends the worker when one call has used more than ``limit`` seconds of CPU time.

    ``running()`` returns ``(request id, thread ident)`` for each request
    running on a thread at the moment. The watchdog samples it every
    ``period`` seconds and reads each thread's CPU clock: a call is timed
    from the first sample that sees it, so it may run up to one period of CPU
    time past the limit before the worker exits. Coroutines and the items of
    a stream after the first are not timed (the total CPU limit covers them).
    """

    name = "pybridge-cpu-watchdog"

    def __init__(self, limit: float, running: Callable[[], Iterable[tuple[object, int]]]) -> None:
        self.limit = limit
        self.period = min(max(limit / 10, 0.005), 0.1)
        self._running = running
        # request id -> (clock id, CPU time when first seen)
        self._seen: dict[object, tuple[int, float]] = {}

    def check(self) -> None:
        """One sample: exit if a call is over the limit."""
        natives = {thread.ident: thread.native_id for thread in threading.enumerate()}
        seen: dict[object, tuple[int, float]] = {}
        for request_id, ident in self._running():
            native = natives.get(ident)
            if native is None:
                continue
            previous = self._seen.get(request_id)
            clock = previous[0] if previous else _thread_cpu_clock(native)
            try:
                now = time.clock_gettime(clock)
            except OSError:  # the thread ended meanwhile
                continue
            start = previous[1] if previous else now
            seen[request_id] = (clock, start)
            if now - start > self.limit:
                _over_limit(
                    EXIT_CALL_CPU_LIMIT,
                    f"request {request_id!r} used {now - start:.3f} s of CPU time, over the per-call limit",
                )
        self._seen = seen


class ResidentMemoryWatchdog(_Watchdog):
    """Ends the worker when its resident set (RSS) grows over ``limit`` bytes.

    Unlike ``RLIMIT_AS`` it counts the memory in use, not what is reserved,
    so it suits libraries that map large address ranges they never touch.
    It samples ``/proc/self/statm`` every ``period`` seconds (Linux): memory
    touched faster than that can go past the limit, or meet the kernel's OOM
    killer, before the worker exits.
    """

    STATM = "/proc/self/statm"
    name = "pybridge-rss-watchdog"

    def __init__(self, limit: int, period: float = 0.05) -> None:
        self.limit = limit
        self.period = period
        self._page = os.sysconf("SC_PAGE_SIZE")
        try:
            self._statm = os.open(self.STATM, os.O_RDONLY)  # kept open: one pread per sample
        except OSError as exc:
            raise LimitError(f"cannot watch the resident memory here ({self.STATM}: {exc.strerror})") from exc

    def resident(self) -> int:
        """This process's resident set in bytes."""
        return int(os.pread(self._statm, 128, 0).split()[1]) * self._page

    def check(self) -> None:
        """One sample: exit if the resident set is over the limit."""
        resident = self.resident()
        if resident > self.limit:
            _over_limit(
                EXIT_RESIDENT_MEMORY_LIMIT,
                f"{resident} bytes resident, over the resident memory limit of {self.limit} bytes",
            )
