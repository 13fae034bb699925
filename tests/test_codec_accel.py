"""The C accelerator (``pybridge_port/_ccodec.c``) against the pure-Python reference.

test_codec.py runs every codec test on both implementations. This module
checks what that cannot: that the accelerator is the one in use, and that
the two agree on random input (the same bytes, the same values, the same
hook calls in the same order, the same exceptions with the same messages,
offsets and tags); that the C code does not leak on its error paths; and that
hostile input cannot crash it.
"""

from __future__ import annotations

import collections
import enum
import gc
import importlib.util
import math
import operator
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybridge_port import codec
from pybridge_port.codec import CodecError, Decoder, Encoder, IncompleteData, text_or_bytes
from pybridge_port.types import Atom, BitBinary, ImproperList, Pid
from test_codec import NEW_FUN, OLD_FUN, STRUCT, VECTORS, strictly_equal, struct_terms, terms

FORCED_PURE = os.environ.get("PYBRIDGE_PURE_CODEC", "") not in ("", "0")
needs_accelerator = pytest.mark.skipif(
    not codec.ACCELERATED, reason="the C accelerator is not in use (PYBRIDGE_PURE_CODEC=1, or not built)"
)
T = TypeVar("T")


def pure(factory: Callable[..., T], **options: Any) -> T:
    """A Decoder or Encoder built without the accelerator: the reference."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codec, "_accelerator", None)
        return factory(**options)


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """What a call gives: ("ok", result) or ("error", class, message, offset, tag)."""
    try:
        return ("ok", function(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - compared, not hidden
        return ("error", type(exc), str(exc), getattr(exc, "offset", None), getattr(exc, "tag", None))


def assert_same(fast: tuple[Any, ...], reference: tuple[Any, ...]) -> None:
    if fast[0] == reference[0] == "ok":
        assert strictly_equal(fast[1], reference[1]), (fast, reference)
    else:
        assert fast == reference


# -- Which implementation is in use -------------------------------------------------


def test_the_accelerator_is_in_use() -> None:
    """In the project's environment the C codec must be active: a build that silently fell back fails here."""
    if FORCED_PURE:
        assert not codec.ACCELERATED
        assert Decoder()._core is None and Encoder()._core is None
    else:
        assert codec.ACCELERATED, "pybridge_port._ccodec did not import: rebuild it with `pip install -e .`"
        assert Decoder()._core is not None and Encoder()._core is not None


@pytest.mark.parametrize("value", ["1", ""])
def test_the_environment_variable_chooses(value: str) -> None:
    env = {**os.environ, "PYBRIDGE_PURE_CODEC": value}
    script = "from pybridge_port import codec; print(codec.ACCELERATED)"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    built = importlib.util.find_spec("pybridge_port._ccodec") is not None
    assert result.stdout.strip() == str(built and not value)


# -- Differential: the same answers on random input -----------------------------------


class Color(enum.IntEnum):
    RED = 1
    HUGE = 2**70


class Point(NamedTuple):
    x: Any
    y: Any


class Text(str):
    pass


class Real(float):
    pass


class Thing:
    """A type no encoder knows."""

    def __repr__(self) -> str:
        return "Thing()"


leaves = (
    st.floats()  # NaN and infinities too
    | st.integers(min_value=-(2**600), max_value=2**600)
    | st.sampled_from([2**31 - 1, -(2**31), 2**31, -(2**31) - 1, 2**63, -(2**63), 2**64 - 1, 255, 256, -1])
    | st.text(min_size=60, max_size=80)  # past the encoder's text cache length
    | st.text(alphabet="é日\ud800a", max_size=4)  # non-ASCII, and lone surrogates that cannot be UTF-8
    | st.builds(Atom, st.text(max_size=3) | st.text(min_size=250, max_size=260) | st.sampled_from(["nil", "é" * 200]))
    | st.binary(max_size=8).map(bytearray)
    | st.binary(max_size=8).map(lambda data: memoryview(data))
    | st.sampled_from([Color.RED, Color.HUGE, Text("t"), Real(2.5), Real("nan"), Thing(), {1, 2}])
)
python_terms = st.recursive(
    terms | leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.builds(Point, inner, inner)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3).map(collections.OrderedDict)
        | st.dictionaries(st.integers(-3, 3) | st.text(max_size=2), inner, max_size=4)
    ),
    max_leaves=20,
)

