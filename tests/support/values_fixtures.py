"""Python functions the value and traceback tests call through the real worker."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, NamedTuple


class Pair(NamedTuple):
    left: Any
    right: Any


@dataclasses.dataclass
class Box:
    label: str
    pair: Pair


def identity(value: Any) -> Any:
    return value


def describe(value: Any) -> str:
    """The value's repr, as Python sees it."""
    return repr(value)


def items(*values: Any) -> Iterator[Any]:
    yield from values


def make_box(label: str) -> Box:
    return Box(label, Pair(1, 2))


def fail(message: str) -> None:
    _helper(message)


def _helper(message: str) -> None:
    raise ValueError(message)


def failing_stream() -> Iterator[int]:
    yield 1
    raise KeyError("in the stream")


async def fail_later(message: str) -> None:
    raise LookupError(message)
