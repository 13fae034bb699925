"""The ETF codec: byte vectors per tag, round-trip properties, hooks, hostile input.

The cross-check with real Erlang lives in test_codec_erlang.py.
"""

from __future__ import annotations

import collections
import enum
import math
import struct
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybridge_port import codec
from pybridge_port.codec import CodecError, Decoder, Encoder, IncompleteData, decode, encode, text_or_bytes
from pybridge_port.types import Atom, BitBinary, Export, Fun, ImproperList, Pid, Port, Reference

TAIL = b"XYZ"


@pytest.fixture(scope="module", autouse=True, params=["accelerated", "pure"] if codec.ACCELERATED else ["pure"])
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test in this module runs on the C accelerator (when in use) and on the pure-Python reference."""
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "pure":
            patch.setattr(codec, "_accelerator", None)
            patch.setattr(codec, "_DEFAULT_DECODER", Decoder())
            patch.setattr(codec, "_DEFAULT_ENCODER", Encoder())
        yield request.param


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def new_fun(module: str = "foo", arity: int = 1, free: tuple[Any, ...] = (42,), uniq: bytes = b"\x07" * 16) -> bytes:
    """A well-formed NEW_FUN_EXT term (without the version byte)."""
    body = (
        bytes((arity,))
        + uniq
        + u32(3)  # Index
        + u32(len(free))
        + encode(Atom(module))[1:]
        + b"a\x00"  # OldIndex
        + b"b\x00\x00\x00\x09"  # OldUniq
        + encode(Pid(Atom("nonode@nohost"), 96, 0, 0))[1:]
        + b"".join(encode(value)[1:] for value in free)
    )
    return b"p" + u32(4 + len(body)) + body


def old_fun(module: str = "foo", free: tuple[Any, ...] = (3,)) -> bytes:
    """A well-formed old FUN_EXT term (without the version byte)."""
    return (
        b"u"
        + u32(len(free))
        + encode(Pid(Atom("nonode@nohost"), 96, 0, 0))[1:]
        + encode(Atom(module))[1:]
        + b"a\x01"  # Index
        + b"a\x02"  # Uniq
        + b"".join(encode(value)[1:] for value in free)
    )


NEW_FUN = new_fun()
OLD_FUN = old_fun()

# (name, bytes without the version byte, decoded value, whether encode() gives these very bytes)
VECTORS: list[tuple[str, bytes, Any, bool]] = [
    ("SMALL_INTEGER_EXT 0", b"a\x00", 0, True),
    ("SMALL_INTEGER_EXT 255", b"a\xff", 255, True),
    ("INTEGER_EXT 256", b"b\x00\x00\x01\x00", 256, True),
    ("INTEGER_EXT -1", b"b\xff\xff\xff\xff", -1, True),
    ("INTEGER_EXT min", b"b\x80\x00\x00\x00", -(2**31), True),
    ("INTEGER_EXT max", b"b\x7f\xff\xff\xff", 2**31 - 1, True),
    ("SMALL_BIG_EXT 2**31", b"n\x04\x00\x00\x00\x00\x80", 2**31, True),
    ("SMALL_BIG_EXT -2**31-1", b"n\x04\x01\x01\x00\x00\x80", -(2**31) - 1, True),
    ("SMALL_BIG_EXT 2**64", b"n\x09\x00" + b"\x00" * 8 + b"\x01", 2**64, True),
    ("SMALL_BIG_EXT -(2**64-1)", b"n\x08\x01" + b"\xff" * 8, -(2**64 - 1), True),
    ("SMALL_BIG_EXT 2**2039", b"n\xff\x00" + b"\x00" * 254 + b"\x80", 2**2039, True),
    ("LARGE_BIG_EXT 2**2048", b"o\x00\x00\x01\x01\x00" + b"\x00" * 256 + b"\x01", 2**2048, True),
    ("LARGE_BIG_EXT -2**2048", b"o\x00\x00\x01\x01\x01" + b"\x00" * 256 + b"\x01", -(2**2048), True),
    ("NEW_FLOAT_EXT 1.5", b"F?\xf8\x00\x00\x00\x00\x00\x00", 1.5, True),
    ("NEW_FLOAT_EXT -0.1", b"F" + struct.pack(">d", -0.1), -0.1, True),
    ("FLOAT_EXT 1.5", b"c1.50000000000000000000e+00\x00\x00\x00\x00\x00", 1.5, False),
    ("FLOAT_EXT -2.5e-300", b"c-2.50000000000000000000e-300\x00\x00\x00", -2.5e-300, False),
    ("SMALL_ATOM_UTF8_EXT", b"w\x02ok", Atom("ok"), True),
    ("SMALL_ATOM_UTF8_EXT non-latin-1", b"w\x06\xe6\x97\xa5\xe6\x9c\xac", Atom("日本"), True),
    ("ATOM_UTF8_EXT", b"v\x01\x2c" + "日".encode() * 100, Atom("日" * 100), True),
    ("ATOM_UTF8_EXT short", b"v\x00\x02ok", Atom("ok"), False),
    ("ATOM_EXT", b"d\x00\x02ok", Atom("ok"), False),
    ("ATOM_EXT latin-1", b"d\x00\x05h\xe9llo", Atom("héllo"), False),
    ("SMALL_ATOM_EXT", b"s\x02ok", Atom("ok"), False),
    ("SMALL_ATOM_EXT latin-1", b"s\x05h\xe9llo", Atom("héllo"), False),
    ("atom nil", b"w\x03nil", None, True),
    ("atom true", b"w\x04true", True, True),
    ("atom false", b"w\x05false", False, True),
    ("ATOM_EXT true", b"d\x00\x04true", True, False),
    ("SMALL_ATOM_EXT false", b"s\x05false", False, False),
    ("ATOM_UTF8_EXT nil", b"v\x00\x03nil", None, False),
    ("SMALL_TUPLE_EXT", b"h\x02a\x01a\x02", (1, 2), True),
    ("SMALL_TUPLE_EXT empty", b"h\x00", (), True),
    ("LARGE_TUPLE_EXT", b"i\x00\x00\x01\x00" + b"".join(bytes((97, n)) for n in range(256)), tuple(range(256)), True),
    ("LARGE_TUPLE_EXT empty", b"i\x00\x00\x00\x00", (), False),
    ("NIL_EXT", b"j", [], True),
    ("STRING_EXT", b"k\x00\x03abc", [97, 98, 99], False),
    ("STRING_EXT empty", b"k\x00\x00", [], False),
    ("LIST_EXT", b"l\x00\x00\x00\x02a\x01a\x02j", [1, 2], True),
    ("LIST_EXT nested", b"l\x00\x00\x00\x01l\x00\x00\x00\x01jjj", [[[]]], True),
    ("LIST_EXT improper", b"l\x00\x00\x00\x02a\x01a\x02w\x01t", ImproperList([1, 2], Atom("t")), True),
    ("LIST_EXT improper, tuple tail", b"l\x00\x00\x00\x01a\x01h\x00", ImproperList([1], ()), True),
    ("LIST_EXT with a STRING_EXT tail", b"l\x00\x00\x00\x01a\x01k\x00\x01b", [1, 98], False),
    ("BINARY_EXT", b"m\x00\x00\x00\x03abc", b"abc", True),
    ("BINARY_EXT empty", b"m\x00\x00\x00\x00", b"", True),
    ("BIT_BINARY_EXT", b"M\x00\x00\x00\x01\x03\xe0", BitBinary(b"\xe0", 3), True),
    ("BIT_BINARY_EXT padding bits set", b"M\x00\x00\x00\x02\x01\xff\xff", BitBinary(b"\xff\x80", 1), False),
    ("BIT_BINARY_EXT 8 bits is a binary", b"M\x00\x00\x00\x01\x08\xff", b"\xff", False),
    ("MAP_EXT", b"t\x00\x00\x00\x01w\x01aa\x01", {Atom("a"): 1}, True),
    ("MAP_EXT empty", b"t\x00\x00\x00\x00", {}, True),
    (
        "MAP_EXT tuple key",
        b"t\x00\x00\x00\x01h\x02a\x01m\x00\x00\x00\x01xl\x00\x00\x00\x01a\x02j",
        {(1, b"x"): [2]},
        True,
    ),
    (
        "NEW_PID_EXT",
        b"Xw\x0dnonode@nohost\x00\x00\x00\x60\x00\x00\x00\x00\x00\x00\x00\x00",
        Pid(Atom("nonode@nohost"), 96, 0, 0),
        True,
    ),
    (
        "NEW_PID_EXT as OTP 25 writes it",
        b"Xd\x00\x0dnonode@nohost\x00\x00\x00\x60\x00\x00\x00\x00\x65\x43\x21\x10",
        Pid(Atom("nonode@nohost"), 96, 0, 0x65432110),
        False,
    ),
    ("PID_EXT", b"gd\x00\x01n\x00\x00\x00\x05\x00\x00\x00\x06\x03", Pid(Atom("n"), 5, 6, 3), False),
    ("NEW_PORT_EXT", b"Yw\x01n\x00\x00\x00\x05\x00\x00\x00\x02", Port(Atom("n"), 5, 2), True),
    ("V4_PORT_EXT", b"xw\x01n\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02", Port(Atom("n"), 2**40, 2), True),
    ("V4_PORT_EXT small id", b"xw\x01n" + b"\x00" * 7 + b"\x05\x00\x00\x00\x02", Port(Atom("n"), 5, 2), False),
    ("PORT_EXT", b"fd\x00\x01n\x00\x00\x00\x05\x01", Port(Atom("n"), 5, 1), False),
    (
        "NEWER_REFERENCE_EXT",
        b"Z\x00\x02w\x01n\x00\x00\x00\x01\x00\x00\x00\x07\x00\x00\x00\x08",
        Reference(Atom("n"), 1, (7, 8)),
        True,
    ),
    (
        "NEW_REFERENCE_EXT",
        b"r\x00\x02d\x00\x01n\x01\x00\x00\x00\x07\x00\x00\x00\x08",
        Reference(Atom("n"), 1, (7, 8)),
        False,
    ),
    ("REFERENCE_EXT", b"ed\x00\x01n\x00\x00\x00\x07\x01", Reference(Atom("n"), 1, (7,)), False),
    ("EXPORT_EXT", b"qw\x0bElixir.Enumw\x03mapa\x02", Export(Atom("Elixir.Enum"), Atom("map"), 2), True),
    (
        "EXPORT_EXT as OTP 25 writes it",
        b"qd\x00\x06erlangd\x00\x07is_atoma\x01",
        Export(Atom("erlang"), Atom("is_atom"), 1),
        False,
    ),
    ("NEW_FUN_EXT", NEW_FUN, Fun(NEW_FUN, Atom("foo"), 1), True),
    ("FUN_EXT", OLD_FUN, Fun(OLD_FUN, Atom("foo"), None), True),
]


def strictly_equal(a: Any, b: Any) -> bool:
    """Equality that also requires equal types all the way down (1 != 1.0 != True here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        b_items = list(b.items())
        return all(
            any(strictly_equal(k, k2) and strictly_equal(v, v2) for k2, v2 in b_items) for k, v in a.items()
        )
    if isinstance(a, ImproperList):
        return strictly_equal(a.items, b.items) and strictly_equal(a.tail, b.tail)
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


class TestVectors:
    @pytest.mark.parametrize("name, data, value, canonical", VECTORS, ids=[v[0] for v in VECTORS])
    def test_decode(self, name: str, data: bytes, value: Any, canonical: bool) -> None:
        term, tail = decode(b"\x83" + data + TAIL)
        assert strictly_equal(term, value), (term, value)
        assert tail == TAIL

    @pytest.mark.parametrize(
        "name, data, value", [v[:3] for v in VECTORS if v[3]], ids=[v[0] for v in VECTORS if v[3]]
    )
    def test_encode(self, name: str, data: bytes, value: Any) -> None:
        assert encode(value) == b"\x83" + data

    def test_decode_accepts_bytearray_and_memoryview(self) -> None:
        assert decode(bytearray(b"\x83a\x01XYZ")) == (1, b"XYZ")
        assert decode(memoryview(b"__\x83a\x01XYZ")[2:]) == (1, b"XYZ")

    def test_the_documented_example(self) -> None:
        assert decode(b"\x83a\x01XYZ") == (1, b"XYZ")

    def test_non_finite_floats_become_atoms(self) -> None:
        assert encode(math.nan) == b"\x83w\x03nan"
        assert encode(math.inf) == b"\x83w\x08infinity"
        assert encode(-math.inf) == b"\x83w\x0cneg_infinity"
        assert encode(-0.0) == b"\x83F\x80" + b"\x00" * 7

    def test_python_only_types(self) -> None:
        assert encode("hé") == b"\x83m\x00\x00\x00\x03h\xc3\xa9"
        assert encode(bytearray(b"ab")) == encode(b"ab") == encode(memoryview(b"ab"))
        assert encode(memoryview(b"abcdef")[::2]) == encode(b"ace")  # not contiguous
        assert encode(memoryview(struct.pack("=2H", 1, 2)).cast("H")) == encode(struct.pack("=2H", 1, 2))
        assert encode([1, "a"]) == b"\x83l\x00\x00\x00\x02a\x01m\x00\x00\x00\x01aj"
        assert encode(tuple(range(300)))[:6] == b"\x83i\x00\x00\x01\x2c"

    def test_subclasses_encode_as_their_base(self) -> None:
        class Color(enum.IntEnum):
            RED = 1
            HUGE = 2**70

        class Point(NamedTuple):
            x: int
            y: int

        class Text(str):
            pass

        class Blob(bytes):
            pass

        class Real(float):
            pass

        assert encode(Color.RED) == encode(1)
        assert encode(Color.HUGE) == encode(2**70)
        assert encode(Point(1, 2)) == encode((1, 2))
        assert encode(collections.OrderedDict(a=1)) == encode({"a": 1})
        assert encode(collections.defaultdict(list, a=[1])) == encode({"a": [1]})
        assert encode(Text("x")) == encode("x")
        assert encode(Blob(b"x")) == encode(b"x")
        assert encode(Real(2.5)) == encode(2.5)
        assert encode(Real("nan")) == encode(math.nan)
        assert encode(True) == b"\x83w\x04true"

    def test_compressed(self) -> None:
        term = {"text": "abc" * 1000, "list": list(range(100))}
        plain = encode(term)
        data = encode(term, compressed=True)
        assert data[:2] == b"\x83P"
        assert data[2:6] == u32(len(plain) - 1)
        assert zlib.decompress(data[6:]) == plain[1:]
        assert len(data) < len(plain)
        assert decode(data + TAIL) == decode(plain + TAIL)
        assert encode(term, compressed=9)[6:] == zlib.compress(plain[1:], 9)
        assert encode(term, compressed=0) == encode(term, compressed=False) == plain
        # Even when it does not pay, compression was asked for and is done.
        assert decode(encode(1, compressed=True) + TAIL) == (1, TAIL)
        for bad in (10, -1, 1.5, "6"):
            with pytest.raises(ValueError, match="compressed"):
                encode(1, compressed=bad)  # type: ignore[arg-type]

    def test_fun_keeps_its_bytes(self) -> None:
        fun = decode(b"\x83" + new_fun("Elixir.Mod", 2, (1, "two", [3]), b"\x01" * 16))[0]
        assert isinstance(fun, Fun)
        assert (fun.module, fun.arity) == (Atom("Elixir.Mod"), 2)
        assert encode(fun) == b"\x83" + fun.data

    def test_tag_constants_have_the_spec_names(self) -> None:
        assert (codec.SMALL_ATOM_UTF8_EXT, codec.NEW_PID_EXT, codec.NEWER_REFERENCE_EXT) == (119, 88, 90)
        assert (codec.V4_PORT_EXT, codec.BIT_BINARY_EXT, codec.COMPRESSED, codec.LOCAL_EXT) == (120, 77, 80, 121)


# -- Round trips ------------------------------------------------------------------

NAMES = st.text(max_size=20).filter(lambda s: s not in ("nil", "true", "false"))
atoms = st.builds(Atom, NAMES)
small_ints = st.integers(min_value=0, max_value=2**32 - 1)
pids = st.builds(Pid, atoms, small_ints, small_ints, small_ints)
ports = st.builds(Port, atoms, st.integers(min_value=0, max_value=2**64 - 1), small_ints)
references = st.builds(Reference, atoms, small_ints, st.lists(small_ints, min_size=1, max_size=5).map(tuple))
exports = st.builds(Export, atoms, atoms, st.integers(min_value=0, max_value=255))
bit_binaries = st.builds(BitBinary, st.binary(min_size=1, max_size=10), st.integers(min_value=1, max_value=7))
ints = st.integers() | st.integers(min_value=-(2**70), max_value=2**70) | st.integers(min_value=-3, max_value=300)
floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = (
    st.none() | st.booleans() | ints | floats | st.text() | st.binary() | atoms
    | pids | ports | references | exports | bit_binaries
)
# Keys that survive as dict keys, and never two that encode alike ("a" and b"a").
hashable = st.recursive(scalars, lambda inner: st.tuples(inner, inner), max_leaves=4)


def _distinct_keys(d: dict[Any, Any]) -> bool:
    return len({encode(k) for k in d}) == len(d)


def _funs(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Fun]:
    return st.builds(
        lambda free, arity: decode(b"\x83" + new_fun("m", arity, tuple(free)))[0],
        st.lists(inner, max_size=3),
        st.integers(min_value=0, max_value=255),
    )


terms = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.lists(inner, max_size=6).map(tuple)
        | st.dictionaries(hashable, inner, max_size=5).filter(_distinct_keys)
        | st.builds(ImproperList, st.lists(inner, min_size=1, max_size=4), scalars)
        | _funs(inner)
    ),
    max_leaves=40,
)