DIFFERENTIAL = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def recording_encoder(log: list[Any], accelerated: bool) -> Encoder:
    """An encoder whose default and overrides log their calls."""

    def default(obj: Any) -> Any:
        log.append(("default", type(obj).__name__))
        return sorted(obj) if isinstance(obj, (set, frozenset)) else (Atom("thing"), repr(obj))

    def override(obj: Any) -> Any:
        log.append(("override", type(obj).__name__))
        return {"bytes": bytes(obj).hex()} if len(obj) % 2 else Atom(bytes(obj).hex())

    options: dict[str, Any] = dict(
        default=default, overrides={bytes: override, bytearray: override, Pid: lambda pid: pid.id}, max_depth=12
    )
    return Encoder(**options) if accelerated else pure(Encoder, **options)


def recording_decoder(log: list[Any], accelerated: bool, built_in: bool = False) -> Decoder:
    """A decoder with every hook, each logging its calls.

    ``built_in``: configured like the worker's, with names as ``str``, the
    built-in text_or_bytes for binaries and the map hook as a struct_hook.
    """

    def atom_hook(name: str) -> Any:
        log.append(("atom", name))
        if name == "infinity":
            return math.inf
        return name if built_in else ("atom", name)

    def binary_hook(data: bytes) -> Any:
        log.append(("binary", data))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data

    def map_hook(term: dict[Any, Any]) -> Any:
        log.append(("map", len(term)))
        return term if len(term) % 2 else ("map", tuple(term.items()))  # may be an unhashable key

    def fun_hook(fun: Any) -> Any:
        log.append(("fun", type(fun).__name__))
        return ("fun", fun)

    options: dict[str, Any] = dict(atom_hook=atom_hook, fun_hook=fun_hook, max_bignum_bytes=40)
    if built_in:
        options.update(binary_hook=text_or_bytes, struct_hook=map_hook)
    else:
        options.update(binary_hook=binary_hook, map_hook=map_hook)
    return Decoder(**options) if accelerated else pure(Decoder, **options)


def compare_decoding(data: bytes) -> None:
    """Both implementations decode ``data`` alike: plainly, and with hooks (called alike)."""
    assert_same(outcome(Decoder().decode, data), outcome(pure(Decoder).decode, data))
    assert_same(outcome(Decoder(max_depth=3).decode, data), outcome(pure(Decoder, max_depth=3).decode, data))
    for built_in in (False, True):
        fast_log: list[Any] = []
        reference_log: list[Any] = []
        assert_same(
            outcome(recording_decoder(fast_log, True, built_in).decode, data),
            outcome(recording_decoder(reference_log, False, built_in).decode, data),
        )
        assert fast_log == reference_log


