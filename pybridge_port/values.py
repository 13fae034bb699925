"""Python values ⇄ Elixir terms, as docs/PROTOCOL.md's Values tables say.

The codec is configured with hooks so that a frame is converted in the same
pass that decodes or encodes it: Elixir strings become ``str``, handles
become the objects they stand for, Elixir funs become callables, and any
Python result that is not plain data is stored and sent back as a handle.

Everyday values beyond plain data (dates and times, sets, decimals, UUIDs,
paths, enum members, complex numbers) are converted on paths that plain data
never takes, so they cost nothing to a payload without them: Elixir structs
reach ``struct_hook``, which the decoder calls only for maps with a
``__struct__`` key, and Python objects the encoder does not know reach its
``default`` (``Conversions._to_term``), one dictionary look-up by type.

Records (dataclasses, named tuples, pydantic models) are sent as maps of
their fields only when asked, with :func:`as_records`; by default
dataclasses and pydantic models are handles and named tuples are tuples.

Users add their own pairs of an Elixir struct and a Python class with
:func:`register` (both ways), :func:`to_elixir` or :func:`from_elixir`, in a
module the pool imports at start (the pool's ``imports`` option).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import pathlib
import sys
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import decimal

from .codec import Decoder, Encoder, text_or_bytes
from .handles import HandleTable
from .types import Atom, Export, Fun

__all__ = ["Conversions", "as_records", "elixir_struct", "from_elixir", "qualified_type", "record_fields", "register", "to_elixir"]

STRUCT = Atom("__struct__")
REF_STRUCT = Atom("Elixir.PyBridge.Ref")
BYTES_STRUCT = Atom("Elixir.PyBridge.Bytes")
NDARRAY_STRUCT = Atom("Elixir.PyBridge.NDArray")
_ID, _WORKER, _TYPE, _DATA, _DTYPE, _SHAPE = (Atom(name) for name in ("id", "worker", "type", "data", "dtype", "shape"))

_SPECIAL_ATOMS: dict[str, Any] = {"nan": math.nan, "infinity": math.inf, "neg_infinity": -math.inf}


class _Binary(bytes):
    """Bytes that travel as a plain Elixir binary (the payload inside a marked struct)."""


def qualified_type(obj: Any) -> str:
    """``module.QualName`` of an object's class, e.g. ``collections.Counter``."""
    cls = type(obj)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _as_bytes(data: Any) -> bytes:
    # A struct's payload was decoded by text_or_bytes: valid UTF-8 came out as str.
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _atom_to_python(name: str) -> Any:
    return _SPECIAL_ATOMS.get(name, name)


def _bytes_struct(data: bytes | bytearray | memoryview) -> dict[Atom, Any]:
    return {STRUCT: BYTES_STRUCT, _DATA: _Binary(data)}


def elixir_struct(module: str, **fields: Any) -> dict[Atom, Any]:
    """The term of an Elixir struct: ``elixir_struct("MyApp.Point", x=1, y=2)`` is ``%MyApp.Point{x: 1, y: 2}``.

    The module and field names travel as atoms, which Elixir accepts only if
    they exist on its node: they do once the struct's module is loaded.
    """
    name = module if module.startswith("Elixir.") else f"Elixir.{module}"
    term: dict[Atom, Any] = {STRUCT: Atom(name)}
    for key, value in fields.items():
        term[Atom(key)] = value
    return term


# -- Elixir → Python: converters by struct module, called with the struct's
# fields (keys are str, as the atom hook makes them; "__struct__" removed).

_CALENDAR_ISO = "Elixir.Calendar.ISO"


def _iso(fields: dict[str, Any]) -> bool:
    return fields.get("calendar", _CALENDAR_ISO) == _CALENDAR_ISO


def _micro(fields: dict[str, Any]) -> int:
    microsecond = fields.get("microsecond", (0, 0))
    return int(microsecond[0] if isinstance(microsecond, (tuple, list)) else microsecond)


def _date_from(fields: dict[str, Any]) -> Any:
    return dt.date(fields["year"], fields["month"], fields["day"])


def _time_from(fields: dict[str, Any]) -> Any:
    return dt.time(fields["hour"], fields["minute"], fields["second"], _micro(fields))


def _naive_from(fields: dict[str, Any]) -> Any:
    return dt.datetime(
        fields["year"], fields["month"], fields["day"], fields["hour"], fields["minute"], fields["second"], _micro(fields)
    )


