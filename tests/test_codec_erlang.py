"""The codec against real Erlang, in both directions, from one shared table.

Each case pairs a Python value with an Elixir expression for the same term.
Erlang → Python: Elixir evaluates the expression and encodes it with
``:erlang.term_to_binary/2``; Python decodes it and must get the expected
value (and the Erlang encoding must start with the tag the case names, so
the table provably covers every tag OTP emits). Python → Erlang: Python
encodes the value; Elixir decodes it with ``binary_to_term(bin, [:safe])`` and
compares it with ``===`` to the evaluated expression.

Pids, references, ports and funs only exist on the Erlang side: they go
Elixir → Python → Elixir and must come back ``===`` to the original.

One ``elixir`` process (tests/erlang/codec_peer.exs) serves the whole module.
"""

from __future__ import annotations

import base64
import collections
import enum
import math
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pybridge_port import codec
from pybridge_port.codec import CodecError, Decoder, Encoder, decode, encode, text_or_bytes
from pybridge_port.types import Atom, BitBinary, Export, Fun, ImproperList, Pid, Port, Reference
from test_codec import as_decoded, strictly_equal
from test_codec_accel import pure

ELIXIR = shutil.which("elixir")
PEER_SCRIPT = Path(__file__).resolve().parent / "erlang" / "codec_peer.exs"

pytestmark = [
    pytest.mark.elixir,
    pytest.mark.skipif(ELIXIR is None, reason="elixir is not on PATH: the cross-check with real Erlang needs it"),
]

_SAME = object()


@dataclass(frozen=True)
class Case:
    """A Python value and the Elixir expression for the same term."""

    name: str
    python: Any
    elixir: str
    options: str = "[]"  # term_to_binary options, as an Elixir expression
    tag: int | None = None  # the tag term_to_binary starts the term with
    decoded: Any = _SAME  # what Python decodes, when it differs from as_decoded(python)
    compressed: bool = False  # encode compressed on the Python side too

    def expected(self) -> Any:
        return as_decoded(self.python) if self.decoded is _SAME else self.decoded


class Color(enum.IntEnum):
    RED = 1


class Point(NamedTuple):
    x: int
    y: int


