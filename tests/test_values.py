"""Everyday values both ways through the worker's conversions (pybridge_port.values).

Terms "from Elixir" are built as ``:erlang.term_to_binary`` would encode them
(atom keys, the struct layouts of Elixir 1.14); the ExUnit suite
(priv/pybridge/test/pybridge/values_test.exs) checks the same table against
real Elixir through the real worker.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import pathlib
import uuid
import zoneinfo
from collections.abc import Iterator
from typing import Any, NamedTuple, TypedDict

import pytest

from pybridge_port import values
from pybridge_port.codec import Decoder, encode, text_or_bytes
from pybridge_port.errors import describe
from pybridge_port.handles import HandleTable
from pybridge_port.types import Atom
from pybridge_port.values import Conversions
from worker_client import Worker

STRUCT = Atom("__struct__")
ISO = Atom("Elixir.Calendar.ISO")
UTC = dt.timezone.utc
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def struct(module: str, **fields: Any) -> dict[Atom, Any]:
    return {STRUCT: Atom(f"Elixir.{module}"), **{Atom(k): v for k, v in fields.items()}}


def date_term(y: int, m: int, d: int) -> dict[Atom, Any]:
    return struct("Date", calendar=ISO, year=y, month=m, day=d)


def naive_term(y: int, mo: int, d: int, h: int, mi: int, s: int, us: tuple[int, int]) -> dict[Atom, Any]:
    return struct("NaiveDateTime", calendar=ISO, year=y, month=mo, day=d, hour=h, minute=mi, second=s, microsecond=us)


def datetime_term(zone: str, abbr: str, utc_offset: int, std_offset: int, **fields: Any) -> dict[Atom, Any]:
    term = naive_term(**fields)
    term[STRUCT] = Atom("Elixir.DateTime")
    term.update({Atom("time_zone"): zone, Atom("zone_abbr"): abbr, Atom("utc_offset"): utc_offset, Atom("std_offset"): std_offset})
    return term


def mapset_term(*members: Any) -> dict[Atom, Any]:
    return struct("MapSet", map=dict.fromkeys(members, []), version=2)


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


# (Python value, the Elixir term it stands for). Each is checked both ways.
BOTH_WAYS: list[tuple[Any, Any]] = [
    (dt.date(2024, 1, 2), date_term(2024, 1, 2)),
    (dt.time(3, 4, 5), struct("Time", calendar=ISO, hour=3, minute=4, second=5, microsecond=(0, 0))),
    (dt.time(23, 59, 59, 999_999), struct("Time", calendar=ISO, hour=23, minute=59, second=59, microsecond=(999_999, 6))),
    (dt.datetime(2024, 1, 2, 3, 4, 5, 6), naive_term(2024, 1, 2, 3, 4, 5, (6, 6))),
    (
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime_term("Etc/UTC", "UTC", 0, 0, y=2024, mo=1, d=2, h=3, mi=4, s=5, us=(0, 0)),
    ),
    (
        dt.datetime(2024, 7, 2, 3, 4, 5, 123_456, tzinfo=PARIS),
        datetime_term("Europe/Paris", "CEST", 3600, 3600, y=2024, mo=7, d=2, h=3, mi=4, s=5, us=(123_456, 6)),
    ),
    (
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        datetime_term("UTC+05:30", "UTC+05:30", 19800, 0, y=2024, mo=1, d=2, h=3, mi=4, s=5, us=(0, 0)),
    ),
    (dt.timedelta(seconds=5), struct("PyBridge.Timedelta", microseconds=5_000_000)),
    (dt.timedelta(days=-1, microseconds=1), struct("PyBridge.Timedelta", microseconds=-86_399_999_999)),
    (dt.timedelta(days=999_999_999), struct("PyBridge.Timedelta", microseconds=999_999_999 * 86_400_000_000)),
    ({1, 2}, mapset_term(1, 2)),
    ({("a", 1), "b"}, mapset_term(("a", 1), "b")),
    (set(), mapset_term()),
    (decimal.Decimal("-1.2300"), struct("Decimal", sign=-1, coef=12300, exp=-4)),
    (decimal.Decimal("1E+30"), struct("Decimal", sign=1, coef=1, exp=30)),
    (decimal.Decimal("0.1"), struct("Decimal", sign=1, coef=1, exp=-1)),
    (decimal.Decimal("-Infinity"), struct("Decimal", sign=-1, coef=Atom("inf"), exp=0)),
    (complex(1, -2.5), struct("PyBridge.Complex", real=1.0, imag=-2.5)),
]

# Python values that arrive as plain Elixir values (one way: they come back as those).
ONE_WAY: list[tuple[Any, Any]] = [
    (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
    (pathlib.PurePosixPath("/tmp/x.txt"), "/tmp/x.txt"),
    (pathlib.Path("relative/dir"), "relative/dir"),
    (Color.RED, "red"),
    (Level.HIGH, 3),
    (frozenset({3}), mapset_term(3)),
]


@pytest.fixture
def conversions() -> Conversions:
    return Conversions(HandleTable("test"), lambda fun: lambda *args: None)


def as_elixir(data: bytes) -> Any:
    """A reply as Elixir would read it: atoms stay atoms, binaries are text."""
    term, tail = Decoder(binary_hook=text_or_bytes).decode(data)
    assert tail == b""
    return term


def same(a: Any, b: Any) -> bool:
    """Equal, and for datetimes with the same offset and zone name too."""
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a == b and a.utcoffset() == b.utcoffset() and a.tzname() == b.tzname() and a.microsecond == b.microsecond
    return bool(a == b) and type(a) is type(b)


class TestBothWays:
    @pytest.mark.parametrize(("python", "elixir"), BOTH_WAYS + ONE_WAY, ids=repr)
    def test_python_values_arrive_as_elixir_terms(self, conversions: Conversions, python: Any, elixir: Any) -> None:
        assert as_elixir(conversions.encode(python)) == elixir

    @pytest.mark.parametrize(("python", "elixir"), BOTH_WAYS, ids=repr)
    def test_elixir_terms_arrive_as_python_values(self, conversions: Conversions, python: Any, elixir: Any) -> None:
        assert same(conversions.decode(encode(elixir)), python)

    @pytest.mark.parametrize(("python", "elixir"), BOTH_WAYS, ids=repr)
    def test_the_round_trip_keeps_the_value(self, conversions: Conversions, python: Any, elixir: Any) -> None:
        back = conversions.decode(conversions.encode(python))
        assert same(back, python)

    def test_inside_lists_maps_and_tuples(self, conversions: Conversions) -> None:
        nested = {"when": [dt.date(2024, 1, 2), (dt.timedelta(1), [decimal.Decimal("2.5")], {"x", 2})], 1: {"set": {1}}}
        assert conversions.decode(conversions.encode(nested)) == nested
        term = as_elixir(conversions.encode(nested))
        assert term["when"][0] == date_term(2024, 1, 2)
        assert term[1]["set"] == mapset_term(1)

    def test_a_zone_python_knows_comes_back_as_that_zone(self, conversions: Conversions) -> None:
        elixir = datetime_term("Europe/Paris", "CET", 3600, 0, y=2024, mo=1, d=2, h=3, mi=4, s=5, us=(1, 6))
        value = conversions.decode(encode(elixir))
        assert value.tzinfo == PARIS and value.utcoffset() == dt.timedelta(hours=1) and value.microsecond == 1

    def test_the_second_of_two_equal_wall_times_keeps_its_offset(self, conversions: Conversions) -> None:
        # 2024-10-27 02:30 happens twice in Paris: CEST (+2) then CET (+1).
        for abbr, utc, std in (("CEST", 3600, 3600), ("CET", 3600, 0)):
            elixir = datetime_term("Europe/Paris", abbr, utc, std, y=2024, mo=10, d=27, h=2, mi=30, s=0, us=(0, 0))
            value = conversions.decode(encode(elixir))
            assert value.utcoffset() == dt.timedelta(seconds=utc + std)
            assert as_elixir(conversions.encode(value)) == elixir

    def test_an_unknown_zone_keeps_its_offset_and_abbreviation(self, conversions: Conversions) -> None:
        elixir = datetime_term("Mars/Olympus", "MOT", -7200, 0, y=2024, mo=1, d=2, h=3, mi=4, s=5, us=(0, 0))
        value = conversions.decode(encode(elixir))
        assert value.utcoffset() == dt.timedelta(hours=-2) and value.tzname() == "MOT"

    def test_elixir_precision_below_six_digits_keeps_the_microseconds(self, conversions: Conversions) -> None:
        value = conversions.decode(encode(struct("Time", calendar=ISO, hour=1, minute=2, second=3, microsecond=(120_000, 2))))
        assert value == dt.time(1, 2, 3, 120_000)

    def test_decimal_nan_and_exactness(self, conversions: Conversions) -> None:
        assert conversions.decode(encode(struct("Decimal", sign=1, coef=Atom("NaN"), exp=0))).is_nan()
        assert as_elixir(conversions.encode(decimal.Decimal("NaN")))[Atom("coef")] == Atom("NaN")
        many = decimal.Decimal("3.14159265358979323846264338327950288419716939937510")
        assert conversions.decode(conversions.encode(many)) == many
        with pytest.raises(ValueError, match="coef"):
            conversions.decode(encode(struct("Decimal", sign=1, coef=-1, exp=0)))

    def test_complex_parts_that_are_not_finite(self, conversions: Conversions) -> None:
        value = conversions.decode(conversions.encode(complex(float("inf"), float("-inf"))))
        assert value == complex(float("inf"), float("-inf"))


class TestStructs:
    def test_an_unknown_struct_is_a_dict_of_its_fields(self, conversions: Conversions) -> None:
        assert conversions.decode(encode([struct("MyApp.Point", x=1, y=2)])) == [{"x": 1, "y": 2}]

    def test_dates_of_another_calendar_stay_dicts(self, conversions: Conversions) -> None:
        term = struct("Date", calendar=Atom("Elixir.Cal.Holocene"), year=12024, month=1, day=2)
        assert conversions.decode(encode(term)) == {"calendar": "Elixir.Cal.Holocene", "year": 12024, "month": 1, "day": 2}

    def test_a_date_python_cannot_hold_is_a_clear_error(self, conversions: Conversions) -> None:
        with pytest.raises(ValueError, match="year"):
            conversions.decode(encode(date_term(0, 1, 1)))


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees


@pytest.fixture
def registry() -> Iterator[None]:
    """Registrations made by a test are undone after it."""
    to_elixir, from_elixir = dict(values._TO_ELIXIR), dict(values._FROM_ELIXIR)
    yield
    values._TO_ELIXIR.clear()
    values._TO_ELIXIR.update(to_elixir)
    values._FROM_ELIXIR.clear()
    values._FROM_ELIXIR.update(from_elixir)
    values._by_type.clear()


class TestRegistration:
    def test_register_pairs_a_class_and_a_struct_both_ways(self, conversions: Conversions, registry: None) -> None:
        values.register(Point, "MyApp.Point")
        assert as_elixir(conversions.encode([Point(1, 2)])) == [struct("MyApp.Point", x=1, y=2)]
        assert conversions.decode(encode(struct("MyApp.Point", x=3, y=4))) == Point(3, 4)
        assert conversions.decode(conversions.encode({"p": Point(5, 6)})) == {"p": Point(5, 6)}

    def test_one_way_functions(self, conversions: Conversions, registry: None) -> None:
        values.to_elixir(Celsius, lambda c: values.elixir_struct("MyApp.Temp", kelvin=c.degrees + 273.15))
        values.from_elixir("MyApp.Temp", lambda fields: Celsius(fields["kelvin"] - 273.15))
        assert as_elixir(conversions.encode(Celsius(0.0))) == struct("MyApp.Temp", kelvin=273.15)
        assert conversions.decode(encode(struct("MyApp.Temp", kelvin=373.15))).degrees == pytest.approx(100.0)

    def test_a_registration_overrides_a_built_in_conversion(self, conversions: Conversions, registry: None) -> None:
        assert as_elixir(conversions.encode(Color.RED)) == "red"
        values.to_elixir(Color, lambda member: member.name)
        assert as_elixir(conversions.encode(Color.RED)) == "RED"

    def test_bad_registrations_are_refused(self, registry: None) -> None:
        with pytest.raises(TypeError, match="class and a function"):
            values.to_elixir("Point", str)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="module name and a function"):
            values.from_elixir("", dict)


PlainPair = collections.namedtuple("PlainPair", "a b")


class Row(NamedTuple):
    id: int
    when: dt.date


class Movie(TypedDict):
    title: str
    year: int


@dataclasses.dataclass
class Order:
    rows: list[Row]
    point: Point


class TestRecords:
    def test_by_default_dataclasses_are_handles_and_named_tuples_tuples(self, conversions: Conversions) -> None:
        term = as_elixir(conversions.encode([Order([Row(1, dt.date(2024, 1, 2))], Point(1, 2)), Row(2, dt.date(2024, 1, 3))]))
        assert term[0][STRUCT] == Atom("Elixir.PyBridge.Ref")
        assert term[1] == (2, date_term(2024, 1, 3))

    def test_as_records_they_are_maps_of_their_fields_at_any_depth(self, conversions: Conversions) -> None:
        order = Order([Row(1, dt.date(2024, 1, 2))], Point(1, 2))
        movie: Movie = {"title": "Alien", "year": 1979}
        term = as_elixir(conversions.encode(values.as_records((order, movie, PlainPair(1, 2)))))
        assert term == (
            {"rows": [{"id": 1, "when": date_term(2024, 1, 2)}], "point": {"x": 1, "y": 2}},
            {"title": "Alien", "year": 1979},
            {"a": 1, "b": 2},
        )

    def test_as_records_leaves_values_with_conversions_alone(self, conversions: Conversions, registry: None) -> None:
        values.register(Point, "MyApp.Point")
        value = values.as_records([Point(1, 2), {1}, Row(1, dt.date(2024, 1, 2))])
        assert value == [Point(1, 2), {1}, {"id": 1, "when": dt.date(2024, 1, 2)}]

    def test_a_record_that_contains_itself_is_a_clear_error(self) -> None:
        order = Order([], Point(1, 2))
        order.rows.append(order)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="contains itself"):
            values.as_records(order)

    def test_pydantic_models_as_records(self, conversions: Conversions) -> None:
        pydantic = pytest.importorskip("pydantic")

        class User(pydantic.BaseModel):  # type: ignore[name-defined]
            name: str
            joined: dt.date

        user = User(name="ada", joined=dt.date(2024, 1, 2))
        assert as_elixir(conversions.encode(user))[STRUCT] == Atom("Elixir.PyBridge.Ref")
        assert as_elixir(conversions.encode(values.as_records(user))) == {"name": "ada", "joined": date_term(2024, 1, 2)}


class TestNumpyAndPandas:
    def test_numpy_datetime64_and_timedelta64_scalars(self, conversions: Conversions) -> None:
        numpy = pytest.importorskip("numpy")
        cases = [
            (numpy.datetime64("2024-01-02"), date_term(2024, 1, 2)),
            (numpy.datetime64("2024-01", "M"), date_term(2024, 1, 1)),
            (numpy.datetime64("2024-01-02T03:04:05.123456789"), naive_term(2024, 1, 2, 3, 4, 5, (123_456, 6))),
            (numpy.datetime64("NaT"), None),
            (numpy.timedelta64(1500, "ms"), struct("PyBridge.Timedelta", microseconds=1_500_000)),
            (numpy.timedelta64("NaT"), None),
            (numpy.complex128(1 + 2j), struct("PyBridge.Complex", real=1.0, imag=2.0)),
        ]
        for value, term in cases:
            assert as_elixir(conversions.encode(value)) == term, value

    def test_pandas_timestamps(self, conversions: Conversions) -> None:
        pandas = pytest.importorskip("pandas")
        aware = pandas.Timestamp("2024-01-02T03:04:05.123456789", tz="UTC")
        term = datetime_term("Etc/UTC", "UTC", 0, 0, y=2024, mo=1, d=2, h=3, mi=4, s=5, us=(123_456, 6))
        assert as_elixir(conversions.encode(aware)) == term
        assert as_elixir(conversions.encode(pandas.Timestamp("2024-01-02"))) == naive_term(2024, 1, 2, 0, 0, 0, (0, 0))
        assert as_elixir(conversions.encode([pandas.NaT])) == [None]
        assert as_elixir(conversions.encode(pandas.Timedelta("1s"))) == struct("PyBridge.Timedelta", microseconds=10**6)


class TestWorker:
    """Through the real worker: arguments, kwargs, results, stream items and tracebacks."""

    def test_values_as_arguments_kwargs_results_and_stream_items(self, worker: Worker) -> None:
        date, mapset = date_term(2024, 1, 2), mapset_term(1, 2)
        assert worker.call("values_fixtures.describe", [date]) == "datetime.date(2024, 1, 2)"
        assert worker.call("values_fixtures.describe", [], {"value": mapset}) == "{1, 2}"
        assert worker.call("values_fixtures.identity", [[date, {"s": mapset}]]) == [date, {"s": mapset}]
        request_id = worker.next_id()
        worker.send((Atom("call"), request_id, "values_fixtures.items", [date, mapset], {}, {Atom("stream"): True}))
        chunks = [worker.recv_reply()[2], worker.recv_reply()[2]]
        assert chunks == [date, mapset]

    def test_a_records_worker_call_returns_a_handle_by_default(self, worker: Worker) -> None:
        box = worker.call("values_fixtures.make_box", ["b"])
        assert box[STRUCT] == Atom("Elixir.PyBridge.Ref") and box[Atom("type")] == "values_fixtures.Box"

    def test_a_traceback_starts_at_the_users_code(self, worker: Worker) -> None:
        error = worker.request("call", "values_fixtures.fail", ["boom"], {}, {})[2]
        lines = error[Atom("traceback")]
        assert lines[0] == "Traceback (most recent call last):"
        assert "values_fixtures.py" in lines[1] and "in fail" in lines[1]
        assert not any("pybridge_port" in line for line in lines), lines
        assert lines[-1] == "ValueError: boom"

    def test_a_stream_traceback_starts_at_the_generator(self, worker: Worker) -> None:
        request_id = worker.next_id()
        worker.send((Atom("call"), request_id, "values_fixtures.failing_stream", [], {}, {Atom("stream"): True}))
        assert worker.recv_reply()[0] == Atom("chunk")
        lines = worker.recv_reply()[2][Atom("traceback")]
        assert "in failing_stream" in lines[1] and not any("pybridge_port" in line for line in lines), lines

    def test_a_coroutine_traceback_starts_at_the_coroutine(self, worker: Worker) -> None:
        lines = worker.request("call", "values_fixtures.fail_later", ["late"], {}, {})[2][Atom("traceback")]
        assert "in fail_later" in lines[1] and lines[-1] == "LookupError: late", lines
        assert not any("pybridge_port" in line for line in lines), lines

    def test_errors_at_the_call_site_show_no_worker_frames(self, worker: Worker) -> None:
        for target, args in (("math.sqrt", [-1]), ("values_fixtures.fail", []), ("values_fixtures.nope", [])):
            lines = worker.request("call", target, args, {}, {})[2][Atom("traceback")]
            assert lines[0] == "Traceback (most recent call last):" and len(lines) == 2, lines

    def test_an_import_error_starts_at_the_broken_module(self, worker: Worker) -> None:
        lines = worker.request("call", "values_broken_module.f", [], {}, {})[2][Atom("traceback")]
        assert "values_broken_module.py" in lines[1], lines
        assert not any("pybridge_port" in line or "importlib" in line for line in lines), lines

    def test_the_workers_own_errors_keep_its_frames(self, worker: Worker) -> None:
        error = worker.request("call", "math.sqrt")[2]
        assert error[Atom("type")] == "pybridge.ProtocolError"
        assert any("dispatch.py" in line for line in error[Atom("traceback")])


def test_describe_keeps_a_traceback_without_worker_frames_whole() -> None:
    try:
        int("x")
    except ValueError as exc:
        lines = describe(exc)[2]
    assert "test_values.py" in lines[1] and lines[-1].startswith("ValueError")


def _atoms_in(term: Any) -> set[str]:
    if isinstance(term, Atom):
        return {term.name}
    if isinstance(term, dict):
        return set().union(*(_atoms_in(k) | _atoms_in(v) for k, v in term.items())) if term else set()
    if isinstance(term, (list, tuple)):
        return set().union(*(_atoms_in(item) for item in term)) if term else set()
    return set()


def test_every_atom_the_conversions_send_is_loaded_by_the_elixir_runtime(conversions: Conversions) -> None:
    """Elixir decodes replies with [:safe]: PyBridge.Values must name each atom so that it exists."""
    import re

    from worker_client import ROOT

    source = (ROOT / "priv" / "pybridge" / "lib" / "pybridge" / "values.ex").read_text()
    block = source[source.index("@atoms [") : source.index("]", source.index("@atoms ["))]
    loaded = {f"Elixir.{name}" for name in re.findall(r"^\s+([A-Z][\w.]*),?$", block, re.M)}
    loaded |= set(re.findall(r"^\s+:(\w+),?$", block, re.M))
    sent = set()
    for python, _ in BOTH_WAYS + ONE_WAY:
        sent |= _atoms_in(as_elixir(conversions.encode(python)))
    sent |= _atoms_in(as_elixir(conversions.encode(decimal.Decimal("NaN"))))
    sent -= {"__struct__", "nan", "infinity", "neg_infinity"}  # atoms of every Elixir node
    assert sent <= loaded, f"add to PyBridge.Values @atoms: {sorted(sent - loaded)}"