def _aware_from(fields: dict[str, Any]) -> Any:
    naive = _naive_from(fields)
    zone = fields.get("time_zone")
    offset = int(fields.get("utc_offset", 0)) + int(fields.get("std_offset", 0))
    if zone == "Etc/UTC" and offset == 0:
        return naive.replace(tzinfo=dt.timezone.utc)
    if isinstance(zone, str) and "/" in zone:
        # A zone of the tz database: the same zone on the Python side, if it
        # knows it and agrees on the offset (fold picks the second of two
        # wall times that happen twice when DST ends).
        import zoneinfo  # only here: the worker need not load it to start

        try:
            tzinfo = zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tzinfo = None
        if tzinfo is not None:
            for fold in (0, 1):
                aware = naive.replace(tzinfo=tzinfo, fold=fold)
                utcoffset = aware.utcoffset()
                if utcoffset is not None and utcoffset.total_seconds() == offset:
                    return aware
    abbr = fields.get("zone_abbr")
    fixed = dt.timezone(dt.timedelta(seconds=offset), abbr) if isinstance(abbr, str) and abbr else None
    return naive.replace(tzinfo=fixed or dt.timezone(dt.timedelta(seconds=offset)))


def _when_iso(convert: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    # Only Calendar.ISO's fields mean what Python's do; other calendars stay maps.
    def checked(fields: dict[str, Any]) -> Any:
        return convert(fields) if _iso(fields) else fields

    return checked


def _mapset_from(fields: dict[str, Any]) -> Any:
    members = fields.get("map")
    # The members were map keys, so they are hashable already.
    return set(members) if isinstance(members, dict) else fields


def _decimal_from(fields: dict[str, Any]) -> decimal.Decimal:
    import decimal

    sign = 1 if fields["sign"] == -1 else 0
    coef = fields["coef"]
    if coef == "NaN":
        return decimal.Decimal("-NaN" if sign else "NaN")
    if coef == "inf":
        return decimal.Decimal("-Infinity" if sign else "Infinity")
    if type(coef) is not int or coef < 0:
        raise ValueError(f"a %Decimal{{}}'s coef must be a non-negative integer, :NaN or :inf, got: {coef!r}")
    return decimal.Decimal((sign, tuple(int(digit) for digit in str(coef)), int(fields["exp"])))


_FROM_ELIXIR: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Elixir.Date": _when_iso(_date_from),
    "Elixir.Time": _when_iso(_time_from),
    "Elixir.NaiveDateTime": _when_iso(_naive_from),
    "Elixir.DateTime": _when_iso(_aware_from),
    "Elixir.MapSet": _mapset_from,
    "Elixir.PyBridge.Timedelta": lambda fields: dt.timedelta(microseconds=fields["microseconds"]),
    "Elixir.PyBridge.Complex": lambda fields: complex(fields["real"], fields["imag"]),
    "Elixir.Decimal": _decimal_from,
}

# -- Python → Elixir: converters by class (subclasses found through the MRO).

_DATE, _TIME, _NAIVE, _DATETIME = (Atom(f"Elixir.{name}") for name in ("Date", "Time", "NaiveDateTime", "DateTime"))
_ISO = Atom(_CALENDAR_ISO)
_CALENDAR, _YEAR, _MONTH, _DAY, _HOUR, _MINUTE, _SECOND, _MICROSECOND = (
    Atom(name) for name in ("calendar", "year", "month", "day", "hour", "minute", "second", "microsecond")
)
_TIME_ZONE, _ZONE_ABBR, _UTC_OFFSET, _STD_OFFSET = (
    Atom(name) for name in ("time_zone", "zone_abbr", "utc_offset", "std_offset")
)
_MAPSET, _MAP, _VERSION = Atom("Elixir.MapSet"), Atom("map"), Atom("version")
_TIMEDELTA, _MICROSECONDS = Atom("Elixir.PyBridge.Timedelta"), Atom("microseconds")
_COMPLEX, _REAL, _IMAG = Atom("Elixir.PyBridge.Complex"), Atom("real"), Atom("imag")
_DECIMAL, _SIGN, _COEF, _EXP = Atom("Elixir.Decimal"), Atom("sign"), Atom("coef"), Atom("exp")
_NAN, _INF = Atom("NaN"), Atom("inf")


def _microsecond(value: int) -> tuple[int, int]:
    # Python keeps microseconds without a precision: 0 is "none", as in ~T[01:02:03].
    return (value, 6) if value else (0, 0)