C = codec
CASES = [
    # Integers
    Case("small int 0", 0, "0", tag=C.SMALL_INTEGER_EXT),
    Case("small int 255", 255, "255", tag=C.SMALL_INTEGER_EXT),
    Case("int 256", 256, "256", tag=C.INTEGER_EXT),
    Case("int -1", -1, "-1", tag=C.INTEGER_EXT),
    Case("int min", -(2**31), "-2147483648", tag=C.INTEGER_EXT),
    Case("int max", 2**31 - 1, "2147483647", tag=C.INTEGER_EXT),
    Case("big 2**31", 2**31, "2147483648", tag=C.SMALL_BIG_EXT),
    Case("big -2**31-1", -(2**31) - 1, "-2147483649", tag=C.SMALL_BIG_EXT),
    Case("big 2**64", 2**64, "18446744073709551616", tag=C.SMALL_BIG_EXT),
    Case("big -(2**64-1)", -(2**64 - 1), "-18446744073709551615", tag=C.SMALL_BIG_EXT),
    Case("big 2**2039", 2**2039, "Integer.pow(2, 2039)", tag=C.SMALL_BIG_EXT),
    Case("big 2**2040", 2**2040, "Integer.pow(2, 2040)", tag=C.LARGE_BIG_EXT),
    Case("big 7**5000 (4226 digits)", 7**5000, "Integer.pow(7, 5000)", tag=C.LARGE_BIG_EXT),
    Case("big -7**5000", -(7**5000), "-Integer.pow(7, 5000)", tag=C.LARGE_BIG_EXT),
    Case("IntEnum", Color.RED, "1", decoded=1),
    # Floats
    Case("float 1.5", 1.5, "1.5", tag=C.NEW_FLOAT_EXT),
    Case("float -0.1", -0.1, "-0.1", tag=C.NEW_FLOAT_EXT),
    Case("float 1e300", 1e300, "1.0e300", tag=C.NEW_FLOAT_EXT),
    Case("float denormal", 5e-324, "5.0e-324", tag=C.NEW_FLOAT_EXT),
    Case("FLOAT_EXT 1.5", 1.5, "1.5", "[minor_version: 0]", tag=C.FLOAT_EXT),
    Case("FLOAT_EXT 0.1", 0.1, "0.1", "[minor_version: 0]", tag=C.FLOAT_EXT),
    Case("FLOAT_EXT -2.5e-300", -2.5e-300, "-2.5e-300", "[minor_version: 0]", tag=C.FLOAT_EXT),
    Case("NaN", math.nan, ":nan", decoded=Atom("nan")),
    Case("infinity", math.inf, ":infinity", decoded=Atom("infinity")),
    Case("-infinity", -math.inf, ":neg_infinity", decoded=Atom("neg_infinity")),
    # Atoms
    Case("atom", Atom("ok"), ":ok", tag=C.ATOM_EXT),
    Case("atom latin-1", Atom("héllo"), ':"héllo"', tag=C.ATOM_EXT),
    Case("atom latin-1 as UTF-8", Atom("héllo"), ':"héllo"', "[minor_version: 2]", tag=C.SMALL_ATOM_UTF8_EXT),
    Case("atom non-latin-1", Atom("日本"), ':"日本"', tag=C.SMALL_ATOM_UTF8_EXT),
    Case("atom of 300 UTF-8 bytes", Atom("日" * 100), 'String.to_atom(String.duplicate("日", 100))', tag=C.ATOM_UTF8_EXT),
    Case("module atom", Atom("Elixir.Enum"), "Enum", tag=C.ATOM_EXT),
    Case("nil", None, "nil", tag=C.ATOM_EXT),
    Case("true", True, "true", tag=C.ATOM_EXT),
    Case("false", False, "false", tag=C.ATOM_EXT),
    # Binaries and bitstrings
    Case("string", "héllo", '"héllo"', tag=C.BINARY_EXT),
    Case("empty string", "", '""', tag=C.BINARY_EXT),
    Case("bytes", b"\x00\xff\x01", "<<0, 255, 1>>", tag=C.BINARY_EXT),
    Case("bytearray", bytearray(b"ab"), '"ab"', decoded=b"ab"),
    Case("memoryview", memoryview(b"ab"), '"ab"', decoded=b"ab"),
    Case("300 KB binary", b"\x01\x02\x03" * 100_000, ":binary.copy(<<1, 2, 3>>, 100_000)", tag=C.BINARY_EXT),
    Case("bitstring", BitBinary(b"\xe0", 3), "<<7::3>>", tag=C.BIT_BINARY_EXT),
    Case("bitstring 9 bits", BitBinary(b"\xff\x80", 1), "<<255, 1::1>>", tag=C.BIT_BINARY_EXT),
    # Lists
    Case("nil list", [], "[]", tag=C.NIL_EXT),
    Case("charlist", [97, 98, 99], "'abc'", tag=C.STRING_EXT),
    Case("latin-1 charlist", [104, 233, 108, 108, 111], "'héllo'", tag=C.STRING_EXT),
    Case("byte list of 256", list(range(256)), "Enum.to_list(0..255)", tag=C.STRING_EXT),
    Case("unicode charlist", [26085, 26412], "'日本'", tag=C.LIST_EXT),
    Case("mixed list", [1, 2.5, "x", Atom("y"), None, True, False], '[1, 2.5, "x", :y, nil, true, false]', tag=C.LIST_EXT),
    Case("long list", list(range(1000)), "Enum.to_list(0..999)", tag=C.LIST_EXT),
    Case("improper list", ImproperList([1, 2], Atom("t")), "[1, 2 | :t]", tag=C.LIST_EXT),
    Case("improper pair", ImproperList([1], 2), "[1 | 2]", tag=C.LIST_EXT),
    Case("improper of binaries", ImproperList(["a"], "b"), '["a" | "b"]', tag=C.LIST_EXT),
    # Tuples
    Case("empty tuple", (), "{}", tag=C.SMALL_TUPLE_EXT),
    Case("tuple", (1, "two", Atom("three")), '{1, "two", :three}', tag=C.SMALL_TUPLE_EXT),
    Case("tuple of 255", tuple(range(255)), "List.to_tuple(Enum.to_list(0..254))", tag=C.SMALL_TUPLE_EXT),
    Case("tuple of 300", tuple(range(300)), "List.to_tuple(Enum.to_list(0..299))", tag=C.LARGE_TUPLE_EXT),
    Case("namedtuple", Point(1, 2), "{1, 2}", decoded=(1, 2)),
    # Maps
    Case("empty map", {}, "%{}", tag=C.MAP_EXT),
    Case("map", {"a": 1, Atom("b"): [2]}, '%{"a" => 1, :b => [2]}', tag=C.MAP_EXT),
    Case("map of 40 keys", {i: str(i) for i in range(40)}, "Map.new(0..39, &{&1, Integer.to_string(&1)})", tag=C.MAP_EXT),
    Case("map with tuple keys", {(1, Atom("a")): 2.5}, "%{{1, :a} => 2.5}", tag=C.MAP_EXT),
    Case("OrderedDict", collections.OrderedDict(a=1), '%{"a" => 1}', decoded={b"a": 1}),
    # Nested
    Case(
        "nested",
        {"list": [1, (2, Atom("three"))], "map": {Atom("a"): [{}]}, "tuple": ([], (), {}), "bits": [BitBinary(b"\x80", 1)]},
        '%{"list" => [1, {2, :three}], "map" => %{a: [%{}]}, "tuple" => {[], {}, %{}}, "bits" => [<<1::1>>]}',
        tag=C.MAP_EXT,
    ),
    # Compressed
    Case(
        "compressed map",
        {"text": "abc" * 1000, "list": list(range(1, 101))},
        '%{"text" => String.duplicate("abc", 1000), "list" => Enum.to_list(1..100)}',
        "[:compressed]",
        tag=C.COMPRESSED,
        compressed=True,
    ),
    Case(
        "compressed level 9",
        "x" * 10_000,
        'String.duplicate("x", 10_000)',
        "[compressed: 9]",
        tag=C.COMPRESSED,
        compressed=True,
    ),
]


