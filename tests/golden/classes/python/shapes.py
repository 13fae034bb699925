"""Shapes: a small library made for PyBridge's generator tests.

It has what a wrapper must handle: a class hierarchy, properties with and
without setters, a generator and a coroutine method, class and static
methods, a module-level singleton, pure functions, and a call back into
Elixir.
"""

from __future__ import annotations

import asyncio
from typing import Iterator, Optional

__version__ = "1.2.0"

CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


class Shape:
    """A named shape.

    Args:
        name (str): what to call it.
    """

    def __init__(self, name: str = "shape") -> None:
        self._name = name

    @property
    def name(self) -> str:
        """The shape's name."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def kind(self) -> str:
        """The lowercase class name."""
        return type(self).__name__.lower()

    def area(self) -> float:
        """The area; 0.0 for a shape without one."""
        return 0.0

    def describe(self, *, verbose: bool = False) -> str:
        """A sentence about the shape.

        Args:
            verbose: also give the area.
        """
        text = f"{self._name} is a {self.kind}"
        return f"{text} of area {self.area():g}" if verbose else text

    def corners(self) -> Iterator[list[float]]:
        """Yields the corners, one [x, y] pair at a time."""
        yield from ()

    async def slow_area(self, delay: float = 0.01) -> float:
        """The area, after sleeping `delay` seconds on the event loop."""
        await asyncio.sleep(delay)
        return self.area()

    @classmethod
    def unit(cls) -> "Shape":
        """A default instance of the class."""
        return cls()

    @staticmethod
    def sides_of(kind: str) -> Optional[int]:
        """How many sides a kind of shape has (None when unknown)."""
        return {"triangle": 3, "square": 4}.get(kind)


class Square(Shape):
    """A square of a given side.

    >>> Square(2.0).area()
    4.0
    """

    def __init__(self, side: float, name: str = "square") -> None:
        super().__init__(name)
        self._side = side

    @property
    def side(self) -> float:
        return self._side

    @side.setter
    def side(self, value: float) -> None:
        self._side = value

    def area(self) -> float:
        return self._side * self._side

    def corners(self) -> Iterator[list[float]]:
        s = float(self._side)
        yield from [[0.0, 0.0], [s, 0.0], [s, s], [0.0, s]]

    def scaled(self, factor: float) -> "Square":
        """A new square, `factor` times as large on each side."""
        return Square(self._side * factor, self._name)


class Registry:
    """Shapes known by name, with their number of sides."""

    def __init__(self) -> None:
        self._sides: dict[str, int] = {}
        self._label = "registry"

    @property
    def label(self) -> str:
        """A name for the registry."""
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        self._label = value

    def register(self, name: str, sides: int) -> int:
        """Remembers a shape; returns how many are known."""
        self._sides[name] = sides
        return len(self._sides)

    def names(self) -> list[str]:
        return sorted(self._sides)

    @property
    def size(self) -> int:
        return len(self._sides)


registry = Registry()


def area_of_square(side: float) -> float:
    """The area of a square (counted in CALLS, to show caching)."""
    _count("area_of_square")
    return side * side


def call_count(name: str) -> int:
    """How often a counted function ran in this worker."""
    return CALLS.get(name, 0)


def midpoint(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """The point halfway between two points."""
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


def check_positive(x: int | float) -> int | float:
    """Returns x, or raises ValueError when it is not positive."""
    if x <= 0:
        raise ValueError(f"{x} is not positive")
    return x


def count_up(n: int, start: int = 0) -> Iterator[int]:
    """Yields n integers from start."""
    yield from range(start, start + n)


def ask_elixir(name: str, *args: object) -> object:
    """Calls the Elixir function exported as `name`."""
    from pybridge_port import elixir

    return elixir.call(name, *args)