@needs_accelerator
class TestDifferential:
    @DIFFERENTIAL
    @given(python_terms, st.sampled_from([False, False, 1, 9]))
    def test_encoding_is_byte_identical(self, value: Any, compressed: bool | int) -> None:
        assert_same(
            outcome(Encoder().encode, value, compressed=compressed),
            outcome(pure(Encoder).encode, value, compressed=compressed),
        )
        fast_log: list[Any] = []
        reference_log: list[Any] = []
        assert_same(
            outcome(recording_encoder(fast_log, True).encode, value),
            outcome(recording_encoder(reference_log, False).encode, value),
        )
        assert fast_log == reference_log

    @DIFFERENTIAL
    @given(terms, st.sampled_from([False, True]))
    def test_decoding_is_identical(self, value: Any, compressed: bool) -> None:
        data = Encoder().encode(value, compressed=compressed)
        compare_decoding(data + b"tail")

    @DIFFERENTIAL
    @given(struct_terms, st.sampled_from([False, True]))
    def test_text_and_structs_decode_identically(self, value: Any, compressed: bool) -> None:
        compare_decoding(Encoder().encode(value, compressed=compressed) + b"tail")

    def test_more_distinct_keys_than_cache_slots(self) -> None:
        # Thousands of short keys, each met several times: the C decoder's key
        # cache must hand back the right str whatever collides in it.
        keys = [f"k{i}".encode() for i in range(1500)] + [f"é{i}".encode() for i in range(100)] + [b"\xff"]
        maps = [{keys[(i * 7 + j) % len(keys)]: j for j in range(3)} for i in range(3000)]
        data = Encoder().encode(maps)
        expected = [{text_or_bytes(key): value for key, value in each.items()} for each in maps]
        assert strictly_equal(Decoder(binary_hook=text_or_bytes).decode(data), (expected, b""))
        assert strictly_equal(pure(Decoder, binary_hook=text_or_bytes).decode(data), (expected, b""))

    @settings(DIFFERENTIAL, max_examples=200)
    @given(terms, st.data())
    def test_mutated_and_truncated_input_fails_alike(self, value: Any, data: st.DataObject) -> None:
        encoded = bytearray(Encoder().encode(value, compressed=data.draw(st.booleans())))
        for _ in range(data.draw(st.integers(min_value=0, max_value=4))):
            index = data.draw(st.integers(min_value=1, max_value=len(encoded) - 1))
            encoded[index] = data.draw(st.integers(min_value=0, max_value=255))
        end = data.draw(st.integers(min_value=0, max_value=len(encoded)))
        compare_decoding(bytes(encoded[:end]))

    # Pieces of terms, so that random sequences of them are often (nearly) valid
    # ETF: odd nesting, improper lists, maps with repeated or unhashable keys,
    # every rare tag, bad lengths and bad sign bytes, "__struct__" keys.
    PIECES = [
        b"h\x00", b"h\x01", b"h\x02", b"i\x00\x00\x00\x02", b"l\x00\x00\x00\x01", b"l\x00\x00\x00\x02",
        b"l\x00\x00\x00\x00", b"t\x00\x00\x00\x00", b"t\x00\x00\x00\x01", b"t\x00\x00\x00\x02", b"j",
        b"a\x01", b"a\xff", b"b\xff\xff\xff\xff", b"F?\xf0\x00\x00\x00\x00\x00\x00", b"F\x7f\xf8" + b"\x00" * 6,
        b"w\x01a", b"w\x03nil", b"w\x04true", b"w\x02\xff\xfe", b"d\x00\x01a", b"s\x01\xe9", b"v\x00\x01b",
        b"m\x00\x00\x00\x01x", b"m\x00\x00\x00\x02\xff\xfe", b"m\x00\x00\x00\x00", b"n\x01\x00\x05",
        b"n\x01\x01\x05", b"n\x01\x02\x05", b"n\x00\x00", b"o\x00\x00\x00\x29\x00", b"o\x00\x00\x00\x01\x01\x07",
        b"k\x00\x02ab", b"M\x00\x00\x00\x01\x03\xe0", b"M\x00\x00\x00\x01\x08a",
        b"c1.5" + b"\x00" * 27, b"q", b"Xw\x01n" + b"\x00" * 12, b"Yw\x01n" + b"\x00" * 8,
        b"Z\x00\x01w\x01n" + b"\x00" * 8, NEW_FUN, OLD_FUN, b"\xff", b"R\x00", b"P\x00\x00\x00\x02",
        b"w\x0a__struct__", b"d\x00\x0a__struct__", b"m\x00\x00\x00\x0a__struct__", b"m\x00\x00\x00\x02id",
    ]

    @settings(DIFFERENTIAL, max_examples=400)
    @given(st.lists(st.sampled_from(PIECES), max_size=12))
    def test_assembled_pieces_decode_alike(self, pieces: list[bytes]) -> None:
        compare_decoding(b"\x83" + b"".join(pieces))

    @settings(DIFFERENTIAL, max_examples=300)
    @given(st.binary(max_size=48))
    def test_random_bytes_decode_alike(self, data: bytes) -> None:
        compare_decoding(b"\x83" + data)

    def test_every_vector_and_every_truncation_of_it(self) -> None:
        for _, data, _, _ in VECTORS:
            whole = b"\x83" + data + b"tail"
            for end in range(len(whole) + 1):
                compare_decoding(whole[:end])


# -- Semantics that only hooks can observe ----------------------------------------------


