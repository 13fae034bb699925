"""Python side of the PyBridge ExUnit suite: small functions whose effects the
tests inspect through later calls (state is per worker process, so tests that
read it use a session or a one-worker pool)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator

_events: dict[str, list[str]] = {}
_produced: dict[str, int] = {}
_lock = threading.Lock()


def record(key: str, event: str) -> None:
    with _lock:
        _events.setdefault(key, []).append(event)


def events(key: str) -> list[str]:
    with _lock:
        return list(_events.get(key, []))


def produced(key: str) -> int:
    with _lock:
        return _produced.get(key, 0)


def counting(key: str, limit: int | None = None) -> Iterator[int]:
    """Yields 0, 1, 2, ... recording how many it produced and that it closed."""
    record(key, "started")
    try:
        n = 0
        while limit is None or n < limit:
            with _lock:
                _produced[key] = n + 1
            yield n
            n += 1
    finally:
        record(key, "finally")


def failing_after(n: int) -> Iterator[int]:
    for i in range(n):
        yield i
    raise ValueError(f"failed after {n} items")


class Box:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def each(self, factor: int = 1) -> Iterator[Any]:
        for item in self.items:
            yield item * factor


def fresh_atom(name: str) -> Any:
    """An atom the BEAM has never seen: its reply fails ``binary_to_term(.., [:safe])``."""
    from pybridge_port.types import Atom

    return Atom(name)


def atom_after(key: str, n: int) -> Iterator[Any]:
    """``n`` integers, then an unknown atom; its ``finally`` records when it is closed."""
    record(key, "started")
    try:
        yield from range(n)
        yield fresh_atom(f"pybridge_unknown_{key}")
        yield from range(n, 1000)
    finally:
        record(key, "finally")


def apply(fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fun(*args, **kwargs)


def catch_error(fun: Callable[[], Any]) -> str:
    """Calls an Elixir fun expected to raise; returns what Python caught."""
    try:
        fun()
    except Exception as exc:  # noqa: BLE001 - the point is to catch it
        return f"{type(exc).__name__}: {exc}"
    return "no exception"


def call_export(name: str, *args: Any) -> Any:
    from pybridge_port import elixir

    return elixir.call(name, *args)


def spin(key: str) -> None:
    """Runs Python until cancelled; records how it ended."""
    record(key, "started")
    try:
        while True:
            time.sleep(0.01)
    except BaseException as exc:
        record(key, type(exc).__name__)
        raise
    finally:
        record(key, "finally")


def busy(seconds: float) -> int:
    """Keeps the CPU busy in Python for `seconds`."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def spawn_child() -> int:
    """Starts `sleep 60` as a child process and returns its pid."""
    return subprocess.Popen(["sleep", "60"]).pid


def make_noise(tag: str) -> str:
    """Writes to fd 1 and 2 in every way a library might, then returns."""
    print(f"{tag} print")
    sys.stderr.write(f"{tag} stderr\n")
    sys.stderr.flush()
    os.write(1, f"{tag} fd1\n".encode())
    os.write(2, f"{tag} fd2\n".encode())
    subprocess.run(["echo", f"{tag} child"], check=True)
    return f"{tag} done"


def pid() -> int:
    return os.getpid()


def argv() -> list[str]:
    return list(sys.argv)


def slow_object(seconds: float) -> object:
    """Returns a new object (a handle on the Elixir side) after a C-level sleep."""
    time.sleep(seconds)
    return object()


def stubborn_object(seconds: float) -> object:
    """Like slow_object, but ignores cancellation: the handle is created anyway."""
    try:
        time.sleep(seconds)
    except BaseException:  # noqa: BLE001 - ignoring the cancel is the point
        pass
    return object()


# --- Helpers of the chaos suite (test/chaos/chaos_test.exs) ---------------


def echo(value: Any) -> Any:
    """Returns its argument: a round trip of whatever Elixir sent."""
    return value


def pid_after(seconds: float) -> int:
    """Sleeps in C (``time.sleep``), then returns the worker's OS pid."""
    time.sleep(seconds)
    return os.getpid()