STRUCT = Atom("__struct__")
# Elixir-like data for text binaries and structs: keys that repeat from map to
# map (short, long, non-ASCII, not UTF-8), "__struct__" as an atom and as a
# binary, structs inside structs.
_texts = st.binary(max_size=5) | st.sampled_from(
    [b"id", b"name", b"__struct__", "é".encode(), b"\xff", b"k" * 16, b"k" * 17]
)
struct_terms = st.recursive(
    _texts | st.integers(min_value=0, max_value=3) | st.sampled_from([STRUCT, Atom("Elixir.Date"), None]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_texts | st.sampled_from([STRUCT, Atom("id")]), inner, max_size=4)
        | st.builds(lambda fields, name: {**fields, STRUCT: name}, st.dictionaries(_texts, inner, max_size=3), inner)
    ),
    max_leaves=30,
)


def as_decoded(value: Any) -> Any:
    """What decode(encode(value)) gives: str becomes bytes (a binary), the rest stays."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list):
        return [as_decoded(v) for v in value]
    if isinstance(value, tuple):
        return tuple(as_decoded(v) for v in value)
    if isinstance(value, dict):
        return {as_decoded(k): as_decoded(v) for k, v in value.items()}
    if isinstance(value, ImproperList):
        return ImproperList(as_decoded(value.items), as_decoded(value.tail))
    return value


ROUND_TRIP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class TestRoundTrip:
    @ROUND_TRIP
    @given(terms)
    def test_decode_inverts_encode(self, value: Any) -> None:
        data = encode(value)
        term, tail = decode(data + TAIL)
        assert tail == TAIL
        assert strictly_equal(term, as_decoded(value))

    @ROUND_TRIP
    @given(terms, st.sampled_from([True, 1, 9]))
    def test_compressed_round_trip(self, value: Any, level: bool | int) -> None:
        assert strictly_equal(decode(encode(value, compressed=level))[0], as_decoded(value))

    @ROUND_TRIP
    @given(terms)
    def test_reencoding_is_stable(self, value: Any) -> None:
        data = encode(value)
        assert encode(decode(data)[0]) == data

    @settings(ROUND_TRIP, max_examples=40)
    @given(terms)
    def test_every_truncation_is_incomplete(self, value: Any) -> None:
        data = encode(value)
        for end in range(len(data)):
            with pytest.raises(IncompleteData):
                decode(data[:end])


# -- Hooks and overrides ----------------------------------------------------------


class TestHooks:
    def test_atom_hook_is_called_once_per_name(self) -> None:
        calls: list[str] = []

        def hook(name: str) -> str:
            calls.append(name)
            return name.upper()

        decoder = Decoder(atom_hook=hook)
        data = encode([Atom("a"), Atom("b"), Atom("a"), None, True, False, Atom("日本")])
        assert decoder.decode(data) == (["A", "B", "A", None, True, False, "日本"], b"")
        assert decoder.decode(b"\x83l\x00\x00\x00\x02d\x00\x01as\x01bj") == (["A", "B"], b"")
        assert calls == ["a", "b", "日本", "a", "b"]  # one cache per encoding (UTF-8, Latin-1)
        assert Decoder().decode(data)[0][0] == Atom("a")  # another decoder, no hook

    def test_binary_hook(self) -> None:
        decoder = Decoder(binary_hook=lambda b: b.decode("utf-8", "replace"))
        data = encode({"k": [b"\xff", "é"], "bits": BitBinary(b"\x80", 1)})
        assert decoder.decode(data)[0] == {"k": ["\ufffd", "é"], "bits": BitBinary(b"\x80", 1)}
        # A bitstring of whole bytes is a binary, and goes through the hook too.
        assert decoder.decode(b"\x83M\x00\x00\x00\x01\x08a")[0] == "a"

    def test_map_hook_sees_inner_maps_first(self) -> None:
        seen: list[Any] = []

        def hook(d: dict[Any, Any]) -> Any:
            seen.append(d)
            return sorted(d.items(), key=repr)

        decoder = Decoder(map_hook=hook, binary_hook=bytes.decode)
        term = decoder.decode(encode({"outer": {"inner": 1}, "empty": {}}))[0]
        assert seen[:2] == [{"inner": 1}, {}]
        assert term == [("empty", []), ("outer", [("inner", 1)])]

    def test_text_or_bytes_is_an_ordinary_function_too(self) -> None:
        assert text_or_bytes(b"h\xc3\xa9") == "hé"
        assert text_or_bytes(b"\xff") == b"\xff"

    @pytest.mark.parametrize(
        "data, value",
        [
            (b"m\x00\x00\x00\x03abc", "abc"),
            (b"m\x00\x00\x00\x00", ""),
            (b"m\x00\x00\x00\x06\xe6\x97\xa5\xe6\x9c\xac", "日本"),
            (b"m\x00\x00\x00\x01\xff", b"\xff"),  # never in UTF-8
            (b"m\x00\x00\x00\x02h\xc3", b"h\xc3"),  # a sequence cut short
            (b"m\x00\x00\x00\x02\xc0\xaf", b"\xc0\xaf"),  # overlong
            (b"m\x00\x00\x00\x03\xed\xa0\x80", b"\xed\xa0\x80"),  # a surrogate
            (b"M\x00\x00\x00\x01\x08a", "a"),  # whole bytes: a binary
            (b"M\x00\x00\x00\x01\x03\xe0", BitBinary(b"\xe0", 3)),
            (b"w\x02ok", Atom("ok")),  # atoms are not binaries
            (b"k\x00\x02ab", [97, 98]),  # nor are charlists
        ],
    )
    def test_text_binaries(self, data: bytes, value: Any) -> None:
        assert strictly_equal(Decoder(binary_hook=text_or_bytes).decode(b"\x83" + data + TAIL), (value, TAIL))

    def test_text_map_keys(self) -> None:
        # Keys repeat from map to map (the C decoder reuses their str objects): each must come out right.
        maps = [
            {b"id": b"1", b"name": b"\xff", "é".encode(): b"id"},
            {b"id": b"2", b"\xff": b"name", b"": 0},
            {b"k" * 16: 1, b"k" * 17: 2, b"K" * 16: 3},
            {(b"id",): b"id", 1: [b"name"]},
        ]
        expected = [
            {"id": "1", "name": b"\xff", "é": "id"},
            {"id": "2", b"\xff": "name", "": 0},
            {"k" * 16: 1, "k" * 17: 2, "K" * 16: 3},
            {("id",): "id", 1: ["name"]},
        ]
        decoder = Decoder(binary_hook=text_or_bytes)
        for _ in range(2):
            assert strictly_equal(decoder.decode(encode(maps * 3))[0], expected * 3)

    def test_struct_hook_sees_only_structs_inner_first(self) -> None:
        seen: list[Any] = []

        def hook(d: dict[Any, Any]) -> Any:
            seen.append(d)
            return ("struct", d[STRUCT])

        date = {STRUCT: Atom("Elixir.Date"), Atom("day"): 2}
        outer = {STRUCT: Atom("Elixir.Outer"), Atom("inner"): date, Atom("plain"): {Atom("day"): 3}}
        term = Decoder(struct_hook=hook).decode(encode([outer, {b"__struct__": 1}, {}, {Atom("a"): date}]))[0]
        inner = ("struct", Atom("Elixir.Date"))
        assert term == [("struct", Atom("Elixir.Outer")), {b"__struct__": 1}, {}, {Atom("a"): inner}]
        assert seen == [date, {**outer, Atom("inner"): inner}, date]

    def test_struct_key_in_every_atom_encoding(self) -> None:
        calls: list[str] = []

        def atom_hook(name: str) -> str:
            calls.append(name)
            return name

        decoder = Decoder(atom_hook=atom_hook, struct_hook=lambda d: d["__struct__"])
        assert calls == ["__struct__"]  # made when the decoder is built, and cached under both encodings
        for key in (b"w\x0a", b"d\x00\x0a", b"v\x00\x0a", b"s\x0a"):
            assert decoder.decode(b"\x83t\x00\x00\x00\x01" + key + b"__struct__w\x01S")[0] == "S"
        assert calls == ["__struct__", "S"]

    def test_struct_key_is_compared_as_decoded(self) -> None:
        # Names as str and binaries as text: the binary "__struct__" is then the same key as the atom.
        decoder = Decoder(atom_hook=str, binary_hook=text_or_bytes, struct_hook=lambda d: "struct")
        data = encode([{b"__struct__": 1}, {STRUCT: 1}, {b"__struct": 1}, {Atom("__struct"): 1}])
        assert decoder.decode(data)[0] == ["struct", "struct", {"__struct": 1}, {"__struct": 1}]
        # Without an atom hook the key is Atom("__struct__"), which no binary equals.
        assert Decoder(struct_hook=lambda d: "struct").decode(data)[0] == [
            {b"__struct__": 1},
            "struct",
            {b"__struct": 1},
            {Atom("__struct"): 1},
        ]

    @settings(max_examples=100, deadline=None)
    @given(struct_terms)
    def test_built_in_hooks_give_what_python_hooks_give(self, value: Any) -> None:
        # The worker's switch from Python hooks to the built-ins changes no result.
        def hook(d: dict[Any, Any]) -> Any:
            return ("struct", sorted(map(repr, d.items())))

        built_in = Decoder(atom_hook=str, binary_hook=text_or_bytes, struct_hook=hook)
        python = Decoder(
            atom_hook=str,
            binary_hook=lambda data: text_or_bytes(data),  # a call per binary: not recognised as the built-in
            map_hook=lambda d: hook(d) if "__struct__" in d else d,
        )
        data = encode(value)
        try:
            expected = python.decode(data)
        except CodecError as exc:  # keys that decode alike, such as the atom and the binary "id"
            with pytest.raises(CodecError, match="equal in Python") as info:
                built_in.decode(data)
            assert (str(info.value), info.value.offset) == (str(exc), exc.offset)
        else:
            assert strictly_equal(built_in.decode(data), expected)

    def test_fun_hook(self) -> None:
        decoder = Decoder(fun_hook=lambda f: ("fun", type(f).__name__))
        export = Export(Atom("m"), Atom("f"), 1)
        data = encode([export, decode(b"\x83" + NEW_FUN)[0], decode(b"\x83" + OLD_FUN)[0]])
        assert decoder.decode(data)[0] == [("fun", "Export"), ("fun", "Fun"), ("fun", "Fun")]

    def test_hook_errors_propagate_unchanged(self) -> None:
        def hook(data: bytes) -> Any:
            raise IndexError("from the hook")

        with pytest.raises(IndexError, match="from the hook"):
            Decoder(binary_hook=hook).decode(encode([b"x"]))

    def test_overrides_replace_one_exact_type(self) -> None:
        class Blob(bytes):
            pass

        encoder = Encoder(overrides={bytes: lambda b: {"bytes": b.hex()}, Atom: lambda a: a.name})
        data = encoder.encode([b"\x01", Blob(b"\x02"), Atom("x")])
        assert decode(data)[0] == [{b"bytes": b"01"}, b"\x02", b"x"]

    def test_override_of_a_builtin_type(self) -> None:
        encoder = Encoder(overrides={int: str, bool: lambda b: "yes" if b else "no"})
        assert decode(encoder.encode([1, True, 2.5]))[0] == [b"1", b"yes", 2.5]

    def test_default(self) -> None:
        class Thing:
            pass

        encoder = Encoder(default=lambda obj: (Atom("thing"), type(obj).__name__))
        assert decode(encoder.encode({"t": Thing()}))[0] == {b"t": (Atom("thing"), b"Thing")}
        assert decode(Encoder(default=sorted).encode({3, 1, 2}))[0] == [1, 2, 3]

    def test_unknown_type_without_default(self) -> None:
        class Thing:
            pass

        with pytest.raises(CodecError, match=r"cannot encode an object of type .*Thing"):
            encode([1, Thing()])
        with pytest.raises(CodecError, match="builtins.set"):
            encode({1})

    def test_default_returning_its_input_is_caught(self) -> None:
        with pytest.raises(CodecError, match="max_depth"):
            Encoder(default=lambda obj: obj).encode(object())

    def test_hook_options_are_validated(self) -> None:
        with pytest.raises(TypeError):
            Encoder(overrides={"bytes": str})  # type: ignore[dict-item]
        with pytest.raises(ValueError):
            Decoder(max_depth=-1)
        with pytest.raises(TypeError, match="not both"):
            Decoder(map_hook=dict, struct_hook=dict)
        with pytest.raises(TypeError, match="hashable value for the atom __struct__"):
            Decoder(atom_hook=lambda name: [name], struct_hook=dict)


# -- Hostile input ----------------------------------------------------------------


class TestHostileInput:
    def test_a_million_nested_tuples(self) -> None:
        data = b"\x83" + b"h\x01" * 1_000_000 + b"a\x01"
        with pytest.raises(CodecError, match="max_depth=1000") as info:
            decode(data)
        assert not isinstance(info.value, IncompleteData)
        assert info.value.offset == 1 + 2 * 1000

    def test_a_million_nested_lists_and_maps(self) -> None:
        for level in (b"l\x00\x00\x00\x01", b"t\x00\x00\x00\x01a\x01"):
            with pytest.raises(CodecError, match="max_depth"):
                decode(b"\x83" + level * 1_000_000)

    def test_funs_are_skipped_without_recursion(self) -> None:
        # A fun's extent is found by skipping its terms; a pid "node" that is
        # itself a pid, a million times over, must not recurse.
        nested_pids = b"X" * 1_000_000 + b"w\x01n" + b"\x00" * 12
        free_var = b"u" + u32(1) + encode(Pid(Atom("n"), 0, 0, 0))[1:] + b"w\x01ma\x01a\x01" + nested_pids
        with pytest.raises(CodecError, match="expected an atom"):
            decode(b"\x83" + free_var)
        deep_free_vars = b"u" + u32(1) + encode(Pid(Atom("n"), 0, 0, 0))[1:] + b"w\x01ma\x01a\x01"
        data = b"\x83" + deep_free_vars + b"h\x01" * 1_000_000 + b"a\x01"
        assert decode(data + TAIL)[1] == TAIL  # opaque: its inside is only skipped

    def test_depth_limit_is_exact(self) -> None:
        def nested(depth: int) -> Any:
            term: Any = 0
            for _ in range(depth):
                term = [term]
            return term

        decoder = Decoder(max_depth=50)
        encoder = Encoder(max_depth=50)
        assert decoder.decode(encode(nested(50)))[0] == nested(50)
        assert decode(encoder.encode(nested(50)))[0] == nested(50)
        with pytest.raises(CodecError, match="max_depth=50"):
            decoder.decode(encode(nested(51)))
        with pytest.raises(CodecError, match="max_depth=50"):
            encoder.encode(nested(51))
        # The default limit does not depend on Python's recursion limit (1000 too).
        data = encode(nested(1000))
        assert encode(decode(data)[0]) == data

    def test_deep_python_structures_do_not_recurse(self) -> None:
        term: Any = []
        for _ in range(200_000):
            term = [term]
        with pytest.raises(CodecError, match="max_depth"):
            encode(term)

    def test_cycles(self) -> None:
        cyclic_list: list[Any] = [1]
        cyclic_list.append(cyclic_list)
        cyclic_dict: dict[str, Any] = {}
        cyclic_dict["self"] = [cyclic_dict]
        for term in (cyclic_list, cyclic_dict, ImproperList([1], (cyclic_list,))):
            with pytest.raises(CodecError, match="cyclic"):
                encode(term)

    def test_zip_bomb_never_allocates_past_its_declared_size(self) -> None:
        bomb = zlib.compress(b"\0" * (64 << 20), 9)  # 64 MiB in about 64 KiB
        tracemalloc.start()
        try:
            with pytest.raises(CodecError, match="more than the 1000 bytes it declares"):
                decode(b"\x83P" + u32(1000) + bomb)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20

    def test_declared_decompressed_size_over_the_limit(self) -> None:
        with pytest.raises(CodecError, match="over the limit") as info:
            Decoder(max_decompressed_size=1 << 20).decode(b"\x83P" + u32(1 << 21) + zlib.compress(b"a"))
        assert info.value.tag == codec.COMPRESSED
        with pytest.raises(CodecError, match="over the limit"):
            decode(b"\x83P" + u32(0xFFFFFFFF) + zlib.compress(b"a"))

    def test_compressed_size_mismatches(self) -> None:
        short = zlib.compress(b"a\x01")
        with pytest.raises(CodecError, match="not the 5 it declares"):
            decode(b"\x83P" + u32(5) + short)
        with pytest.raises(CodecError, match="1 bytes follow the term"):
            decode(b"\x83P" + u32(3) + zlib.compress(b"a\x01\x02"))
        with pytest.raises(CodecError, match="invalid zlib data"):
            decode(b"\x83P" + u32(2) + b"not zlib at all")
        with pytest.raises(CodecError, match="decompressed data") as info:
            decode(b"\x83P" + u32(2) + zlib.compress(b"h\x02"))
        assert not isinstance(info.value, IncompleteData)
        assert decode(b"\x83P" + u32(2) + short + TAIL) == (1, TAIL)

    @pytest.mark.parametrize(
        "data",
        [
            b"l\xff\xff\xff\xffa\x01j",
            b"t\xff\xff\xff\xffa\x01",
            b"i\xff\xff\xff\xffa\x01",
            b"m\xff\xff\xff\xffabc",
            b"M\xff\xff\xff\xff\x03abc",
            b"k\xff\xffabc",
            b"o\x00\x01\x00\x00\x00abc",
            b"Z\xff\xffw\x01n\x00\x00\x00\x00",
            b"p\xff\xff\xff\xff\x01",
            b"u\xff\xff\xff\xff" + encode(Pid(Atom("n"), 1, 2, 3))[1:] + b"w\x01ma\x01a\x01",
            b"h\xffa\x01",
        ],
    )
    def test_huge_declared_counts_fail_fast(self, data: bytes) -> None:
        tracemalloc.start()
        try:
            with pytest.raises(IncompleteData):
                decode(b"\x83" + data)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 64 << 10  # nothing was allocated for what the header claims

    def test_bignum_limit(self) -> None:
        data = encode(2**80)
        with pytest.raises(CodecError, match="over the integer size limit") as info:
            Decoder(max_bignum_bytes=8).decode(data)
        assert (info.value.tag, info.value.offset) == (codec.SMALL_BIG_EXT, 1)
        assert Decoder(max_bignum_bytes=11).decode(data)[0] == 2**80
        with pytest.raises(CodecError, match="over the integer size limit"):
            decode(b"\x83o\xff\xff\xff\xff\x00")
        assert codec.DEFAULT_MAX_BIGNUM_BYTES == 1 << 23

    @pytest.mark.parametrize(
        "value",
        [
            {"key": [1, 2.5, "three", b"four", (Atom("five"), None, True)], "big": -(7**400)},
            [BitBinary(b"\xa0", 3), ImproperList([1], Atom("t")), Pid(Atom("n@h"), 1, 2, 3)],
            (Port(Atom("n"), 2**40, 1), Port(Atom("n"), 1, 1), Reference(Atom("n"), 1, (1, 2, 3))),
            [Export(Atom("m"), Atom("f"), 1), decode(b"\x83" + NEW_FUN)[0], decode(b"\x83" + OLD_FUN)[0]],
            [Atom("日" * 100), tuple(range(256)), 2**2100, 1.0],
        ],
    )
    def test_truncated_at_every_offset(self, value: Any) -> None:
        for data in (encode(value), encode(value, compressed=True)):
            for end in range(len(data)):
                with pytest.raises(IncompleteData):
                    decode(data[:end])

    def test_legacy_tag_vectors_truncated_at_every_offset(self) -> None:
        for name, data, _, _ in VECTORS:
            whole = b"\x83" + data
            for end in range(len(whole)):
                with pytest.raises(IncompleteData):
                    decode(whole[:end])

    def test_unknown_tag_names_tag_and_offset(self) -> None:
        with pytest.raises(CodecError, match="unknown tag 255 at offset 3") as info:
            decode(b"\x83h\x01\xff")
        assert (info.value.tag, info.value.offset) == (255, 3)
        assert not isinstance(info.value, IncompleteData)

    @pytest.mark.parametrize(
        "data, message, tag",
        [
            (b"\x82a\x01", "version byte 131", 0x82),
            (b"\x83R\x00", "atom cache references", codec.ATOM_CACHE_REF),
            (b"\x83y\x00\x00\x00\x00", "LOCAL_EXT", codec.LOCAL_EXT),
            (b"\x83D\x00", "distribution headers", codec.DIST_HEADER),
            (b"\x83l\x00\x00\x00\x01P\x00", "may only follow the version byte", codec.COMPRESSED),
            (b"\x83w\x02\xff\xfe", "not valid UTF-8", codec.SMALL_ATOM_UTF8_EXT),
            (b"\x83Xa\x01", "expected an atom", codec.SMALL_INTEGER_EXT),
            (b"\x83n\x01\x02\x01", "sign byte 2", codec.SMALL_BIG_EXT),
            (b"\x83M\x00\x00\x00\x01\x09\x00", "9 bits", codec.BIT_BINARY_EXT),
            (b"\x83M\x00\x00\x00\x00\x00", "0 bytes", codec.BIT_BINARY_EXT),
            (b"\x83cnot a float\x00" + b"\x00" * 19, "is not a float", codec.FLOAT_EXT),
            (b"\x83Z\x00\x00w\x01n\x00\x00\x00\x00", "at least one id", codec.NEWER_REFERENCE_EXT),
            (b"\x83qw\x01mw\x01fb\x00\x00\x00\x01", "arity", codec.INTEGER_EXT),
            (b"\x83p\x00\x00\x00\x05\x01", "too small", codec.NEW_FUN_EXT),
            (b"\x83" + NEW_FUN[:4] + bytes((NEW_FUN[4] - 2,)) + NEW_FUN[5:], "does not match", codec.NEW_FUN_EXT),
        ],
    )
    def test_malformed_terms(self, data: bytes, message: str, tag: int) -> None:
        with pytest.raises(CodecError, match=message) as info:
            decode(data)
        assert info.value.tag == tag
        assert not isinstance(info.value, IncompleteData)

    def test_unhashable_map_key(self) -> None:
        with pytest.raises(CodecError, match="MAP_EXT at offset 3: a key decodes to list") as info:
            decode(b"\x83h\x01t\x00\x00\x00\x01l\x00\x00\x00\x01a\x01ja\x02")
        assert (info.value.tag, info.value.offset) == (codec.MAP_EXT, 3)
        with pytest.raises(CodecError, match="unhashable"):
            decode(encode({(1,): 2}).replace(b"h\x01a\x01", b"h\x01t\x00\x00\x00\x00"))

    def test_keys_equal_in_python(self) -> None:
        for keys in (b"a\x01F?\xf0\x00\x00\x00\x00\x00\x00", b"a\x01w\x04true", b"a\x01a\x01"):
            data = b"\x83t\x00\x00\x00\x02" + keys[:2] + b"a\x00" + keys[2:] + b"a\x00"
            with pytest.raises(CodecError, match="equal in Python"):
                decode(data)

    def test_bad_values_on_encode(self) -> None:
        with pytest.raises(CodecError, match="not valid Unicode"):
            encode("\ud800")
        with pytest.raises(CodecError, match="at most 255 characters"):
            encode(Atom("a" * 256))
        assert decode(encode(Atom("é" * 255)))[0] == Atom("é" * 255)

    @settings(max_examples=500, deadline=None)
    @given(st.binary(max_size=64))
    def test_arbitrary_bytes_only_raise_codec_errors(self, data: bytes) -> None:
        for candidate in (data, b"\x83" + data):
            try:
                decode(candidate)
            except CodecError:
                pass

    @settings(ROUND_TRIP, max_examples=100)
    @given(terms, st.data())
    def test_corrupted_encodings_only_raise_codec_errors(self, value: Any, data: st.DataObject) -> None:
        encoded = bytearray(encode(value, compressed=data.draw(st.booleans())))
        for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
            index = data.draw(st.integers(min_value=1, max_value=len(encoded) - 1))
            encoded[index] = data.draw(st.integers(min_value=0, max_value=255))
        try:
            decode(encoded)
        except CodecError:
            pass


# -- Types ------------------------------------------------------------------------


class TestTypes:
    def test_repr_equality_hash(self) -> None:
        assert repr(Atom("ok")) == "Atom('ok')"
        assert Atom("ok") == Atom("ok") and Atom("ok") != Atom("no") and Atom("ok") != "ok"
        assert len({Atom("a"), Atom("a"), Pid(Atom("n"), 1, 2, 3), Pid(Atom("n"), 1, 2, 3)}) == 2
        assert repr(Pid(Atom("n"), 1, 2, 3)) == "Pid(Atom('n'), 1, 2, 3)"
        assert repr(ImproperList([1], Atom("t"))) == "ImproperList([1], Atom('t'))"
        assert hash(ImproperList([1], 2)) == hash(ImproperList([1], 2))
        assert BitBinary(b"\xff", 4) == BitBinary(b"\xf0", 4)
        assert not isinstance(Atom("a"), str)

    def test_immutable(self) -> None:
        with pytest.raises(AttributeError):
            Atom("a").name = "b"
        with pytest.raises(AttributeError):
            Pid(Atom("n"), 1, 2, 3).id = 5

    def test_pickle_and_copy(self) -> None:
        import copy
        import pickle

        for value in (Atom("a"), Reference(Atom("n"), 1, (1, 2)), decode(b"\x83" + NEW_FUN)[0], BitBinary(b"\x80", 1)):
            assert pickle.loads(pickle.dumps(value)) == value
            assert copy.deepcopy(value) == value

    def test_validation(self) -> None:
        with pytest.raises(TypeError):
            Atom(b"ok")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            Pid(Atom("n"), -1, 0, 0)
        with pytest.raises(TypeError):
            Port("n", 1, 1)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            BitBinary(b"", 3)
        with pytest.raises(ValueError):
            BitBinary(b"a", 0)
        with pytest.raises(ValueError):
            ImproperList([], 1)
        with pytest.raises(ValueError):
            ImproperList([1], [2])
        with pytest.raises(ValueError):
            Reference(Atom("n"), 1, ())
        with pytest.raises(ValueError):
            Fun(b"a\x01", Atom("m"), 0)


# -- Threads ----------------------------------------------------------------------


def test_shared_instances_across_threads() -> None:
    encoder = Encoder(overrides={bytes: lambda b: (Atom("bytes"), b.hex())})
    decoder = Decoder(atom_hook=str.upper, binary_hook=bytes.decode, map_hook=lambda d: sorted(d.items()))
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(300):
                value = {f"k{n}": [i, b"\x01", Atom(f"a{n}_{i % 7}"), 2**70 + i], "n": (n, 1.5)}
                expected = [("k%d" % n, [i, ("BYTES", "01"), f"A{n}_{i % 7}", 2**70 + i]), ("n", (n, 1.5))]
                term, tail = decoder.decode(encoder.encode(value, compressed=i % 2 == 0))
                assert (term, tail) == (expected, b""), term
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_plain_atoms_read_for_pids_are_cached_within_a_bound() -> None:
    """Every request carries a pid: its node is read once, and hostile node names cannot grow the cache."""
    from pybridge_port import codec

    first, _ = decode(encode(Pid(Atom("worker@host"), 7, 1, 2)))
    again, _ = decode(encode(Pid(Atom("worker@host"), 8, 1, 2)))
    assert first == Pid(Atom("worker@host"), 7, 1, 2) and again.node is first.node
    with pytest.raises(AttributeError):
        first.id = 9  # type: ignore[misc]  # a pid read from the wire is as immutable as any other
    for n in range(3 * codec._PLAIN_ATOMS_MAX):
        assert decode(encode(Pid(Atom(f"n{n}@h"), n, 0, 0)))[0].node == Atom(f"n{n}@h")
    assert len(codec._PLAIN_ATOMS) <= codec._PLAIN_ATOMS_MAX