@needs_accelerator
class TestHookCorners:
    def test_containers_mutated_by_hooks_while_encoding(self) -> None:
        def run(factory: Callable[..., Encoder]) -> list[tuple[Any, ...]]:
            results = []
            items: list[Any] = [1, Thing(), 2, 3]
            grows: list[Any] = [Thing(), 1]
            table: dict[Any, Any] = {"a": Thing(), "b": 2}
            swapped: dict[Any, Any] = {"a": Thing(), "b": 2}
            buffer = bytearray(b"abc")

            def shrink(obj: Any) -> Any:
                items.clear()
                return 0

            def grow(obj: Any) -> Any:
                grows.append(len(grows))
                return 0 if len(grows) < 5 else None

            def add(obj: Any) -> Any:
                table["c"] = 3
                return 0

            def swap(obj: Any) -> Any:
                swapped.pop("b", None)
                swapped["z"] = 26
                return 0

            def resize(obj: Any) -> Any:
                buffer.extend(b"defg")
                return 0

            for default, term in (
                (shrink, items),
                (grow, [grows]),
                (add, table),
                (swap, swapped),
                (resize, [buffer, memoryview(b"xyz"), Thing()]),
            ):
                results.append(outcome(factory(Encoder, default=default).encode, term))
            return results

        assert run(lambda cls, **kw: cls(**kw)) == run(pure)

    def test_released_memoryview_fails_alike(self) -> None:
        view = memoryview(b"abc")

        def release(obj: Any) -> Any:
            view.release()
            return 0

        for encoder in (Encoder(default=release), pure(Encoder, default=release)):
            view = memoryview(b"abc")
            with pytest.raises(TypeError, match="expected a bytes-like object, memoryview found"):
                encoder.encode([view, Thing()])

    def test_hooks_that_decode_again_and_clear_caches(self) -> None:
        inner = codec.encode({"k": [1, Atom("a")]})

        def results(factory: Callable[..., Decoder]) -> Any:
            decoder: Decoder

            def binary_hook(data: bytes) -> Any:
                decoder._atom_caches[0].clear()
                return decoder.decode(inner)[0] if data == b"again" else data

            decoder = factory(Decoder, binary_hook=binary_hook, atom_hook=str.upper)
            return outcome(decoder.decode, codec.encode([Atom("x"), "again", Atom("x"), "again"]))

        assert_same(results(lambda cls, **kw: cls(**kw)), results(pure))

    @pytest.mark.parametrize("exception", [IndexError, struct.error, KeyError, ValueError])
    def test_hook_exceptions(self, exception: type[Exception]) -> None:
        # IndexError and struct.error are how codec.py sees short reads: one
        # from a hook must still reach the caller unchanged.
        def hook(value: Any) -> Any:
            raise exception("from the hook")

        data = codec.encode({"a": [b"x", Atom("b"), {"c": 1}, {STRUCT: Atom("S")}]})
        for name in ("binary_hook", "atom_hook", "map_hook", "struct_hook"):
            hooks: dict[str, Any] = {name: hook}
            assert_same(outcome(Decoder(**hooks).decode, data), outcome(pure(Decoder, **hooks).decode, data))
        # A builtin raising IndexError leaves no Python frame: codec.py takes it for one of its own reads.
        for name in ("binary_hook", "atom_hook"):
            hooks = {name: operator.itemgetter(50)}
            fast = outcome(Decoder(**hooks).decode, data)
            assert fast == outcome(pure(Decoder, **hooks).decode, data)
            assert fast[1] is IncompleteData


# -- Resources: no leaks, no crashes ----------------------------------------------------

SENTINEL_BINARY = object()
SENTINEL_ATOM = object()
SENTINEL_MAP = object()


def _error_inputs() -> list[bytes]:
    """Frames that fail at every kind of place in the C decoder (each one a different path)."""
    whole = codec.encode(
        {
            "key": [1, 2.5, "three", b"four", (Atom("five"), None, True)],
            "big": -(7**400),
            3: Pid(Atom("n"), 1, 2, 3),
            b"\xff": {STRUCT: Atom("S"), "é": b"\xfe"},
        }
    )
    inputs = [whole[:end] for end in range(2, len(whole))]  # truncated everywhere
    inputs += [
        b"\x83h\x01\xff",  # unknown tag
        b"\x83l\xff\xff\xff\xffa\x01j",  # count larger than the data
        b"\x83" + b"h\x01" * 50 + b"a\x01",  # deeper than max_depth
        b"\x83n\x01\x02\x01",  # sign byte
        b"\x83o\x00\x01\x00\x00\x00" + b"\x00" * 70000,  # bignum over the limit
        b"\x83w\x02\xff\xfe",  # atom that is not UTF-8
        b"\x83t\x00\x00\x00\x01l\x00\x00\x00\x01a\x01ja\x02",  # unhashable key
        b"\x83t\x00\x00\x00\x02a\x01a\x00a\x01a\x00",  # equal keys
        b"\x83h\x02m\x00\x00\x00\x01xXw\x01n\x00\x00",  # a rare tag, truncated
        b"\x83l\x00\x00\x00\x02m\x00\x00\x00\x01xt\x00\x00\x00\x01w\x01aw\x02\xff",  # fail with open containers
        b"\x83t\x00\x00\x00\x02m\x00\x00\x00\x01\xffa\x01w\x0a__struct__h\x01",  # a struct, then truncated
    ]
    return inputs


