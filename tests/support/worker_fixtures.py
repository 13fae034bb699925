"""Python functions the worker tests call through the real worker."""

from __future__ import annotations

import asyncio
import ctypes
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

# What generators did when they were closed, inspected by later calls.
events: list[str] = []
# Named events: a call can wait until a later call opens its gate.
gates: dict[str, threading.Event] = {}


def gate_wait(name: str, timeout: float = 30.0) -> bool:
    """Wait until ``gate_open(name)``; False if that did not come within ``timeout``."""
    return gates.setdefault(name, threading.Event()).wait(timeout)


async def async_gate_wait(name: str, timeout: float = 30.0) -> bool:
    """``gate_wait`` as a coroutine (it runs on the worker's event loop)."""
    gate = gates.setdefault(name, threading.Event())
    deadline = time.monotonic() + timeout
    while not gate.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return gate.is_set()


def gate_open(name: str) -> None:
    gates.setdefault(name, threading.Event()).set()


def slow(seconds: float, value: Any = None) -> Any:
    time.sleep(seconds)
    return value


def gate_is_open(name: str) -> bool:
    return gates.setdefault(name, threading.Event()).is_set()


def busy(seconds: float, started: str | None = None) -> str:
    """Pure-Python work: cancellable between bytecodes; opens the gate ``started`` first."""
    if started is not None:
        gate_open(started)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return "finished"


def count(limit: int, label: str = "count") -> Iterator[int]:
    """Yields 0..limit-1 and records how far it got and that it was closed."""
    try:
        for index in range(limit):
            events.append(f"{label}:produced:{index}")
            yield index
    finally:
        events.append(f"{label}:closed")


async def async_count(limit: int) -> AsyncIterator[int]:
    for index in range(limit):
        await asyncio.sleep(0)
        yield index


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0.01)
    return a + b


def failing_generator() -> Iterator[int]:
    yield 1
    raise RuntimeError("generator broke")


def take_events() -> list[str]:
    taken = list(events)
    events.clear()
    return taken


def apply(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


def apply_catching(function: Callable[..., Any], *args: Any) -> str:
    try:
        return repr(function(*args))
    except Exception as exc:  # the test looks at what Python saw
        return f"{type(exc).__module__}.{type(exc).__name__}: {exc}"


def noisy(value: Any) -> Any:
    """Writes to stdout and stderr from Python, C and a child process, then returns."""
    print("print to stdout", flush=True)
    print("print to stderr", file=sys.stderr, flush=True)
    os.write(1, b"os.write to fd 1\n")
    libc = ctypes.CDLL(None)
    libc.puts(b"C puts to stdout")
    libc.fflush(None)
    subprocess.run(["sh", "-c", "echo child stdout; echo child stderr >&2"], check=True)
    return value


def read_stdin() -> str:
    return sys.stdin.read()


def spawn_sleeper() -> int:
    """Starts a child process that would outlive a careless worker; returns its pid."""
    return subprocess.Popen(["sleep", "60"]).pid


def identity(value: Any) -> Any:
    return value


class Box:
    """An object that is not plain data, so it comes back as a handle."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value

    def raise_error(self) -> None:
        raise KeyError("no such thing")