def _date_term(value: dt.date) -> dict[Atom, Any]:
    return {STRUCT: _DATE, _CALENDAR: _ISO, _YEAR: value.year, _MONTH: value.month, _DAY: value.day}


def _time_term(value: dt.time) -> dict[Atom, Any]:
    return {
        STRUCT: _TIME,
        _CALENDAR: _ISO,
        _HOUR: value.hour,
        _MINUTE: value.minute,
        _SECOND: value.second,
        _MICROSECOND: _microsecond(value.microsecond),
    }


def _datetime_term(value: dt.datetime) -> Any:
    if type(value).__name__ == "NaTType":  # pandas' missing timestamp
        return None
    term = {
        STRUCT: _NAIVE,
        _CALENDAR: _ISO,
        _YEAR: value.year,
        _MONTH: value.month,
        _DAY: value.day,
        _HOUR: value.hour,
        _MINUTE: value.minute,
        _SECOND: value.second,
        _MICROSECOND: _microsecond(value.microsecond),
    }
    offset = value.utcoffset()
    if offset is None:
        return term
    dst = value.dst() or dt.timedelta(0)
    tzinfo = value.tzinfo
    abbr = value.tzname() or ""
    if (offset == dt.timedelta(0) and tzinfo == dt.timezone.utc) or getattr(tzinfo, "key", None) == "UTC":
        zone, abbr = "Etc/UTC", "UTC"
    else:
        # A zone of the tz database keeps its name (zoneinfo's key, pytz's
        # zone); a fixed offset is named as Python names it ("UTC+02:00").
        zone = getattr(tzinfo, "key", None) or getattr(tzinfo, "zone", None) or abbr
    term[STRUCT] = _DATETIME
    term[_TIME_ZONE] = zone
    term[_ZONE_ABBR] = abbr
    term[_UTC_OFFSET] = int((offset - dst).total_seconds())
    term[_STD_OFFSET] = int(dst.total_seconds())
    return term


def _timedelta_term(value: dt.timedelta) -> Any:
    if type(value).__name__ == "NaTType":
        return None
    microseconds = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    return {STRUCT: _TIMEDELTA, _MICROSECONDS: microseconds}


def _set_term(value: set[Any] | frozenset[Any]) -> dict[Atom, Any]:
    # MapSet's own layout (Elixir 1.x): every member a key with the value [].
    return {STRUCT: _MAPSET, _MAP: dict.fromkeys(value, []), _VERSION: 2}


def _decimal_term(value: decimal.Decimal) -> dict[Atom, Any]:
    # The layout of the `decimal` package's %Decimal{}: exact, never a float.
    sign, digits, exponent = value.as_tuple()
    coef: Any
    if value.is_nan():
        coef, exponent = _NAN, 0
    elif value.is_infinite():
        coef, exponent = _INF, 0
    else:
        coef = int("".join(map(str, digits)) or "0")
    return {STRUCT: _DECIMAL, _SIGN: -1 if sign else 1, _COEF: coef, _EXP: exponent}


_TO_ELIXIR: dict[type, Callable[[Any], Any]] = {
    dt.datetime: _datetime_term,  # before date: a datetime is a date
    dt.date: _date_term,
    dt.time: _time_term,
    dt.timedelta: _timedelta_term,
    set: _set_term,
    frozenset: _set_term,
    complex: lambda value: {STRUCT: _COMPLEX, _REAL: value.real, _IMAG: value.imag},
    pathlib.PurePath: str,
    enum.Enum: lambda member: member.value,
}
# The same by "module.QualName", for classes of modules the worker does not
# import to start: an object of one exists only once its module is loaded.
_TO_ELIXIR_BY_NAME: dict[str, Callable[[Any], Any]] = {
    "decimal.Decimal": _decimal_term,
    "uuid.UUID": str,
}

# Converter by exact type, the MRO walked once per type: None means "no
# conversion" (a handle, or a record). Cleared when a conversion is registered.
_by_type: dict[type, Callable[[Any], Any] | None] = {}
_BY_TYPE_LIMIT = 4096


def _converter(cls: type) -> Callable[[Any], Any] | None:
    try:
        return _by_type[cls]
    except KeyError:
        pass
    found = None
    for base in cls.__mro__:
        found = _TO_ELIXIR.get(base) or _TO_ELIXIR_BY_NAME.get(f"{base.__module__}.{base.__qualname__}")
        if found is not None:
            break
    if len(_by_type) < _BY_TYPE_LIMIT:
        _by_type[cls] = found
    return found