@dataclass(frozen=True)
class Opaque:
    """An Erlang-only term: made by Elixir, decoded and re-encoded by Python."""

    name: str
    elixir: str
    kind: type
    tag: int


OPAQUE = [
    Opaque("self()", "self()", Pid, C.NEW_PID_EXT),
    Opaque("spawned pid", "spawn(fn -> :ok end)", Pid, C.NEW_PID_EXT),
    Opaque("reference", "make_ref()", Reference, C.NEWER_REFERENCE_EXT),
    Opaque("alias", ":erlang.alias()", Reference, C.NEWER_REFERENCE_EXT),
    Opaque("opened port", 'Port.open({:spawn, "true"}, [])', Port, C.NEW_PORT_EXT),
    Opaque("first port", "hd(Port.list())", Port, C.NEW_PORT_EXT),
    Opaque("eval fun", "fn x -> x end", Fun, C.NEW_FUN_EXT),
    Opaque("closure", "y = 5\nfn x -> x + y end", Fun, C.NEW_FUN_EXT),
    Opaque("compiled fun", "CodecPeer.Funs.adder(5)", Fun, C.NEW_FUN_EXT),
    Opaque("export", "&Enum.map/2", Export, C.EXPORT_EXT),
    Opaque("erlang export", "&:erlang.is_atom/1", Export, C.EXPORT_EXT),
    Opaque(
        "nested",
        "{self(), [make_ref(), &Enum.map/2], %{port: hd(Port.list()), fun: fn -> :ok end}}",
        tuple,
        C.SMALL_TUPLE_EXT,
    ),
]

