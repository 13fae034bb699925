"""Python side of values_test.exs: the Python half of each row of its table."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import pathlib
import uuid
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple


class Color(enum.Enum):
    RED = "red"


class Row(NamedTuple):
    id: int
    label: str


@dataclasses.dataclass
class Order:
    id: int
    rows: list[Row]


# The Python value of each row of the test's table.
SAMPLES: dict[str, Any] = {
    "date": dt.date(2024, 1, 2),
    "time": dt.time(3, 4, 5, 6),
    "time_whole": dt.time(3, 4, 5),
    "naive": dt.datetime(2024, 1, 2, 3, 4, 5, 123_456),
    "utc": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    "utc_micro": dt.datetime(2024, 1, 2, 3, 4, 5, 999_999, tzinfo=dt.timezone.utc),
    "paris": dt.datetime(2024, 7, 2, 3, 4, 5, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    "offset": dt.datetime(2024, 1, 2, 3, 4, 5, 7, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
    "timedelta": dt.timedelta(days=-2, seconds=3, microseconds=4),
    "set": {1, "a", (2, 3)},
    "empty_set": set(),
    "decimal": decimal.Decimal("-12.3400"),
    "decimal_big": decimal.Decimal("123456789012345678901234567890.000000000000000000001"),
    "complex": complex(1.5, -2),
    # one way: these arrive as plain Elixir values
    "frozenset": frozenset({1}),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "path": pathlib.PurePosixPath("/tmp/x.txt"),
    "enum": Color.RED,
}


def sample(name: str) -> Any:
    return SAMPLES[name]


def same(a: Any, b: Any) -> bool:
    """Equal, and for datetimes with the same offset, zone name and microseconds too."""
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a == b and a.utcoffset() == b.utcoffset() and a.tzname() == b.tzname() and a.microsecond == b.microsecond
    return type(a) is type(b) and bool(a == b)


def check(name: str, value: Any) -> bool:
    """Whether ``value`` (sent by Elixir) is the sample ``name``."""
    return same(SAMPLES[name], value)


def check_kwarg(name: str, *, value: Any) -> bool:
    return check(name, value)


def check_nested(name: str, value: Any) -> bool:
    """``value`` is ``[sample, {"key" => sample}, {sample}]``."""
    sample_value = SAMPLES[name]
    return same(value[0], sample_value) and same(value[1]["key"], sample_value) and same(value[2][0], sample_value)


def through_elixir(name: str, fun: Callable[[Any], Any]) -> bool:
    """Give the sample to an Elixir function; whether what it returns is the sample again."""
    return check(name, fun(SAMPLES[name]))


def samples(*names: str) -> Iterator[Any]:
    for name in names:
        yield SAMPLES[name]


def identity(value: Any) -> Any:
    return value


def describe(value: Any) -> str:
    return repr(value)


def type_of(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def order() -> Order:
    return Order(7, [Row(1, "a"), Row(2, "b")])


def row() -> Row:
    return Row(1, "a")


def fail(message: str) -> None:
    _fail_here(message)


def _fail_here(message: str) -> None:
    raise ValueError(message)


def datetime64(text: str) -> Any:
    import numpy

    return numpy.datetime64(text)