def to_elixir(cls: type, convert: Callable[[Any], Any]) -> None:
    """Send instances of ``cls`` (and its subclasses) to Elixir as ``convert(obj)``.

    ``convert`` returns any value the bridge can send, e.g. an
    :func:`elixir_struct`. It takes precedence over the built-in conversions.
    """
    if not isinstance(cls, type) or not callable(convert):
        raise TypeError(f"to_elixir takes a class and a function, got: {cls!r}, {convert!r}")
    _TO_ELIXIR[cls] = convert
    _by_type.clear()


def from_elixir(module: str, convert: Callable[[dict[str, Any]], Any]) -> None:
    """Give Python ``convert(fields)`` for each ``%Module{}`` struct that Elixir sends.

    ``module`` is the Elixir module (``"MyApp.Point"``); ``fields`` is a dict
    of the struct's fields by name, values already converted.
    """
    if not isinstance(module, str) or not module or not callable(convert):
        raise TypeError(f"from_elixir takes a module name and a function, got: {module!r}, {convert!r}")
    _FROM_ELIXIR[module if module.startswith("Elixir.") else f"Elixir.{module}"] = convert


def register(cls: type, module: str) -> None:
    """Pair a Python class with an Elixir struct, both ways.

    Instances of ``cls`` reach Elixir as ``%Module{}`` with the instance's
    fields (:func:`record_fields`); ``%Module{}`` reaches Python as
    ``cls(**fields)``. Use :func:`to_elixir` and :func:`from_elixir` for
    anything else.
    """
    to_elixir(cls, lambda obj: elixir_struct(module, **record_fields(obj)))
    from_elixir(module, lambda fields: cls(**fields))


# -- records: dataclasses, named tuples, pydantic models as maps of their fields


def _is_namedtuple(cls: type) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_asdict")