# Every tag :erlang.term_to_binary/1,2 writes on OTP 25 (the older ones only
# appear in test_codec.py's byte vectors).
OTP_TAGS = {
    C.SMALL_INTEGER_EXT, C.INTEGER_EXT, C.FLOAT_EXT, C.NEW_FLOAT_EXT, C.ATOM_EXT, C.SMALL_ATOM_UTF8_EXT,
    C.ATOM_UTF8_EXT, C.SMALL_TUPLE_EXT, C.LARGE_TUPLE_EXT, C.NIL_EXT, C.STRING_EXT, C.LIST_EXT, C.BINARY_EXT,
    C.BIT_BINARY_EXT, C.SMALL_BIG_EXT, C.LARGE_BIG_EXT, C.MAP_EXT, C.NEW_PID_EXT, C.NEW_PORT_EXT,
    C.NEWER_REFERENCE_EXT, C.EXPORT_EXT, C.NEW_FUN_EXT, C.COMPRESSED,
}  # fmt: skip


def _b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode("ascii")


class ElixirPeer:
    """tests/erlang/codec_peer.exs, spoken to one line at a time."""

    def __init__(self) -> None:
        assert ELIXIR is not None
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [ELIXIR, str(PEER_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        assert self.process.stdin and self.process.stdout
        self._fd = self.process.stdout.fileno()
        self._buffer = b""
        self._terms: dict[str, bytes] = {}

    def _ask(self, *fields: str, timeout: float = 60) -> tuple[str, bytes]:
        assert self.process.stdin
        self.process.stdin.write((" ".join(fields) + "\n").encode("ascii"))
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                raise TimeoutError(f"no answer from the Elixir peer to {fields[0]} in {timeout} s")
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                self._stderr.seek(0)
                raise RuntimeError(f"the Elixir peer exited: {self._stderr.read().decode(errors='replace')}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        status, _, payload = line.decode("ascii").partition(" ")
        return status, base64.b64decode(payload)

    def term(self, key: str, expression: str, options: str = "[]") -> bytes:
        """``term_to_binary`` of the expression; Elixir keeps its value under ``key``."""
        if key not in self._terms:
            status, payload = self._ask("EVAL", _b64(key), _b64(expression), _b64(options))
            assert status == "OK", payload.decode(errors="replace")
            self._terms[key] = payload
        return self._terms[key]

    def check(self, key: str, data: bytes) -> str | None:
        """None if ``binary_to_term(data, [:safe]) === `` the value kept under ``key``, else why not."""
        status, payload = self._ask("CHECK", _b64(key), _b64(data))
        return None if status == "OK" else payload.decode(errors="replace")

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stderr.close()


@pytest.fixture(scope="module")
def peer() -> Iterator[ElixirPeer]:
    process = ElixirPeer()
    yield process
    process.close()


def _ids(cases: list[Any]) -> list[str]:
    return [case.name for case in cases]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_erlang_to_python(peer: ElixirPeer, case: Case) -> None:
    data = peer.term(case.name, case.elixir, case.options)
    if case.tag is not None:
        assert data[1] == case.tag, f"term_to_binary wrote tag {data[1]}, the case names {case.tag}"
    term, tail = decode(data + b"XYZ")
    assert tail == b"XYZ"
    assert strictly_equal(term, case.expected()), (term, case.expected())


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_python_to_erlang(peer: ElixirPeer, case: Case) -> None:
    peer.term(case.name, case.elixir, case.options)
    assert peer.check(case.name, encode(case.python)) is None
    if case.compressed:
        data = encode(case.python, compressed=True)
        assert data[1] == codec.COMPRESSED
        assert peer.check(case.name, data) is None


@pytest.mark.parametrize("case", OPAQUE, ids=_ids(OPAQUE))
def test_erlang_only_terms_come_back_unchanged(peer: ElixirPeer, case: Opaque) -> None:
    key = "opaque " + case.name
    data = peer.term(key, case.elixir)
    assert data[1] == case.tag
    term, tail = decode(data)
    assert type(term) is case.kind and tail == b""
    again = encode(term)
    assert decode(again)[0] == term
    assert peer.check(key, again) is None
    assert peer.check(key, encode(term, compressed=True)) is None


def test_fun_details(peer: ElixirPeer) -> None:
    fun = decode(peer.term("opaque compiled fun", "CodecPeer.Funs.adder(5)"))[0]
    assert (fun.module, fun.arity) == (Atom("Elixir.CodecPeer.Funs"), 1)
    export = decode(peer.term("opaque export", "&Enum.map/2"))[0]
    assert export == Export(Atom("Elixir.Enum"), Atom("map"), 2)


def test_text_binaries_and_structs_as_elixir_writes_them(peer: ElixirPeer) -> None:
    # OTP writes the atom __struct__ as ATOM_EXT (Latin-1): it must still pick out the structs.
    data = peer.term(
        "structs and strings",
        '[%{"id" => "é", "raw" => <<255>>}, %{date: Date.new!(2026, 1, 2), list: [%{}], name: :"Elixir.Date"}]',
    )
    assert b"d\x00\x0a__struct__" in data
    seen: list[Any] = []

    def struct_hook(d: dict[Any, Any]) -> Any:
        seen.append(d["__struct__"])
        return (d["__struct__"], d["year"])

    expected = [{"id": "é", "raw": b"\xff"}, {"date": ("Elixir.Date", 2026), "list": [{}], "name": "Elixir.Date"}]
    for factory in (Decoder, lambda **options: pure(Decoder, **options)):
        seen.clear()
        decoder = factory(atom_hook=str, binary_hook=text_or_bytes, struct_hook=struct_hook)
        assert strictly_equal(decoder.decode(data), (expected, b""))
        assert seen == ["Elixir.Date"]


def test_erlang_rejects_what_python_must_not_send(peer: ElixirPeer) -> None:
    # Why NaN and infinities travel as atoms: Erlang refuses such floats.
    peer.term("nan atom", ":nan")
    assert "binary_to_term" in (peer.check("nan atom", b"\x83F\x7f\xf8" + b"\x00" * 6) or "")


def test_the_table_covers_every_tag_otp_writes() -> None:
    covered = {case.tag for case in CASES} | {case.tag for case in OPAQUE}
    assert OTP_TAGS <= covered, sorted(OTP_TAGS - covered)


# --- Erlang's own limits (issue #12, items 7 and 9), on both codecs ---------

IMPLEMENTATIONS = ["accelerated", "pure"] if codec.ACCELERATED else ["pure"]


def _codec(implementation: str) -> tuple[Encoder, Decoder]:
    if implementation == "pure":
        return pure(Encoder), pure(Decoder)
    return Encoder(), Decoder()


def _float_ext(text: bytes) -> bytes:
    return b"\x83" + bytes((C.FLOAT_EXT,)) + text.ljust(31, b"\0")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_integers_over_erlangs_limit_are_refused_by_the_encoder(peer: ElixirPeer, implementation: str) -> None:
    encoder, _ = _codec(implementation)
    limit = 4_194_296  # bytes of magnitude, found with LARGE_BIG_EXT of growing sizes (64-bit OTP 25)
    # The limit is Erlang's: the largest integer it decodes...
    largest = (1 << (8 * limit)) - 1
    # 2**(8 * limit) itself is one bit too large for Erlang to make.
    half = f"Bitwise.bsl(1, {8 * limit - 1})"
    peer.term("largest integer", f"{half} - 1 + {half}")
    assert peer.check("largest integer", encoder.encode(largest)) is None
    # ...and one byte more is refused there (bytes made by hand: the encoder refuses them).
    over = b"\x83" + bytes((C.LARGE_BIG_EXT,)) + (limit + 1).to_bytes(4, "big") + b"\x00" + b"\x01" * (limit + 1)
    assert "binary_to_term" in (peer.check("largest integer", over) or "")
    for value in (largest + 1, -(largest + 1), 1 << (8 * (limit + 10))):
        size = (abs(value).bit_length() + 7) // 8
        with pytest.raises(CodecError, match=f"an integer of {size} bytes cannot be encoded: Erlang's limit is {limit} bytes"):
            encoder.encode([1, {"n": value}])
    assert C.ERLANG_MAX_BIG_BYTES == limit


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_atom_names_over_255_characters_are_refused_on_decode(peer: ElixirPeer, implementation: str) -> None:
    _, decoder = _codec(implementation)
    peer.term("atom of 255 characters", 'String.to_atom(String.duplicate("日", 255))')
    for tag, name in [(C.ATOM_EXT, b"a" * 256), (C.ATOM_UTF8_EXT, "日".encode() * 256), (C.ATOM_UTF8_EXT, b"a" * 300)]:
        data = b"\x83" + bytes((tag,)) + len(name).to_bytes(2, "big") + name
        assert "binary_to_term" in (peer.check("atom of 255 characters", data) or "")
        with pytest.raises(CodecError, match="an atom name of (256|300) characters is over Erlang's limit of 255"):
            decoder.decode(data)
        # Also inside a term, and as the node of a pid (read by another path).
        with pytest.raises(CodecError, match="over Erlang's limit of 255"):
            decoder.decode(b"\x83" + bytes((C.SMALL_TUPLE_EXT, 2, C.NIL_EXT)) + data[1:])
        pid = bytes((C.NEW_PID_EXT,)) + data[1:] + bytes(12)
        with pytest.raises(CodecError, match="over Erlang's limit of 255"):
            decoder.decode(b"\x83" + pid)
    # 255 characters of 3 bytes each (765 bytes) are an atom Erlang makes.
    data = peer.term("atom of 255 characters", 'String.to_atom(String.duplicate("日", 255))')
    assert decoder.decode(data) == (Atom("日" * 255), b"")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_float_ext_takes_only_what_erlang_takes(peer: ElixirPeer, implementation: str) -> None:
    _, decoder = _codec(implementation)
    peer.term("float 1.5", "1.5")
    refused = [b"nan", b"NaN", b"inf", b"-inf", b"infinity", b"1.0e309", b"1e5", b"1", b"1.", b".5", b" 1.5", b"1_0.5"]
    for text in refused:
        assert "binary_to_term" in (peer.check("float 1.5", _float_ext(text)) or ""), text
        with pytest.raises(CodecError, match="is not a float Erlang accepts"):
            decoder.decode(_float_ext(text))
    for text, value in [(b"1.5", 1.5), (b"+1.5", 1.5), (b"1.5E5", 150000.0), (b"1.0e-400", 0.0), (b"00001.5", 1.5)]:
        peer.term(f"float {text!r}", repr(value))
        assert peer.check(f"float {text!r}", _float_ext(text)) is None, text
        assert decoder.decode(_float_ext(text)) == (value, b"")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_compressed_keeps_the_plain_form_when_compressing_does_not_help(peer: ElixirPeer, implementation: str) -> None:
    encoder, decoder = _codec(implementation)
    cases = [
        ("tuple", (1, 2), "{1, 2}"),
        ("short string", "short", '"short"'),
        ("random bytes", bytes(range(256)), "Enum.into(0..255, <<>>, &<<&1>>)"),
        ("repetitive", "abc" * 1000, 'String.duplicate("abc", 1000)'),
    ]
    for name, value, expression in cases:
        erlang = peer.term(f"compressed {name}", expression, "[:compressed]")
        ours = encoder.encode(value, compressed=True)
        # The same choice as term_to_binary (the zlib bytes may differ between zlib builds).
        assert (ours[1] == C.COMPRESSED) == (erlang[1] == C.COMPRESSED), name
        assert peer.check(f"compressed {name}", ours) is None
        assert decoder.decode(ours)[0] == decoder.decode(erlang)[0]
        if erlang[1] != C.COMPRESSED:
            assert ours == erlang == encoder.encode(value)