def _traced_growth(run: Callable[[int], None], iterations: int) -> int:
    run(iterations // 10)  # warm caches (atoms, interned strings, method caches)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run(iterations)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@needs_accelerator
class TestResources:
    def test_decoder_error_paths_leak_nothing(self) -> None:
        inputs = _error_inputs()
        decoder = Decoder(
            atom_hook=lambda name: SENTINEL_ATOM,
            binary_hook=lambda data: SENTINEL_BINARY,
            map_hook=lambda term: SENTINEL_MAP,
            max_depth=40,
            max_bignum_bytes=1000,
        )
        plain = Decoder(max_depth=40, max_bignum_bytes=1000)
        built_in = Decoder(
            atom_hook=str, binary_hook=text_or_bytes, struct_hook=lambda term: SENTINEL_MAP, max_depth=40
        )

        def run(iterations: int) -> None:
            done = 0
            while done < iterations:
                for data in inputs:
                    for each in (decoder, plain, built_in):
                        try:
                            each.decode(data)
                        except CodecError:
                            pass
                    done += 3

        run(len(inputs))  # the atom caches now hold SENTINEL_ATOM
        counts = [sys.getrefcount(x) for x in (*inputs, SENTINEL_ATOM, SENTINEL_BINARY, SENTINEL_MAP)]
        growth = _traced_growth(run, 100_000)
        assert growth < 64 << 10, f"{growth} bytes still allocated after 100,000 failed decodes"
        assert [sys.getrefcount(x) for x in (*inputs, SENTINEL_ATOM, SENTINEL_BINARY, SENTINEL_MAP)] == counts

    def test_encoder_error_paths_leak_nothing(self) -> None:
        cyclic: list[Any] = [1, "x"]
        cyclic.append(cyclic)
        changing: dict[Any, Any] = {"a": Thing()}

        def default(obj: Any) -> Any:
            changing[len(changing)] = 0
            if len(changing) > 100:
                changing.clear()
                changing["a"] = Thing()
            return [obj.__class__.__name__, 2**70]

        failing = [
            ([1, "\ud800"], Encoder()),
            ({"a": [Thing()]}, Encoder()),
            (cyclic, Encoder(max_depth=20)),
            ([Atom("a" * 300)], Encoder()),
            ([1 << (8 * codec.ERLANG_MAX_BIG_BYTES)], Encoder()),  # one byte over Erlang's limit
            (changing, Encoder(default=default)),
            ([[b"x", bytearray(b"y")]], Encoder(overrides={bytes: lambda b: 1 / 0})),
            ([Thing()], Encoder(default=lambda obj: obj, max_depth=5)),
        ]

        def run(iterations: int) -> None:
            done = 0
            while done < iterations:
                for term, encoder in failing:
                    try:
                        encoder.encode(term)
                    except (CodecError, RuntimeError, ZeroDivisionError):
                        pass
                    done += 1

        run(len(failing))
        counts = [sys.getrefcount(term) for term, _ in failing]
        growth = _traced_growth(run, 100_000)
        assert growth < 64 << 10, f"{growth} bytes still allocated after 100,000 failed encodes"
        assert [sys.getrefcount(term) for term, _ in failing] == counts

    def test_successful_round_trips_leak_nothing(self) -> None:
        value = {
            "maps": [{"id": i, "name": "x" * i, "score": i / 3} for i in range(3)],
            "rare": [Pid(Atom("n"), 1, 2, 3), BitBinary(b"\x80", 1), ImproperList([1], Atom("t")), 2**300],
            "bytes": [bytearray(b"ab"), memoryview(b"cd"), b"ef"],
            (1, Atom("é")): [None, True, False, -1.5, math.nan],
            "struct": {STRUCT: Atom("S"), "é": bytearray(b"\xff"), "inner": {STRUCT: None}},
        }
        encoder = Encoder(overrides={bytes: lambda b: {"b": b.hex()}}, default=repr)
        decoders = (
            Decoder(binary_hook=bytes.hex, map_hook=lambda term: term, atom_hook=str.upper),
            Decoder(binary_hook=text_or_bytes, struct_hook=lambda term: term, atom_hook=str.upper),
        )

        def run(iterations: int) -> None:
            for _ in range(iterations):
                data = encoder.encode(value, compressed=False)
                for decoder in decoders:
                    decoder.decode(data)

        growth = _traced_growth(run, 10_000)
        assert growth < 64 << 10, f"{growth} bytes still allocated after 10,000 round trips"

    def test_deep_nesting_without_a_depth_limit(self) -> None:
        # Both stacks live on the heap: a depth that would overflow any C
        # stack decodes and encodes when max_depth allows it.
        depth = 300_000
        data = b"\x83" + b"l\x00\x00\x00\x01" * depth + b"j" * (depth + 1)
        term = Decoder(max_depth=10**9).decode(data)[0]
        assert Encoder(max_depth=10**9).encode(term) == data
        for _ in range(depth):
            (term,) = term
        assert term == []

    def test_claimed_counts_at_every_level_cost_nothing(self) -> None:
        # Each of 2,000 nested lists claims every byte that follows; C must
        # not reserve room for what a header claims (that would be quadratic).
        body = bytearray()
        levels = 2000
        filler = 100_000
        for level in range(levels):
            body += b"l" + struct.pack(">I", 5 * (levels - level - 1) + filler - 1)  # the tail is one more
        data = b"\x83" + bytes(body) + b"\xff" * filler
        tracemalloc.start()
        try:
            with pytest.raises(CodecError, match="unknown tag 255"):
                Decoder(max_depth=10**6).decode(data)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20

    def test_huge_max_depth_and_limits_are_accepted(self) -> None:
        decoder = Decoder(max_depth=10**30, max_bignum_bytes=10**30, max_decompressed_size=10**30)
        assert decoder.decode(codec.encode([2**100]))[0] == [2**100]
        assert Encoder(max_depth=10**30).encode([[1]]) == codec.encode([[1]])
        data = codec.encode(2**70)
        assert outcome(Decoder(max_bignum_bytes=2).decode, data) == outcome(pure(Decoder, max_bignum_bytes=2).decode, data)

    @settings(max_examples=200, deadline=None)
    @given(st.binary(min_size=1, max_size=200), st.integers(min_value=0, max_value=2**32 - 1))
    def test_lengths_near_the_limits(self, payload: bytes, length: int) -> None:
        # Every length field, at any value, against a short payload.
        for tag, header in (
            (b"m", struct.pack(">I", length)),
            (b"l", struct.pack(">I", length)),
            (b"t", struct.pack(">I", length)),
            (b"i", struct.pack(">I", length)),
            (b"o", struct.pack(">I", length) + b"\x00"),
            (b"d", struct.pack(">H", length & 0xFFFF)),
            (b"v", struct.pack(">H", length & 0xFFFF)),
            (b"P", struct.pack(">I", length)),
        ):
            compare_decoding(b"\x83" + tag + header + payload)


def test_compressed_and_plain_agree_on_every_implementation() -> None:
    value = {"text": "abc" * 1000, "list": list(range(100))}
    plain = codec.encode(value)
    compressed = codec.encode(value, compressed=True)
    assert compressed[:2] == b"\x83P" and zlib.decompress(compressed[6:]) == plain[1:]
    assert codec.decode(compressed) == codec.decode(plain)
    assert pure(Encoder).encode(value, compressed=True) == compressed



@needs_accelerator
@pytest.mark.parametrize("node_tag", [b"w", b"s", b"v", b"d"])  # SMALL_ATOM_UTF8, SMALL_ATOM, ATOM_UTF8, ATOM
def test_a_pid_whose_node_was_read_before_is_built_in_c_as_python_builds_it(node_tag: bytes) -> None:
    """The request's pid: built in C once its node is cached (codec._PLAIN_ATOMS), cut short anywhere it fails alike."""
    name = b"worker@host"
    size = bytes([len(name)]) if node_tag in (b"w", b"s") else struct.pack(">H", len(name))
    pid = b"\x83X" + node_tag + size + name + struct.pack(">III", 7, 8, 9)
    fast, reference = Decoder(), pure(Decoder)
    assert_same(outcome(fast.decode, pid), outcome(reference.decode, pid))  # the first: through codec._new_pid
    assert fast.decode(pid)[0] == Pid(Atom("worker@host"), 7, 8, 9)  # the second: in C
    for cut in range(2, len(pid)):
        assert_same(outcome(fast.decode, pid[:cut]), outcome(reference.decode, pid[:cut]))
    with pytest.raises(AttributeError):
        fast.decode(pid)[0].id = 1  # immutable like any other