def record_fields(obj: Any) -> dict[str, Any]:
    """The fields of a record by name: a dataclass, a named tuple, a pydantic model, else its ``__dict__``."""
    cls = type(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {field.name: getattr(obj, field.name) for field in dataclasses.fields(obj)}
    if _is_namedtuple(cls):
        return dict(zip(getattr(cls, "_fields"), obj))
    model_fields = getattr(cls, "model_fields", None)  # pydantic 2
    if isinstance(model_fields, dict) and "pydantic" in sys.modules:
        return {name: getattr(obj, name) for name in model_fields}
    return dict(vars(obj))


def as_records(value: Any) -> Any:
    """``value`` with its records as dicts of their fields, at any depth.

    Records are dataclass instances, named tuples and pydantic models
    (``TypedDict``s are dicts already). Lists, tuples and dict values are
    rebuilt around the converted records; anything else is left as it is
    (and converted as usual when it is sent). This is what Elixir asks for
    with ``PyBridge.Values.as_map/2``.
    """
    return _as_records(value, set())


def _as_records(value: Any, path: set[int]) -> Any:
    cls = type(value)
    if cls in _LEAVES:
        return value
    if id(value) in path:
        raise ValueError(f"a {qualified_type(value)} contains itself: it cannot be sent as a map of its fields")
    path.add(id(value))
    try:
        if isinstance(value, dict):
            return {key: _as_records(item, path) for key, item in value.items()}
        if isinstance(value, list):
            return [_as_records(item, path) for item in value]
        if _converter(cls) is not None:
            return value  # a value with a conversion of its own (a registered record too)
        if _is_namedtuple(cls) or _is_record(value):
            return {name: _as_records(item, path) for name, item in record_fields(value).items()}
        if isinstance(value, tuple):
            return tuple(_as_records(item, path) for item in value)
        return value
    finally:
        path.discard(id(value))


_LEAVES = frozenset({str, int, float, bool, type(None), bytes})


def _is_record(obj: Any) -> bool:
    if dataclasses.is_dataclass(type(obj)):
        return True
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(obj, pydantic.BaseModel)


class Conversions:
    """Per-worker codec configuration; each thread gets its own encoder and decoder."""

    def __init__(self, handles: HandleTable, callback: Callable[[Fun | Export], Callable[..., Any]]) -> None:
        self._handles = handles
        self._callback = callback
        self._local = threading.local()

    # -- Elixir → Python ---------------------------------------------------

    def decode(self, frame: bytes | memoryview) -> Any:
        """Decode a whole frame into Python values; trailing bytes are an error."""
        decoder = self._decoder()
        term, tail = decoder.decode(frame)
        if len(tail):
            raise ValueError(f"{len(tail)} bytes after the end of the term")
        return term

    def _decoder(self) -> Decoder:
        try:
            return self._local.decoder
        except AttributeError:  # this thread's first frame
            # Both built in: no Python call per binary, nor per map that is not a struct.
            decoder = Decoder(
                atom_hook=_atom_to_python,
                binary_hook=text_or_bytes,
                struct_hook=self._from_struct,
                fun_hook=self._callback,
            )
            self._local.decoder = decoder
            return decoder

    def _from_struct(self, term: dict[Any, Any]) -> Any:
        # The atom hook made the key "__struct__" (and the module names str).
        struct = term["__struct__"]
        if struct == "Elixir.PyBridge.Ref":
            return self._handles.get(term.get("id"), term.get("worker"))
        if struct == "Elixir.PyBridge.Bytes":
            return _as_bytes(term["data"])
        if struct == "Elixir.PyBridge.NDArray":
            import numpy

            shape = term["shape"]
            array = numpy.frombuffer(bytearray(_as_bytes(term["data"])), dtype=numpy.dtype(term["dtype"]))
            return array.reshape(shape if isinstance(shape, tuple) else tuple(shape))
        del term["__struct__"]  # any other struct: its fields, without the noise
        convert = _FROM_ELIXIR.get(struct)
        return term if convert is None else convert(term)

    # -- Python → Elixir ---------------------------------------------------

    def encode(self, term: Any, scope: Hashable = None) -> bytes:
        """Encode a frame; objects that are not plain data become handles in ``scope``."""
        local = self._local
        try:
            encoder: Encoder = local.encoder
        except AttributeError:
            encoder = Encoder(
                default=self._to_term,
                overrides={bytes: _bytes_struct, bytearray: _bytes_struct, memoryview: _bytes_struct},
            )
            local.encoder = encoder
        local.scope = scope  # for _to_term, which the encoder calls without it
        return encoder.encode(term)

    def handle(self, obj: Any, scope: Hashable) -> dict[Atom, Any]:
        """Store ``obj`` in ``scope`` and return the handle Elixir receives."""
        handle = self._handles.put(obj, scope)
        return {STRUCT: REF_STRUCT, _ID: handle, _WORKER: self._handles.token, _TYPE: qualified_type(obj)}

    def _to_term(self, obj: Any) -> Any:
        # Called only for objects the encoder does not know: plain data never comes here.
        to_term = getattr(obj, "__pybridge_term__", None)
        if to_term is not None:
            return to_term()
        convert = _converter(type(obj))
        if convert is not None:
            return convert(obj)
        numpy = _numpy_if_loaded()
        if numpy is not None:
            if isinstance(obj, numpy.ndarray) and obj.dtype.kind in "biufc" and not obj.dtype.hasobject:
                array = numpy.ascontiguousarray(obj)
                return {
                    STRUCT: NDARRAY_STRUCT,
                    _DTYPE: array.dtype.str if array.dtype.byteorder not in "=|" else array.dtype.name,
                    _SHAPE: tuple(array.shape),
                    _DATA: _Binary(array.tobytes()),
                }
            if isinstance(obj, numpy.generic):
                return _numpy_scalar(numpy, obj)
        return self.handle(obj, self._local.scope)


def _numpy_scalar(numpy: Any, obj: Any) -> Any:
    if isinstance(obj, numpy.datetime64):
        if numpy.isnat(obj):
            return None
        # Days and coarser units are dates; finer ones a naive datetime, at
        # most microseconds (an Elixir NaiveDateTime's precision).
        unit = numpy.datetime_data(obj.dtype)[0]
        return obj.astype("datetime64[D]" if unit in ("Y", "M", "W", "D") else "datetime64[us]").item()
    if isinstance(obj, numpy.timedelta64):
        return None if numpy.isnat(obj) else obj.astype("timedelta64[us]").item()
    return obj.item()


def _numpy_if_loaded() -> Any:
    # Only user code imports numpy; a worker that never saw it need not load it.
    # While another thread is still importing it, sys.modules holds a partly
    # initialised module without `ndarray`: no array can be here yet.
    numpy = sys.modules.get("numpy")
    return numpy if hasattr(numpy, "ndarray") and hasattr(numpy, "generic") else None
