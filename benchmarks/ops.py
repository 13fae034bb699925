"""The Python side of every benchmarked operation.

Every path (PyBridge from Elixir, the ETF port and gRPC from a Python client)
calls these same functions through the same ``pybridge_port`` dispatcher, so
the only thing that differs between paths is how requests travel.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def noop() -> None:
    """Does nothing: the cost of a call itself."""
    return None


def small_kwargs(*, a: int = 0, b: str = "", c: float = 0.0, d: bool = False) -> int:
    """Takes four small keyword arguments and returns one small integer."""
    return a + len(b) + int(c) + int(d)


def echo(value: Any) -> Any:
    """Returns its argument: the payload goes in and comes back out."""
    return value


def count(n: int) -> Iterator[int]:
    """Yields ``0 .. n-1``: a stream of ``n`` small chunks."""
    yield from range(n)


class Counter:
    """A small object that lives behind a handle."""

    def __init__(self, start: int = 0) -> None:
        self.value = start

    def incr(self, by: int = 1) -> int:
        """Adds ``by`` and returns the new value."""
        self.value += by
        return self.value


def small_maps(n: int) -> list[dict[str, Any]]:
    """``n`` maps of three keys (an int, a short string, a float): the structured payload."""
    return [{"id": i, "name": f"item-{i}", "score": i * 0.5} for i in range(n)]