def call_with_atom(fun: Callable[..., Any], name: str) -> Any:
    """Calls an Elixir fun with the atom ``name`` as its argument.

    Given a name the BEAM has never seen, the callback frame cannot be
    decoded with ``binary_to_term(.., [:safe])``; the name is built here so
    the test process never creates the atom itself.
    """
    from pybridge_port.types import Atom

    return fun(Atom(name))


def libc_noise(tag: str) -> str:
    """Writes to fd 1 through C's stdio (``printf``), as a C extension would."""
    import ctypes

    libc = ctypes.CDLL(None)
    libc.printf(f"{tag} libc\n".encode())
    libc.fflush(None)
    return f"{tag} done"


def huge_int(nbytes: int) -> int:
    """A positive integer whose magnitude takes exactly ``nbytes`` bytes."""
    return (1 << (8 * nbytes)) - 1


def big_plus_one(n: int) -> int:
    return n + 1


def encode_compressed(value: Any) -> bytes:
    """The worker's own encoding of ``value`` with ``compressed=True``."""
    from pybridge_port import codec

    return codec.encode(value, compressed=True)


# -- policies (policy_test.exs) ----------------------------------------------


def touch(path: str) -> str:
    """A side effect a test can look for: the file exists only if this ran."""
    with open(path, "w") as file:
        file.write("ran")
    return path


def count_and_exit(path: str) -> None:
    """Appends a line to ``path``, then ends the worker (a call that crashes it)."""
    with open(path, "a") as file:
        file.write("attempt\n")
    os._exit(1)


def exit_once(path: str, value: Any) -> Any:
    """Ends the worker the first time (recording the attempt in ``path``), answers ``value`` after."""
    with open(path, "a") as file:
        file.write("attempt\n")
    with open(path) as file:
        if len(file.readlines()) == 1:
            os._exit(1)
    return value


def lines(path: str) -> int:
    try:
        with open(path) as file:
            return len(file.readlines())
    except FileNotFoundError:
        return 0


def allocate(nbytes: int) -> int:
    return len(bytearray(nbytes))


def fill(nbytes: int, hold: float) -> int:
    """Makes ``nbytes`` resident (bytes written, not only reserved) and keeps them ``hold`` seconds."""
    data = b"\x01" * nbytes
    time.sleep(hold)
    return len(data)


def burn(seconds: float) -> float:
    """Uses ``seconds`` of this thread's CPU time."""
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass
    return time.thread_time() - start


_kept: list[Any] = []


def open_files(n: int) -> int:
    for _ in range(n):
        _kept.append(open(os.devnull))
    return len(_kept)


def process_info() -> dict[str, Any]:
    return {"cwd": os.getcwd(), "uid": os.getuid(), "env": dict(os.environ), "path": list(sys.path)}


def count_and_raise(path: str) -> None:
    """Appends a line to ``path``, then raises ConnectionError (a flaky service)."""
    with open(path, "a") as file:
        file.write("attempt\n")
    raise ConnectionError("the service is down")


# Settings with DSPy's rule (dspy.dsp.utils.settings): only the thread that
# configured them first may configure them again; every thread reads them.
_settings: dict[str, Any] = {}
_settings_log: list[str] = []
_settings_owner: int | None = None


def configure(**kwargs: Any) -> list[str]:
    """Sets settings (from the owner thread only); returns every key set so far, in order."""
    global _settings_owner
    with _lock:
        if _settings_owner is None:
            _settings_owner = threading.get_ident()
        if _settings_owner != threading.get_ident():
            raise RuntimeError("settings can only be changed by the thread that initially configured them")
        _settings.update(kwargs)
        _settings_log.extend(kwargs)
        return list(_settings_log)


def setting(key: str) -> Any:
    """A setting as it is; any thread may read it."""
    with _lock:
        return _settings.get(key)


def setting_type(key: str) -> str:
    """The Python type of a setting, e.g. ``Counter``."""
    return type(setting(key)).__name__


def settings_log() -> list[str]:
    with _lock:
        return list(_settings_log)


def current_thread_name() -> str:
    return threading.current_thread().name


def bind_positional(function: Callable[..., Any], count: int) -> bool:
    """Whether ``function``'s signature takes ``count`` positional arguments (raises TypeError if not)."""
    import inspect

    inspect.signature(function).bind(*([None] * count))
    return True
