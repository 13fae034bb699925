"""Typeshow: one function or class per source and kind of type the generator reads.

Written for PyBridge's generator tests, with `from __future__ import
annotations` so that every annotation is a string the generator must
resolve. Types come from annotations (Literal, Enum, TypedDict, NamedTuple,
dataclass, Callable, Iterator, Self, …), from `typeshow.pyi` for the
functions without annotations here, from docstrings (Google, NumPy and
Sphinx), from default values, and from the code of a few functions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, NamedTuple, Optional, TypedDict

if TYPE_CHECKING:
    from collections import OrderedDict as Missing  # never imported at run time

__version__ = "0.3.0"


class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(TypedDict):
    x: float
    y: float


class Pair(NamedTuple):
    count: int
    label: str


@dataclass
class Box:
    """A box: a dataclass, so an object on the Elixir side (a handle)."""

    width: float
    height: float


def pick(mode: Literal["fast", "slow"] = "fast") -> str:
    """Returns the mode it was given."""
    return mode


def shade(color: Color, level: Level = Level.LOW) -> Level:
    """Echoes the level; the color is an Enum whose values are strings."""
    return Level(level)


def norm(point: Point) -> float:
    """The Manhattan norm of a point given as a map."""
    return abs(point["x"]) + abs(point["y"])


def origin() -> Point:
    """The point at the origin, as a dict."""
    return {"x": 0.0, "y": 0.0}


def pair(count: int, label: str) -> Pair:
    """A NamedTuple: a plain tuple on the Elixir side."""
    return Pair(count, label)


def make_box(width: float, height: float) -> Box:
    """A dataclass instance: a handle."""
    return Box(width, height)


def box_area(box: Box) -> float:
    """The area of a box made by make_box."""
    return box.width * box.height


def apply(fun: Callable[[int], int], value: int) -> int:
    """Calls `fun` (an Elixir function) with `value`."""
    return fun(value)


def countdown(n: int) -> Iterator[int]:
    """Yields n, n - 1, …, 1."""
    yield from range(n, 0, -1)


def greet(name: str, punctuation: Optional[str] = None, *, shout: bool = False) -> str:
    """Greets `name`; None means no punctuation."""
    text = f"hello {name}{punctuation or ''}"
    return text.upper() if shout else text


def tally(words: list[str]) -> dict[str, int]:
    """How often each word occurs."""
    out: dict[str, int] = {}
    for w in words:
        out[w] = out.get(w, 0) + 1
    return out


def raw(data: bytes) -> bytes:
    """Bytes come and go as PyBridge.Bytes."""
    return data[::-1]


def anything(value: Any) -> Any:
    """An argument Python types as Any: term() loses nothing."""
    return value


def hidden(value: Missing) -> Missing:  # type: ignore[valid-type]
    """An annotation naming a class imported only for type checkers: it cannot be resolved."""
    return value


def mystery(a, b):  # types in typeshow.pyi
    return a * b


def repeat(text, times=2):
    """Repeats a text; `times` has only its default to say it is an integer."""
    return text * times


def scale(x, factor=1.0):
    """Scales a number (types in a Google docstring).

    Args:
        x (float): the number.
        factor (float, optional): how much.

    Returns:
        float: x times factor.
    """
    return x * factor


def clip(value, low, high):
    """Clips a value (types in a NumPy docstring).

    Parameters
    ----------
    value : int
        The value.
    low, high : int
        The bounds.

    Returns
    -------
    int
        The clipped value.
    """
    return max(low, min(high, value))


def join(parts, sep=", "):
    """Joins parts (types in Sphinx fields).

    :param parts: the texts.
    :type parts: list of str
    :param sep: what goes between.
    :rtype: str
    """
    return sep.join(parts)


def describe_flag(flag):
    """Its result type is read from its code: an f-string."""
    return f"flag is {flag}"


def reset():
    """Returns nothing: its code has no `return` with a value."""
    _STATE.clear()


_STATE: dict[str, int] = {}


class Bag:
    """A bag of words: dunder methods with an Elixir meaning, private ones left out."""

    def __init__(self, words: list[str]) -> None:
        self.words = list(words)

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, index: int) -> str:
        return self.words[index]

    def __contains__(self, word: str) -> bool:
        return word in self.words

    def __iter__(self) -> Iterator[str]:
        return iter(self.words)

    def __call__(self, word: str) -> int:
        return self.words.count(word)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bag) and other.words == self.words

    def _private_helper(self) -> None:
        pass

    def add(self, word: str) -> Bag:
        """Adds a word; returns the bag itself."""
        self.words.append(word)
        return self

    def copy(self):
        return Bag(self.words)

    @property
    def size(self) -> int:
        """How many words."""
        return len(self.words)
