"""Erlang External Term Format (ETF) codec: Python values ⇄ ``term_to_binary`` bytes.

A symmetric pair, after ErlPort and Pyrlang::

    >>> encode((Atom("ok"), 1, "hé"))
    b'\\x83h\\x03w\\x02oka\\x01m\\x00\\x00\\x00\\x03h\\xc3\\xa9'
    >>> decode(b"\\x83a\\x01XYZ")
    (1, b'XYZ')

:class:`Encoder` and :class:`Decoder` hold the configuration (hooks, overrides,
limits); :func:`encode` and :func:`decode` use default instances. Both classes
are safe to share between threads: a call keeps its state in local variables,
and the instances only hold configuration and caches.

Mapping, Python → Erlang: ``None``/``True``/``False`` → ``nil``/``true``/
``false``; ``int`` of any size → integer; ``float`` → float, but NaN, +inf and
-inf (which Erlang has no floats for) → the atoms ``nan``, ``infinity`` and
``neg_infinity``; ``str`` → UTF-8 binary; ``bytes``/``bytearray``/
``memoryview`` → binary; ``tuple`` → tuple; ``list`` → list; ``dict`` → map;
:mod:`pybridge_port.types` objects → the terms they stand for. Subclasses of
``int``, ``float``, ``str``, ``bytes``, ``bytearray``, ``tuple``, ``list`` and
``dict`` (IntEnum, namedtuple, OrderedDict, ...) encode as their base type.

Mapping, Erlang → Python: atoms ``nil``/``true``/``false`` → ``None``/
``True``/``False``, other atoms → :class:`~pybridge_port.types.Atom`; binaries
→ ``bytes``; charlists sent as ``STRING_EXT`` → lists of ints; improper lists
→ :class:`~pybridge_port.types.ImproperList`; maps → ``dict``. Every tag that
``:erlang.term_to_binary/1,2`` emits on OTP 25 decodes, compressed terms
included.

Acceleration. When the C extension ``pybridge_port._ccodec`` is built (it is
compiled at install, optionally: without a compiler the package installs as
pure Python), :class:`Decoder` and :class:`Encoder` run their loops in C with
exactly the semantics of the Python code below, which stays the reference:
the same values, hook calls, limits, exceptions and tails. Rare tags (funs,
pids, references, ports, bit binaries, improper lists, ...) and every hook,
override and ``default`` are still Python functions, called from C; the
built-in binary hook :func:`text_or_bytes` and the test that picks the maps
for a ``struct_hook`` are made in C.
:data:`ACCELERATED` says which one is in use; setting the environment
variable ``PYBRIDGE_PURE_CODEC=1`` (any value but empty or ``0``) before
the import forces pure Python.

Implementation notes. Both directions are iterative (an explicit stack, no
recursion), so depth is limited by ``max_depth`` alone and never by Python's
recursion limit. Leaf terms are handled by dispatch tables (a list indexed by
tag for decoding, a dict keyed by exact type for encoding); hooks and
overrides replace entries of those tables when an instance is built, so they
cost nothing for values they do not concern.

Why not erlpack (1.0.1, measured on this 2-core VM; CPU ms for 10,000
three-key maps, ours in pure Python/erlpack/msgpack): decoding 35/35/4.5,
encoding 17/5.0/2.0 (ours in C, without hooks: about 3 and 0.9); 1 MiB
binaries are a copy for all three (0.03-0.1 ms). Its decoder is no faster and
unsafe (it recurses in C, so a 1,000,000-deep tuple kills the process with
SIGSEGV; it returns a short binary for truncated input; it lacks NEW_PID_EXT,
BIT_BINARY_EXT, improper lists, working FLOAT_EXT). Its encoder is faster but
not a correct general path: NaN and infinities come out as NEW_FLOAT_EXT bytes
that ``binary_to_term`` rejects, integers beyond 64 bits raise, atoms are
Latin-1 only, a shared encoder raises RuntimeError when two threads use it,
and it encodes ``bytes`` natively, so it cannot honour ``overrides``, which
the worker's own encoder uses for ``bytes`` (so a guarded fast path would
never serve the worker). It is not used.

Limitations: an Erlang map whose key decodes to an unhashable Python value
(a list, a dict, a tuple containing one) cannot become a ``dict`` and raises
:class:`CodecError`, as does a map whose distinct Erlang keys are equal in
Python (``1`` and ``1.0``, ``1`` and ``true``). The other way round, a dict
with both ``"a"`` and ``b"a"`` as keys encodes to a map with a repeated key,
which ``binary_to_term`` rejects (checking every dict would cost every dict).
Atom hooks must be pure functions of the name: their results are cached per
decoder.
"""

from __future__ import annotations

import importlib
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from itertools import chain
from typing import Any, Union

from .types import Atom, BitBinary, Export, Fun, ImproperList, Pid, Port, Reference

__all__ = [
    "ACCELERATED",
    "CodecError",
    "Decoder",
    "Encoder",
    "IncompleteData",
    "decode",
    "encode",
    "text_or_bytes",
]

# -- Tags, named as in the ETF specification (erts/doc/src/erl_ext_dist.xml) --

VERSION_MAGIC = 131
COMPRESSED = 80
DIST_HEADER = 68
DIST_FRAG_HEADER = 69
NEW_FLOAT_EXT = 70
BIT_BINARY_EXT = 77
ATOM_CACHE_REF = 82
NEW_PID_EXT = 88
NEW_PORT_EXT = 89
NEWER_REFERENCE_EXT = 90
SMALL_INTEGER_EXT = 97
INTEGER_EXT = 98
FLOAT_EXT = 99
ATOM_EXT = 100
REFERENCE_EXT = 101
PORT_EXT = 102
PID_EXT = 103
SMALL_TUPLE_EXT = 104
LARGE_TUPLE_EXT = 105
NIL_EXT = 106
STRING_EXT = 107
LIST_EXT = 108
BINARY_EXT = 109
SMALL_BIG_EXT = 110
LARGE_BIG_EXT = 111
NEW_FUN_EXT = 112
EXPORT_EXT = 113
NEW_REFERENCE_EXT = 114
SMALL_ATOM_EXT = 115
MAP_EXT = 116
FUN_EXT = 117
ATOM_UTF8_EXT = 118
SMALL_ATOM_UTF8_EXT = 119
V4_PORT_EXT = 120
LOCAL_EXT = 121

_TAG_NAMES: dict[int, str] = {
    value: name
    for name, value in globals().items()
    if name.isupper() and type(value) is int and (name.endswith("_EXT") or name in ("COMPRESSED", "ATOM_CACHE_REF"))
}
_TAG_NAMES.update({DIST_HEADER: "DIST_HEADER", DIST_FRAG_HEADER: "DIST_FRAG_HEADER", VERSION_MAGIC: "VERSION_MAGIC"})

DEFAULT_MAX_DEPTH = 1000
DEFAULT_MAX_DECOMPRESSED_SIZE = 64 << 20
# Above Erlang's own limit (ERLANG_MAX_BIG_BYTES), so nothing it sends is refused.
DEFAULT_MAX_BIGNUM_BYTES = 1 << 23
MAX_ATOM_CHARACTERS = 255
ERLANG_MAX_BIG_BYTES = 4_194_296
"""The largest integer magnitude, in bytes, that ``binary_to_term`` accepts on a
64-bit VM (524,287 64-bit digits; measured with LARGE_BIG_EXT of growing sizes on
OTP 25). The encoder refuses larger integers: Erlang could not decode them."""
_ATOM_CACHE_LIMIT = 4096
_SUBCLASS_CACHE_LIMIT = 1024

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_I32 = struct.Struct(">i").unpack_from
_F64 = struct.Struct(">d").unpack_from
_PACK_TAG_U32 = struct.Struct(">BI").pack
_PACK_TAG_I32 = struct.Struct(">Bi").pack
_PACK_TAG_F64 = struct.Struct(">Bd").pack
_PACK_U16 = struct.Struct(">H").pack
_PACK_U32 = struct.Struct(">I").pack
_PACK_III = struct.Struct(">III").pack
_PACK_II = struct.Struct(">II").pack
_PACK_QI = struct.Struct(">QI").pack
_PACK_TAG_U32_U8 = struct.Struct(">BIB").pack


def _tag_name(tag: int) -> str:
    name = _TAG_NAMES.get(tag)
    return f"{name} (tag {tag})" if name else f"tag {tag}"


class CodecError(ValueError):
    """The data is not valid ETF, is over a limit, or a value cannot be encoded.

    ``offset`` is the position in the input where the offending term starts
    (``None`` when encoding), ``tag`` its tag byte when known.
    """

    def __init__(self, message: str, offset: int | None = None, tag: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.tag = tag


class IncompleteData(CodecError):
    """The input ends before the term does (more bytes would be needed)."""


def _short(tag: int, offset: int, data: bytes) -> IncompleteData:
    return IncompleteData(
        f"truncated input: {_tag_name(tag)} at offset {offset} runs past the end of the data ({len(data)} bytes)",
        offset,
        tag,
    )


def _bad(what: str, tag: int, offset: int) -> CodecError:
    return CodecError(f"{_tag_name(tag)} at offset {offset}: {what}", offset, tag)


# -- Decoding: leaf terms --------------------------------------------------
#
# Each leaf function takes the data and the offset just past the tag byte and
# returns (value, offset past the term). The most common tags have none:
# Decoder._decode_term reads them itself. Fixed-size fields are read with
# unpack_from/indexing and a short read raises struct.error/IndexError, which
# Decoder turns into IncompleteData; variable-size slices are checked here
# because slicing past the end does not raise.

_LeafFn = Callable[[bytes, int], "tuple[Any, int]"]
_FLOAT_TEXT = re.compile(rb"[+-]?[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?")


def _float(data: bytes, pos: int) -> tuple[Any, int]:
    end = pos + 31
    if end > len(data):
        raise _short(FLOAT_EXT, pos - 1, data)
    text = data[pos:end].split(b"\0", 1)[0]
    # Erlang's float syntax only ("1.5e+05", not "1e5", "nan" or "inf"), and a
    # finite value ("1.0e309" overflows): what binary_to_term accepts.
    if _FLOAT_TEXT.fullmatch(text):
        value = float(text)
        if value - value == 0.0:
            return value, end
    raise _bad(f"{text!r} is not a float Erlang accepts (finite, written like 1.5e+05)", FLOAT_EXT, pos - 1)


def _string(data: bytes, pos: int) -> tuple[Any, int]:
    start = pos + 2
    end = start + _U16(data, pos)[0]
    if end > len(data):
        raise _short(STRING_EXT, pos - 1, data)
    return list(data[start:end]), end


def _bit_binary(data: bytes, pos: int) -> tuple[Any, int]:
    size = _U32(data, pos)[0]
    bits = data[pos + 4]
    start = pos + 5
    end = start + size
    if end > len(data):
        raise _short(BIT_BINARY_EXT, pos - 1, data)
    if size == 0 or not 1 <= bits <= 8:
        raise _bad(f"{size} bytes with {bits} bits used in the last one", BIT_BINARY_EXT, pos - 1)
    return BitBinary(data[start:end], bits), end


# Plain atoms read by _read_atom, by their bytes (tag and length included):
# every request carries the caller's pid, so its node is read on every call.
# Bounded, since the input chooses the names.
_PLAIN_ATOMS: dict[bytes, Atom] = {}
_PLAIN_ATOMS_MAX = 1024


def _read_atom(data: bytes, pos: int) -> tuple[Atom, int]:
    """An atom as a plain ``Atom`` (nodes, modules, functions): no hooks, no nil/true/false."""
    tag = data[pos]
    if tag == SMALL_ATOM_UTF8_EXT or tag == SMALL_ATOM_EXT:
        start = pos + 2
        end = start + data[pos + 1]
    elif tag == ATOM_UTF8_EXT or tag == ATOM_EXT:
        start = pos + 3
        end = start + _U16(data, pos + 1)[0]
    else:
        raise _bad("expected an atom here", tag, pos)
    if end > len(data):
        raise _short(tag, pos, data)
    raw = data[pos:end]
    atom = _PLAIN_ATOMS.get(raw)
    if atom is not None:
        return atom, end
    try:
        name = data[start:end].decode("latin-1" if tag == ATOM_EXT or tag == SMALL_ATOM_EXT else "utf-8")
    except UnicodeDecodeError:
        raise _bad("atom name is not valid UTF-8", tag, pos) from None
    if end - start > MAX_ATOM_CHARACTERS:
        _check_atom_length(name, tag, pos)
    atom = Atom(name)
    if len(_PLAIN_ATOMS) >= _PLAIN_ATOMS_MAX:
        _PLAIN_ATOMS.clear()
    _PLAIN_ATOMS[raw] = atom
    return atom, end


def _new_pid(data: bytes, pos: int) -> tuple[Any, int]:
    node, pos = _read_atom(data, pos)
    ident, serial, creation = _PID_NEW(data, pos)  # three 32-bit fields: in range by construction
    return Pid.from_wire(node, ident, serial, creation), pos + 12


def _pid(data: bytes, pos: int) -> tuple[Any, int]:
    node, pos = _read_atom(data, pos)
    return Pid(node, *_PID_OLD(data, pos)), pos + 9


def _new_port(data: bytes, pos: int) -> tuple[Any, int]:
    node, pos = _read_atom(data, pos)
    return Port(node, *_PORT_NEW(data, pos)), pos + 8


def _v4_port(data: bytes, pos: int) -> tuple[Any, int]:
    node, pos = _read_atom(data, pos)
    return Port(node, *_PORT_V4(data, pos)), pos + 12


def _port(data: bytes, pos: int) -> tuple[Any, int]:
    node, pos = _read_atom(data, pos)
    return Port(node, *_PORT_OLD(data, pos)), pos + 5


def _reference(data: bytes, pos: int) -> tuple[Any, int]:
    node, pos = _read_atom(data, pos)
    ident, creation = _PORT_OLD(data, pos)
    return Reference(node, creation, (ident,)), pos + 5


def _new_reference(data: bytes, pos: int, *, newer: bool = False) -> tuple[Any, int]:
    tag = NEWER_REFERENCE_EXT if newer else NEW_REFERENCE_EXT
    start = pos - 1
    count = _U16(data, pos)[0]
    if count == 0:
        raise _bad("a reference needs at least one id", tag, start)
    node, pos = _read_atom(data, pos + 2)
    if newer:
        creation = _U32(data, pos)[0]
        pos += 4
    else:
        creation = data[pos]
        pos += 1
    end = pos + 4 * count
    if end > len(data):
        raise _short(tag, start, data)
    return Reference(node, creation, struct.unpack_from(f">{count}I", data, pos)), end


def _newer_reference(data: bytes, pos: int) -> tuple[Any, int]:
    return _new_reference(data, pos, newer=True)


def _export(data: bytes, pos: int) -> tuple[Any, int]:
    module, pos = _read_atom(data, pos)
    function, pos = _read_atom(data, pos)
    if data[pos] != SMALL_INTEGER_EXT:
        raise _bad("an export's arity must be a SMALL_INTEGER_EXT", data[pos], pos)
    return Export(module, function, data[pos + 1]), pos + 2


# NEW_FUN_EXT: Tag, Size(4, counts itself), Arity(1), Uniq(16), Index(4),
# NumFree(4), Module, OldIndex, OldUniq, Pid, FreeVars...
_NEW_FUN_MODULE = 4 + 1 + 16 + 4 + 4


def _new_fun(data: bytes, pos: int) -> tuple[Any, int]:
    start = pos - 1
    end = pos + _U32(data, pos)[0]
    if end > len(data):
        raise _short(NEW_FUN_EXT, start, data)
    if end < pos + _NEW_FUN_MODULE:
        raise _bad("declared size is too small", NEW_FUN_EXT, start)
    num_free = _U32(data, pos + _NEW_FUN_MODULE - 4)[0]
    module, after_module = _read_atom(data, pos + _NEW_FUN_MODULE)
    if _skip(data, after_module, 3 + num_free) != end:
        raise _bad("declared size does not match its contents", NEW_FUN_EXT, start)
    return Fun(data[start:end], module, data[pos + 4]), end


def _fun(data: bytes, pos: int) -> tuple[Any, int]:
    # Old FUN_EXT: Tag, NumFree(4), Pid, Module, Index, Uniq, FreeVars...
    start = pos - 1
    num_free = _U32(data, pos)[0]
    if data[pos + 4] not in (NEW_PID_EXT, PID_EXT):
        raise _bad("expected a pid after NumFree", FUN_EXT, start)
    module, after_module = _read_atom(data, _skip(data, pos + 4, 1))
    end = _skip(data, after_module, 2 + num_free)
    return Fun(data[start:end], module, None), end


def _unsupported(tag: int, why: str) -> _LeafFn:
    def leaf(data: bytes, pos: int) -> tuple[Any, int]:
        raise _bad(why, tag, pos - 1)

    return leaf


_PID_NEW = struct.Struct(">III").unpack_from
_PID_OLD = struct.Struct(">IIB").unpack_from
_PORT_NEW = struct.Struct(">II").unpack_from
_PORT_V4 = struct.Struct(">QI").unpack_from
_PORT_OLD = struct.Struct(">IB").unpack_from


def _skip(data: bytes, pos: int, count: int) -> int:
    """Offset just past ``count`` consecutive terms, without building them.

    Iterative (a count of terms still to skip, no stack), so it needs no
    depth limit: it only finds where opaque funs end. Raises IncompleteData
    if the terms run past the end.
    """
    size = len(data)
    while count:
        count -= 1
        if pos >= size:
            raise IncompleteData(f"truncated input: a term was expected at offset {pos}", pos, None)
        tag = data[pos]
        if tag == SMALL_INTEGER_EXT:
            pos += 2
        elif tag == INTEGER_EXT:
            pos += 5
        elif tag == NEW_FLOAT_EXT:
            pos += 9
        elif tag == FLOAT_EXT:
            pos += 32
        elif tag == SMALL_ATOM_UTF8_EXT or tag == SMALL_ATOM_EXT:
            pos += 2 + data[pos + 1]
        elif tag == ATOM_UTF8_EXT or tag == ATOM_EXT:
            pos += 3 + _U16(data, pos + 1)[0]
        elif tag == SMALL_TUPLE_EXT:
            count += data[pos + 1]
            pos += 2
        elif tag == LARGE_TUPLE_EXT:
            count += _U32(data, pos + 1)[0]
            pos += 5
        elif tag == NIL_EXT:
            pos += 1
        elif tag == STRING_EXT:
            pos += 3 + _U16(data, pos + 1)[0]
        elif tag == LIST_EXT:
            count += _U32(data, pos + 1)[0] + 1
            pos += 5
        elif tag == BINARY_EXT:
            pos += 5 + _U32(data, pos + 1)[0]
        elif tag == BIT_BINARY_EXT:
            pos += 6 + _U32(data, pos + 1)[0]
        elif tag == SMALL_BIG_EXT:
            pos += 3 + data[pos + 1]
        elif tag == LARGE_BIG_EXT:
            pos += 6 + _U32(data, pos + 1)[0]
        elif tag == MAP_EXT:
            count += 2 * _U32(data, pos + 1)[0]
            pos += 5
        elif tag == NEW_PID_EXT or tag == PID_EXT:
            pos = _read_atom(data, pos + 1)[1] + (12 if tag == NEW_PID_EXT else 9)
        elif tag == NEW_PORT_EXT or tag == PORT_EXT or tag == V4_PORT_EXT:
            pos = _read_atom(data, pos + 1)[1] + (8 if tag == NEW_PORT_EXT else 5 if tag == PORT_EXT else 12)
        elif tag == REFERENCE_EXT:
            pos = _read_atom(data, pos + 1)[1] + 5
        elif tag == NEW_REFERENCE_EXT or tag == NEWER_REFERENCE_EXT:
            words = _U16(data, pos + 1)[0]
            pos = _read_atom(data, pos + 3)[1] + (1 if tag == NEW_REFERENCE_EXT else 4) + 4 * words
        elif tag == EXPORT_EXT:
            count += 3
            pos += 1
        elif tag == NEW_FUN_EXT:
            pos += 1 + _U32(data, pos + 1)[0]
        elif tag == FUN_EXT:
            count += 4 + _U32(data, pos + 1)[0]
            pos += 5
        else:
            raise _bad("unknown or unsupported tag", tag, pos)
        # Every term takes at least one byte: a count beyond what is left
        # cannot be satisfied, whatever a hostile header claims.
        if count > size - pos:
            raise IncompleteData(f"truncated input: {count} more terms declared at offset {pos}", pos, tag)
    if pos > size:
        raise IncompleteData(f"truncated input: a term runs past the end of the data ({size} bytes)", pos, None)
    return pos


_BASE_LEAVES: dict[int, _LeafFn] = {
    FLOAT_EXT: _float,
    STRING_EXT: _string,
    BIT_BINARY_EXT: _bit_binary,
    NEW_PID_EXT: _new_pid,
    PID_EXT: _pid,
    NEW_PORT_EXT: _new_port,
    V4_PORT_EXT: _v4_port,
    PORT_EXT: _port,
    REFERENCE_EXT: _reference,
    NEW_REFERENCE_EXT: _new_reference,
    NEWER_REFERENCE_EXT: _newer_reference,
    EXPORT_EXT: _export,
    NEW_FUN_EXT: _new_fun,
    FUN_EXT: _fun,
    ATOM_CACHE_REF: _unsupported(ATOM_CACHE_REF, "atom cache references only exist in distribution messages"),
    LOCAL_EXT: _unsupported(LOCAL_EXT, "LOCAL_EXT terms can only be decoded by the node that made them"),
    COMPRESSED: _unsupported(COMPRESSED, "a compressed term may only follow the version byte"),
}

_SPECIAL_ATOMS: dict[str, Any] = {"nil": None, "true": True, "false": False}
_STRUCT_NAME = b"__struct__"


def text_or_bytes(data: bytes) -> str | bytes:
    """``data`` as a ``str`` if it is valid UTF-8, else unchanged: Elixir strings are UTF-8 binaries.

    Meant as a :class:`Decoder`'s ``binary_hook``: the decoder recognises
    this very function and applies it inline, in C as in pure Python, without
    a Python call per binary (a function call per string was most of the
    cost of a decode).
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


# Tags that Decoder._decode_term always reads itself (no leaf function),
# besides SMALL_ATOM_UTF8_EXT and ATOM_EXT (see Decoder._atom_leaves) and
# BINARY_EXT when there is no binary hook (or the built-in text_or_bytes).
_INLINE_TAGS = (SMALL_INTEGER_EXT, INTEGER_EXT, NEW_FLOAT_EXT, NIL_EXT, MAP_EXT, SMALL_TUPLE_EXT, LIST_EXT, LARGE_TUPLE_EXT)

# Container kinds on the decoder's stack; 0 is the top level.
_TOP, _TUPLE, _MAP, _LIST = 0, 1, 2, 3


class _MalformedMap(Exception):
    """A map that cannot be a dict; _decode_term adds where it starts."""


def _finish_map(items: list[Any]) -> dict[Any, Any]:
    it = iter(items)
    try:
        result = dict(zip(it, it))
    except TypeError:
        for key in items[::2]:
            try:
                hash(key)
            except TypeError:
                raise _MalformedMap(
                    f"a key decodes to {type(key).__name__} {key!r:.60}, which is unhashable "
                    "and cannot be a dict key"
                ) from None
        raise
    if 2 * len(result) != len(items):
        raise _MalformedMap("it has keys that are equal in Python (e.g. 1 and 1.0, or 1 and true)")
    return result


def _finish_list(items: list[Any]) -> Any:
    tail = items.pop()
    if type(tail) is list:  # NIL_EXT: a proper list (or a non-canonical split one)
        if tail:
            items += tail
        return items
    if not items:
        return tail
    if type(tail) is ImproperList:
        return ImproperList(items + tail.items, tail.tail)
    return ImproperList(items, tail)


def _raised_here(exc: BaseException) -> bool:
    """Whether an IndexError/struct.error came from this module's reads rather than a hook."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is None or tb.tb_frame.f_globals.get("__name__") == __name__


class Decoder:
    """Decodes ETF bytes (as written by ``:erlang.term_to_binary``) into Python values.

    Hooks replace the default conversions; each one is installed in the
    decoder's dispatch table when the decoder is built:

    - ``atom_hook(name: str)``: called for every atom other than ``nil``,
      ``true`` and ``false`` (always ``None``, ``True``, ``False``) instead of
      building ``Atom(name)``. Results are cached per decoder and name, so
      the hook must be pure (the same name must always give the same value).
    - ``binary_hook(data: bytes)``: called for every binary (``BINARY_EXT``,
      or ``BIT_BINARY_EXT`` with all 8 bits of the last byte used).
      ``binary_hook=text_or_bytes`` is built in: each binary becomes a
      ``str`` if it is valid UTF-8 and stays ``bytes`` otherwise, with no
      Python call per binary.
    - ``map_hook(d: dict)``: called with every decoded map.
    - ``struct_hook(d: dict)``: like ``map_hook`` (which it excludes), but
      called only with the maps that are Elixir structs, so that the others
      cost no Python call (the test is made in C when accelerated). A struct
      is a map with a key equal to what this decoder makes of the atom
      ``__struct__``: ``atom_hook("__struct__")``, or ``Atom("__struct__")``
      without an atom hook. The decoded keys are compared, as
      ``key in d`` would: if the atom hook turns names into ``str`` and
      binaries are text, a binary key ``"__struct__"`` matches too. The atom
      hook is called for ``__struct__`` when the decoder is built (the value
      is then cached like any atom's) and must give a hashable value.
    - ``fun_hook(f: Fun | Export)``: called with every fun.

    Limits (each gives a :class:`CodecError`): ``max_depth`` nested
    containers, ``max_decompressed_size`` bytes of a compressed term,
    ``max_bignum_bytes`` bytes of one integer (the default is Erlang's own
    limit, 2**26 bits). Memory use is bounded by the input size: no count
    read from the input is trusted before the bytes it claims are there.

    A map key that decodes to an unhashable value (a list, a dict) raises
    :class:`CodecError`: Python dicts cannot hold it.
    """

    __slots__ = (
        "_leaves",
        "_finishers",
        "_atom_caches",
        "_make_atom",
        "_text_binaries",
        "_max_depth",
        "_max_decompressed_size",
        "_max_bignum_bytes",
        "_core",
    )
    _atom_caches: tuple[dict[bytes, Any], dict[bytes, Any]]
    _make_atom: Callable[[str], Any]

    def __init__(
        self,
        *,
        atom_hook: Callable[[str], Any] | None = None,
        binary_hook: Callable[[bytes], Any] | None = None,
        map_hook: Callable[[dict[Any, Any]], Any] | None = None,
        struct_hook: Callable[[dict[Any, Any]], Any] | None = None,
        fun_hook: Callable[[Fun | Export], Any] | None = None,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_decompressed_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
        max_bignum_bytes: int = DEFAULT_MAX_BIGNUM_BYTES,
    ) -> None:
        if map_hook is not None and struct_hook is not None:
            raise TypeError("give map_hook or struct_hook, not both: each map goes to one hook")
        for name, limit in (
            ("max_depth", max_depth),
            ("max_decompressed_size", max_decompressed_size),
            ("max_bignum_bytes", max_bignum_bytes),
        ):
            if type(limit) is not int or limit < 0:
                raise ValueError(f"{name} must be a non-negative integer, got: {limit!r}")
        self._max_depth = max_depth
        self._max_decompressed_size = max_decompressed_size
        self._max_bignum_bytes = max_bignum_bytes

        leaves: dict[int, _LeafFn | None] = dict(_BASE_LEAVES)
        leaves.update(self._atom_leaves(atom_hook))
        utf8_atoms, latin1_atoms = self._atom_caches
        leaves[SMALL_BIG_EXT] = self._big_leaf(SMALL_BIG_EXT)
        leaves[LARGE_BIG_EXT] = self._big_leaf(LARGE_BIG_EXT)
        # Without a hook, or with the built-in text_or_bytes, _decode_term reads binaries itself.
        self._text_binaries = binary_hook is text_or_bytes
        leaves[BINARY_EXT] = None if binary_hook is None or self._text_binaries else _hooked_binary(binary_hook)
        leaves[BIT_BINARY_EXT] = _bit_binary_leaf(binary_hook)
        if fun_hook is not None:
            for tag in (NEW_FUN_EXT, EXPORT_EXT, FUN_EXT):
                leaves[tag] = _hooked(_BASE_LEAVES[tag], fun_hook)
        for tag in _INLINE_TAGS:  # _decode_term reads these itself
            leaves[tag] = None
        table: list[_LeafFn | None] = [None] * 256
        for tag, leaf in leaves.items():
            table[tag] = leaf
        self._leaves = table

        finish_map: Callable[[list[Any]], Any] = _finish_map
        struct_key: Any = None
        if map_hook is not None:
            hook = map_hook

            def finish_map(items: list[Any]) -> Any:
                return hook(_finish_map(items))

        elif struct_hook is not None:
            hook = struct_hook
            struct_key = _new_atom(utf8_atoms, _STRUCT_NAME, SMALL_ATOM_UTF8_EXT, 0, self._make_atom)
            latin1_atoms[_STRUCT_NAME] = struct_key  # the same name in both encodings: one hook call
            try:
                hash(struct_key)
            except TypeError:
                raise TypeError(
                    f"struct_hook needs a hashable value for the atom __struct__, got {struct_key!r:.60}"
                ) from None

            def finish_map(items: list[Any]) -> Any:
                result = _finish_map(items)
                return hook(result) if struct_key in result else result

        self._finishers: tuple[Any, ...] = (None, tuple, finish_map, _finish_list)
        # The C loop reads the same tables and caches, so the two never disagree.
        self._core: Any = None
        if _accelerator is not None:
            self._core = _accelerator.DecoderCore(
                table,
                utf8_atoms,
                latin1_atoms,
                self._make_atom,
                None if self._text_binaries else binary_hook,
                self._text_binaries,
                map_hook if struct_hook is None else struct_hook,
                struct_hook is not None,
                struct_key,
                max_depth,
                max_bignum_bytes,
            )

    def _atom_leaves(self, hook: Callable[[str], Any] | None) -> dict[int, _LeafFn | None]:
        # One cache per encoding: the same bytes name the same atom under both
        # tags. The hook (or Atom) only runs when a name is not cached yet, so
        # _decode_term reads the two common tags itself, hook or not.
        self._atom_caches = ({}, {})
        self._make_atom = Atom if hook is None else hook
        utf8, latin1 = self._atom_caches
        return {
            SMALL_ATOM_UTF8_EXT: None,
            ATOM_EXT: None,
            ATOM_UTF8_EXT: _atom_leaf(ATOM_UTF8_EXT, True, self._make_atom, utf8),
            SMALL_ATOM_EXT: _atom_leaf(SMALL_ATOM_EXT, False, self._make_atom, latin1),
        }

    def _big_leaf(self, tag: int) -> _LeafFn:
        limit = self._max_bignum_bytes
        wide = tag == LARGE_BIG_EXT
        from_bytes = int.from_bytes

        def big(data: bytes, pos: int) -> tuple[Any, int]:
            offset = pos - 1
            if wide:
                size = _U32(data, pos)[0]
                pos += 4
            else:
                size = data[pos]
                pos += 1
            if size > limit:
                raise _bad(f"{size} bytes is over the integer size limit ({limit} bytes)", tag, offset)
            sign = data[pos]
            if sign > 1:
                raise _bad(f"sign byte {sign} is neither 0 nor 1", tag, offset)
            start = pos + 1
            end = start + size
            if end > len(data):
                raise _short(tag, offset, data)
            value = from_bytes(data[start:end], "little")
            return (-value if sign else value), end

        return big

    def decode(self, data: bytes | bytearray | memoryview) -> tuple[Any, bytes]:
        """Decode one term; return it with the bytes that follow it.

        ``data`` starts with the version byte 131. Raises
        :class:`IncompleteData` if the data ends before the term does, and
        :class:`CodecError` for anything else that is wrong with it.
        """
        if type(data) is not bytes:
            data = bytes(data)  # one copy; slicing bytes then yields bytes directly
        if len(data) < 2:
            if data and data[0] != VERSION_MAGIC:
                raise CodecError(f"expected the version byte 131 at offset 0, got {data[0]}", 0, data[0])
            raise IncompleteData(f"truncated input: {len(data)} bytes cannot hold a term", len(data), None)
        if data[0] != VERSION_MAGIC:
            raise CodecError(f"expected the version byte 131 at offset 0, got {data[0]}", 0, data[0])
        tag = data[1]
        if tag == COMPRESSED:
            return self._decode_compressed(data)
        if tag == DIST_HEADER or tag == DIST_FRAG_HEADER:
            raise _bad("distribution headers are not supported (not a term_to_binary term)", tag, 1)
        core = self._core
        term, pos = core.decode_term(data, 1) if core is not None else self._decode_term(data, 1)
        return term, data[pos:]

    def _decode_compressed(self, data: bytes) -> tuple[Any, bytes]:
        if len(data) < 6:
            raise _short(COMPRESSED, 1, data)
        size = _U32(data, 2)[0]
        if size > self._max_decompressed_size:
            raise _bad(
                f"declares {size} bytes uncompressed, over the limit of {self._max_decompressed_size}",
                COMPRESSED,
                1,
            )
        inflater = zlib.decompressobj()
        try:
            # max_length: a zip bomb never makes us allocate more than declared.
            inner = inflater.decompress(memoryview(data)[6:], size)
            if len(inner) == size and not inflater.eof:
                # Only the end of the stream (or a lie about the size) is left.
                if inflater.decompress(inflater.unconsumed_tail, 1):
                    raise _bad(f"decompresses to more than the {size} bytes it declares", COMPRESSED, 1)
        except zlib.error as exc:
            raise _bad(f"invalid zlib data ({exc})", COMPRESSED, 1) from None
        if not inflater.eof:
            raise IncompleteData(
                "truncated input: the compressed data at offset 6 ends before its zlib stream does",
                1,
                COMPRESSED,
            )
        if len(inner) != size:
            raise _bad(f"decompresses to {len(inner)} bytes, not the {size} it declares", COMPRESSED, 1)
        core = self._core
        try:
            term, pos = core.decode_term(inner, 0) if core is not None else self._decode_term(inner, 0)
        except CodecError as exc:
            # Inside a complete zlib stream, a short term is malformed, not incomplete.
            raise CodecError(f"in the decompressed data of a COMPRESSED term: {exc}", exc.offset, exc.tag) from None
        if pos != size:
            raise _bad(f"{size - pos} bytes follow the term inside the compressed data", COMPRESSED, 1)
        return term, inflater.unused_data

    def _decode_term(self, data: bytes, pos: int) -> tuple[Any, int]:
        leaves = self._leaves
        finishers = self._finishers
        max_depth = self._max_depth
        utf8_atoms, latin1_atoms = self._atom_caches
        make_atom = self._make_atom
        text = self._text_binaries
        u32 = _U32
        u16 = _U16
        size = len(data)
        stack: list[tuple[list[Any], int, int, int]] = []
        push = stack.append
        pop = stack.pop
        items: list[Any] = []  # the open container's items (unused at the top level)
        append = items.append
        remaining = 0  # how many more terms the open container needs
        kind = _TOP
        opened = 0  # offset of the open container
        value: Any = None
        tag = -1
        try:
            while True:
                tag = data[pos]
                leaf = leaves[tag]
                if leaf is not None:
                    value, pos = leaf(data, pos + 1)
                # No leaf function: a tag handled right here, most common first.
                elif tag == BINARY_EXT:
                    first = pos + 5
                    end = first + u32(data, pos + 1)[0]
                    if end > size:
                        raise _short(tag, pos, data)
                    value = data[first:end]
                    if text:  # text_or_bytes, inlined
                        try:
                            value = value.decode("utf-8")
                        except UnicodeDecodeError:
                            pass
                    pos = end
                elif tag == SMALL_ATOM_UTF8_EXT or tag == ATOM_EXT:
                    if tag == ATOM_EXT:
                        first = pos + 3
                        end = first + u16(data, pos + 1)[0]
                        cache = latin1_atoms
                    else:
                        first = pos + 2
                        end = first + data[pos + 1]
                        cache = utf8_atoms
                    if end > size:
                        raise _short(tag, pos, data)
                    raw = data[first:end]
                    try:
                        value = cache[raw]
                    except KeyError:
                        value = _new_atom(cache, raw, tag, pos, make_atom)
                    pos = end
                elif tag == SMALL_INTEGER_EXT:
                    value = data[pos + 1]
                    pos += 2
                elif tag == INTEGER_EXT:
                    value = _I32(data, pos + 1)[0]
                    pos += 5
                elif tag == NEW_FLOAT_EXT:
                    value = _F64(data, pos + 1)[0]
                    pos += 9
                elif tag == NIL_EXT:
                    value = []
                    pos += 1
                else:
                    # A container: open it, unless it is empty.
                    if tag == MAP_EXT:
                        count = 2 * u32(data, pos + 1)[0]
                        first = pos + 5
                        new_kind = _MAP
                    elif tag == SMALL_TUPLE_EXT:
                        count = data[pos + 1]
                        first = pos + 2
                        new_kind = _TUPLE
                    elif tag == LIST_EXT:
                        count = u32(data, pos + 1)[0] + 1  # the elements, then the tail
                        first = pos + 5
                        new_kind = _LIST
                    elif tag == LARGE_TUPLE_EXT:
                        count = u32(data, pos + 1)[0]
                        first = pos + 5
                        new_kind = _TUPLE
                    else:
                        raise CodecError(f"unknown tag {tag} at offset {pos}", pos, tag)
                    if count:
                        # Each term takes at least one byte: refuse a count the
                        # data cannot hold before allocating anything for it.
                        if count > size - first:
                            raise IncompleteData(
                                f"truncated input: {_tag_name(tag)} at offset {pos} declares {count} terms "
                                f"but only {size - first} bytes follow",
                                pos,
                                tag,
                            )
                        if len(stack) >= max_depth:
                            raise CodecError(
                                f"{_tag_name(tag)} at offset {pos} nests deeper than max_depth={max_depth}",
                                pos,
                                tag,
                            )
                        push((items, remaining, kind, opened))
                        items = []
                        append = items.append
                        remaining = count
                        kind = new_kind
                        opened = pos
                        pos = first
                        continue
                    value = finishers[new_kind]([])
                    pos = first
                # Hand the value to the open container; close every container it completes.
                while kind:
                    append(value)
                    remaining -= 1
                    if remaining:
                        break
                    value = finishers[kind](items)
                    items, remaining, kind, opened = pop()
                    append = items.append
                else:
                    return value, pos
        except (IndexError, struct.error) as exc:
            if not _raised_here(exc):
                raise
            if pos >= size:
                raise IncompleteData(
                    f"truncated input: a term was expected at offset {pos}, where the data ends", pos, None
                ) from None
            raise _short(tag, pos, data) from None
        except _MalformedMap as exc:
            raise CodecError(f"MAP_EXT at offset {opened}: {exc}", opened, MAP_EXT) from None


def _check_atom_length(name: str, tag: int, offset: int) -> None:
    """Refuse an atom name Erlang refuses (its length field allows more)."""
    if len(name) > MAX_ATOM_CHARACTERS:
        raise _bad(
            f"an atom name of {len(name)} characters is over Erlang's limit of {MAX_ATOM_CHARACTERS}", tag, offset
        )


def _new_atom(cache: dict[bytes, Any], raw: bytes, tag: int, offset: int, make: Callable[[str], Any]) -> Any:
    """The value of an atom not yet in ``cache`` (its name's bytes ``raw``), now cached."""
    try:
        name = raw.decode("latin-1" if tag == ATOM_EXT or tag == SMALL_ATOM_EXT else "utf-8")
    except UnicodeDecodeError:
        raise _bad("atom name is not valid UTF-8", tag, offset) from None
    if len(raw) > MAX_ATOM_CHARACTERS:
        _check_atom_length(name, tag, offset)
    value = _SPECIAL_ATOMS[name] if name in _SPECIAL_ATOMS else make(name)
    if len(cache) >= _ATOM_CACHE_LIMIT:
        cache.clear()  # a crude bound that still follows the atoms in use
    cache[raw] = value
    return value


def _atom_leaf(tag: int, wide: bool, make: Callable[[str], Any], cache: dict[bytes, Any]) -> _LeafFn:
    """A leaf function for one atom tag, caching the value of each name it meets."""

    def atom(data: bytes, pos: int) -> tuple[Any, int]:
        if wide:
            first = pos + 2
            end = first + _U16(data, pos)[0]
        else:
            first = pos + 1
            end = first + data[pos]
        if end > len(data):
            raise _short(tag, pos - 1, data)
        raw = data[first:end]
        try:
            return cache[raw], end
        except KeyError:
            return _new_atom(cache, raw, tag, pos - 1, make), end

    return atom


def _hooked(leaf: _LeafFn, hook: Callable[[Any], Any]) -> _LeafFn:
    def hooked(data: bytes, pos: int) -> tuple[Any, int]:
        value, pos = leaf(data, pos)
        return hook(value), pos

    return hooked


def _hooked_binary(hook: Callable[[bytes], Any]) -> _LeafFn:
    def binary(data: bytes, pos: int) -> tuple[Any, int]:
        first = pos + 4
        end = first + _U32(data, pos)[0]
        if end > len(data):
            raise _short(BINARY_EXT, pos - 1, data)
        return hook(data[first:end]), end

    return binary


def _bit_binary_leaf(binary_hook: Callable[[bytes], Any] | None) -> _LeafFn:
    # A bitstring whose last byte is whole is a binary, as binary_to_term says.
    def bit_binary(data: bytes, pos: int) -> tuple[Any, int]:
        value, end = _bit_binary(data, pos)
        if value.bits == 8:
            return (value.data if binary_hook is None else binary_hook(value.data)), end
        return value, end

    return bit_binary


# -- Encoding ---------------------------------------------------------------
#
# A handler takes an object and the output's append; a leaf handler appends
# the whole encoding and returns None, a container handler appends its header
# and returns (iterator over the children, bytes to append after them).

_Append = Callable[[Any], None]
_Frame = tuple[Iterator[Any], Union[bytes, None]]
_Handler = Callable[[Any, _Append], Union[_Frame, None]]

_NIL_ATOM = bytes((SMALL_ATOM_UTF8_EXT, 3)) + b"nil"
_TRUE_ATOM = bytes((SMALL_ATOM_UTF8_EXT, 4)) + b"true"
_FALSE_ATOM = bytes((SMALL_ATOM_UTF8_EXT, 5)) + b"false"
_NAN_ATOM = bytes((SMALL_ATOM_UTF8_EXT, 3)) + b"nan"
_INFINITY_ATOM = bytes((SMALL_ATOM_UTF8_EXT, 8)) + b"infinity"
_NEG_INFINITY_ATOM = bytes((SMALL_ATOM_UTF8_EXT, 12)) + b"neg_infinity"
_NIL = bytes((NIL_EXT,))
_SMALL_INTEGERS = tuple(bytes((SMALL_INTEGER_EXT, n)) for n in range(256))
_SMALL_TUPLES = tuple(bytes((SMALL_TUPLE_EXT, n)) for n in range(256))
_SMALL_MAPS = tuple(_PACK_TAG_U32(MAP_EXT, n) for n in range(256))
_SMALL_LISTS = tuple(_PACK_TAG_U32(LIST_EXT, n) for n in range(256))
_ATOM_BYTES: dict[str, bytes] = {}
_TEXT_CACHE: dict[str, bytes] = {}
_TEXT_CACHE_LIMIT = 4096
_TEXT_CACHE_MAX_LENGTH = 64


def _encode_none(obj: Any, append: _Append) -> None:
    append(_NIL_ATOM)


def _encode_bool(obj: Any, append: _Append) -> None:
    append(_TRUE_ATOM if obj else _FALSE_ATOM)


def _encode_int(obj: Any, append: _Append) -> None:
    if 0 <= obj < 256:
        append(_SMALL_INTEGERS[obj])
    elif -0x80000000 <= obj < 0x80000000:
        append(_PACK_TAG_I32(INTEGER_EXT, obj))
    else:
        sign = obj < 0
        magnitude = -obj if sign else int(obj)
        size = (magnitude.bit_length() + 7) >> 3
        if size < 256:
            append(bytes((SMALL_BIG_EXT, size, sign)))
        elif size <= ERLANG_MAX_BIG_BYTES:
            append(_PACK_TAG_U32_U8(LARGE_BIG_EXT, size, sign))
        else:
            raise CodecError(_big_over_limit(size))
        append(magnitude.to_bytes(size, "little"))


def _big_over_limit(size: int) -> str:
    return (
        f"an integer of {size} bytes cannot be encoded: Erlang's limit is "
        f"{ERLANG_MAX_BIG_BYTES} bytes ({8 * ERLANG_MAX_BIG_BYTES} bits)"
    )


def _encode_float(obj: Any, append: _Append) -> None:
    if obj - obj == 0.0:  # finite: inf - inf and nan - nan are nan
        append(_PACK_TAG_F64(NEW_FLOAT_EXT, obj))
    elif obj != obj:
        append(_NAN_ATOM)
    else:
        append(_INFINITY_ATOM if obj > 0 else _NEG_INFINITY_ATOM)


def _encode_str(obj: Any, append: _Append) -> None:
    try:
        data = obj.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CodecError(f"a str is not valid Unicode and cannot be encoded as UTF-8: {exc}") from None
    append(_PACK_TAG_U32(BINARY_EXT, len(data)))
    append(data)


def _text_bytes(text: str) -> Any:
    """The encoding of a ``str``; short ones are cached, as map keys repeat."""
    if len(text) > _TEXT_CACHE_MAX_LENGTH:
        chunks: list[Any] = []
        _encode_str(text, chunks.append)
        return b"".join(chunks)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CodecError(f"a str is not valid Unicode and cannot be encoded as UTF-8: {exc}") from None
    encoded = _PACK_TAG_U32(BINARY_EXT, len(data)) + data
    if len(_TEXT_CACHE) >= _TEXT_CACHE_LIMIT:
        _TEXT_CACHE.clear()  # a crude bound that still follows the keys in use
    _TEXT_CACHE[text] = encoded
    return encoded


def _encode_bytes(obj: Any, append: _Append) -> None:
    append(_PACK_TAG_U32(BINARY_EXT, len(obj)))
    append(obj)  # b"".join copies it once, at the end


def _encode_memoryview(obj: Any, append: _Append) -> None:
    append(_PACK_TAG_U32(BINARY_EXT, obj.nbytes))
    append(obj if obj.c_contiguous else obj.tobytes())


def _encode_tuple(obj: Any, append: _Append) -> _Frame | None:
    size = len(obj)
    if size < 256:
        append(_SMALL_TUPLES[size])
    else:
        append(_PACK_TAG_U32(LARGE_TUPLE_EXT, size))
    return (iter(obj), None) if size else None


def _encode_list(obj: Any, append: _Append) -> _Frame | None:
    if not obj:
        append(_NIL)
        return None
    append(_PACK_TAG_U32(LIST_EXT, len(obj)))
    return iter(obj), _NIL


_chain_pairs = chain.from_iterable


def _encode_dict(obj: Any, append: _Append) -> _Frame | None:
    append(_PACK_TAG_U32(MAP_EXT, len(obj)))
    return (_chain_pairs(obj.items()), None) if obj else None


def _atom_bytes(name: str) -> bytes:
    cached = _ATOM_BYTES.get(name)
    if cached is not None:
        return cached
    if len(name) > MAX_ATOM_CHARACTERS:
        raise CodecError(f"an atom has at most 255 characters, got {len(name)}: {name[:40]!r}...")
    try:
        data = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CodecError(f"an atom's name is not valid Unicode: {exc}") from None
    if len(data) < 256:
        encoded = bytes((SMALL_ATOM_UTF8_EXT, len(data))) + data
    else:
        encoded = bytes((ATOM_UTF8_EXT,)) + _PACK_U16(len(data)) + data
    if len(_ATOM_BYTES) >= _ATOM_CACHE_LIMIT:
        _ATOM_BYTES.clear()
    _ATOM_BYTES[name] = encoded
    return encoded


def _encode_atom(obj: Any, append: _Append) -> None:
    append(_atom_bytes(obj.name))


def _encode_pid(obj: Any, append: _Append) -> None:
    append(bytes((NEW_PID_EXT,)) + _atom_bytes(obj.node.name) + _PACK_III(obj.id, obj.serial, obj.creation))


def _encode_port(obj: Any, append: _Append) -> None:
    node = _atom_bytes(obj.node.name)
    if obj.id <= 0xFFFFFFFF:
        append(bytes((NEW_PORT_EXT,)) + node + _PACK_II(obj.id, obj.creation))
    else:
        append(bytes((V4_PORT_EXT,)) + node + _PACK_QI(obj.id, obj.creation))


def _encode_reference(obj: Any, append: _Append) -> None:
    ids = obj.ids
    append(
        bytes((NEWER_REFERENCE_EXT,))
        + _PACK_U16(len(ids))
        + _atom_bytes(obj.node.name)
        + _PACK_U32(obj.creation)
        + struct.pack(f">{len(ids)}I", *ids)
    )


def _encode_export(obj: Any, append: _Append) -> None:
    append(
        bytes((EXPORT_EXT,))
        + _atom_bytes(obj.module.name)
        + _atom_bytes(obj.function.name)
        + _SMALL_INTEGERS[obj.arity]
    )


def _encode_fun(obj: Any, append: _Append) -> None:
    append(obj.data)


def _encode_bit_binary(obj: Any, append: _Append) -> None:
    append(_PACK_TAG_U32_U8(BIT_BINARY_EXT, len(obj.data), obj.bits))
    append(obj.data)


def _encode_improper_list(obj: Any, append: _Append) -> _Frame:
    append(_PACK_TAG_U32(LIST_EXT, len(obj.items)))
    return chain(obj.items, (obj.tail,)), None


_BASE_HANDLERS: dict[type, _Handler] = {
    str: _encode_str,
    int: _encode_int,
    dict: _encode_dict,
    float: _encode_float,
    list: _encode_list,
    tuple: _encode_tuple,
    bytes: _encode_bytes,
    type(None): _encode_none,
    bool: _encode_bool,
    Atom: _encode_atom,
    bytearray: _encode_bytes,
    memoryview: _encode_memoryview,
    Pid: _encode_pid,
    Reference: _encode_reference,
    Port: _encode_port,
    Export: _encode_export,
    Fun: _encode_fun,
    BitBinary: _encode_bit_binary,
    ImproperList: _encode_improper_list,
}
# Exact types that Encoder._encode_into handles itself (no handler call), in
# the order it tests them.
_INLINE_TYPES = (str, int, dict, float, list, tuple, Atom, type(None), bool)
# Bases whose subclasses encode like them (bool cannot be subclassed).
_SUBCLASSABLE = (int, float, str, bytes, bytearray, tuple, list, dict)


def _replacing(function: Callable[[Any], Any]) -> _Handler:
    """A handler that encodes ``function(obj)`` in place of ``obj``."""

    def replace(obj: Any, append: _Append) -> _Frame:
        return iter((function(obj),)), None

    return replace


class Encoder:
    """Encodes Python values as ETF bytes that ``:erlang.binary_to_term/2`` accepts.

    ``default(obj)`` is called for an object of a type the encoder does not
    know; what it returns is encoded in its place. Without ``default`` such
    an object raises :class:`CodecError` naming its type.

    ``overrides`` maps exact types to functions whose result is encoded in
    place of each object of that type, e.g. ``{bytes: lambda b: {...}}``.
    They replace the encoder's entry for that type (subclasses still encode
    as their built-in base). A replacement counts as one level of nesting.

    Nesting deeper than ``max_depth`` containers (or a cycle) raises
    :class:`CodecError`.
    """

    __slots__ = ("_handlers", "_default", "_max_depth", "_core")
    _handlers: dict[type, _Handler | None]

    def __init__(
        self,
        *,
        default: Callable[[Any], Any] | None = None,
        overrides: Mapping[type, Callable[[Any], Any]] | None = None,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        if type(max_depth) is not int or max_depth < 0:
            raise ValueError(f"max_depth must be a non-negative integer, got: {max_depth!r}")
        handlers: dict[type, _Handler | None] = dict(_BASE_HANDLERS)
        handlers.update(dict.fromkeys(_INLINE_TYPES))
        for cls, function in (overrides or {}).items():
            if not isinstance(cls, type) or not callable(function):
                raise TypeError(f"overrides must map types to functions, got: {cls!r}: {function!r}")
            handlers[cls] = _replacing(function)
        self._handlers = handlers
        self._default = None if default is None else _replacing(default)
        self._max_depth = max_depth
        # The C loop uses the same handler table (and _resolve for what is not in it).
        self._core: Any = None if _accelerator is None else _accelerator.EncoderCore(handlers, max_depth)

    def _resolve(self, obj: Any) -> _Handler:
        cls = type(obj)
        for base in _SUBCLASSABLE:
            if isinstance(obj, base):
                handler = _BASE_HANDLERS[base]
                if len(self._handlers) < len(_BASE_HANDLERS) + _SUBCLASS_CACHE_LIMIT:
                    self._handlers[cls] = handler  # a cache: the same answer every time
                return handler
        if self._default is not None:
            return self._default
        raise CodecError(f"cannot encode an object of type {cls.__module__}.{cls.__qualname__}: {obj!r:.80}")

    def encode(self, term: Any, *, compressed: bool | int = False) -> bytes:
        """Encode ``term``; the result starts with the version byte 131.

        ``compressed`` is a zlib level (1-9; ``True`` means 6, ``False`` or 0
        none): the term is then zlib-compressed behind tag 80, as
        ``:erlang.term_to_binary(term, [:compressed])`` does, and like it the
        plain form is returned when the compressed one would be larger.
        """
        if compressed is True:
            level = 6
        elif compressed is False:
            level = 0
        elif type(compressed) is int and 0 <= compressed <= 9:
            level = compressed
        else:
            raise ValueError(f"compressed must be a bool or a zlib level 0..9, got: {compressed!r}")
        core = self._core
        if core is not None:
            data: bytes = core.encode(self, term)
        else:
            chunks: list[Any] = [b"\x83"]
            self._encode_into(term, chunks.append)
            data = b"".join(chunks)
        if not level:
            return data
        compressed_data = b"\x83P" + _PACK_U32(len(data) - 1) + zlib.compress(memoryview(data)[1:], level)
        # As term_to_binary does: the plain form when compressing does not make it smaller.
        return compressed_data if len(compressed_data) <= len(data) else data

    def _encode_into(self, term: Any, append: _Append) -> None:
        handlers = self._handlers
        max_depth = self._max_depth
        text_cache = _TEXT_CACHE
        atom_cache = _ATOM_BYTES
        small_integers = _SMALL_INTEGERS
        small_tuples = _SMALL_TUPLES
        small_maps = _SMALL_MAPS
        small_lists = _SMALL_LISTS
        pack_i32 = _PACK_TAG_I32
        pack_u32 = _PACK_TAG_U32
        pack_f64 = _PACK_TAG_F64
        chain_pairs = _chain_pairs
        stack: list[_Frame] = []
        push = stack.append
        pop = stack.pop
        children: Iterator[Any] = iter((term,))
        after: bytes | None = None
        frame: _Frame | None
        while True:
            for obj in children:
                cls = type(obj)
                try:
                    handler = handlers[cls]
                except KeyError:
                    handler = self._resolve(obj)
                if handler is not None:
                    frame = handler(obj, append)
                    if frame is None:
                        continue
                # No handler: a built-in type handled right here, most common first.
                elif cls is str:
                    encoded = text_cache.get(obj)
                    append(encoded if encoded is not None else _text_bytes(obj))
                    continue
                elif cls is int:
                    if 0 <= obj < 256:
                        append(small_integers[obj])
                    elif -0x80000000 <= obj < 0x80000000:
                        append(pack_i32(INTEGER_EXT, obj))
                    else:
                        _encode_int(obj, append)
                    continue
                elif cls is dict:
                    size = len(obj)
                    append(small_maps[size] if size < 256 else pack_u32(MAP_EXT, size))
                    if not size:
                        continue
                    frame = chain_pairs(obj.items()), None
                elif cls is float:
                    if obj - obj == 0.0:  # finite: inf - inf and nan - nan are nan
                        append(pack_f64(NEW_FLOAT_EXT, obj))
                    else:
                        _encode_float(obj, append)
                    continue
                elif cls is list:
                    size = len(obj)
                    if not size:
                        append(_NIL)
                        continue
                    append(small_lists[size] if size < 256 else pack_u32(LIST_EXT, size))
                    frame = iter(obj), _NIL
                elif cls is tuple:
                    size = len(obj)
                    append(small_tuples[size] if size < 256 else pack_u32(LARGE_TUPLE_EXT, size))
                    if not size:
                        continue
                    frame = iter(obj), None
                elif cls is Atom:
                    encoded = atom_cache.get(obj.name)
                    append(encoded if encoded is not None else _atom_bytes(obj.name))
                    continue
                elif obj is None:
                    append(_NIL_ATOM)
                    continue
                else:  # bool, the last of _INLINE_TYPES
                    append(_TRUE_ATOM if obj else _FALSE_ATOM)
                    continue
                if len(stack) >= max_depth:
                    raise CodecError(f"the term nests deeper than max_depth={max_depth} (or is cyclic)")
                push((children, after))
                children, after = frame
                break
            else:
                if after is not None:
                    append(after)
                if not stack:
                    return
                children, after = pop()


def _load_accelerator() -> Any:
    """The C extension, given the names it calls back; None if not built or PYBRIDGE_PURE_CODEC is set."""
    if os.environ.get("PYBRIDGE_PURE_CODEC", "") not in ("", "0"):
        return None
    try:
        module = importlib.import_module("pybridge_port._ccodec")
    except ImportError:
        return None
    module.setup(
        CodecError=CodecError,
        IncompleteData=IncompleteData,
        MalformedMap=_MalformedMap,
        StructError=struct.error,
        short=_short,
        bad=_bad,
        tag_name=_tag_name,
        raised_here=_raised_here,
        new_atom=_new_atom,
        finish_map=_finish_map,
        finish_list=_finish_list,
        atom_bytes=_atom_bytes,
        encode_str=_encode_str,
        encode_bytes=_encode_bytes,
        Atom=Atom,
        Pid=Pid,
        plain_atoms=_PLAIN_ATOMS,
    )
    return module


_accelerator: Any = _load_accelerator()
ACCELERATED: bool = _accelerator is not None
"""Whether :class:`Decoder` and :class:`Encoder` run in C (see the module docstring)."""

_DEFAULT_ENCODER = Encoder()
_DEFAULT_DECODER = Decoder()


def encode(term: Any, *, compressed: bool | int = False) -> bytes:
    """Encode ``term`` with a default :class:`Encoder` (see :meth:`Encoder.encode`)."""
    return _DEFAULT_ENCODER.encode(term, compressed=compressed)


def decode(data: bytes | bytearray | memoryview) -> tuple[Any, bytes]:
    """Decode one term with a default :class:`Decoder`; return ``(term, tail)``."""
    return _DEFAULT_DECODER.decode(data)


def frame_head(data: bytes | memoryview) -> tuple[str, int] | None:
    """``(tag, id)`` of a frame shaped ``{tag, id, ...}`` with an atom tag and an integer id.

    Reads only the first bytes, so the sender of a frame that cannot be decoded
    (nested too deep, over a limit) can still be answered. None when the frame
    does not start that way.
    """
    view = memoryview(data)
    if len(view) < 4 or view[0] != VERSION_MAGIC:
        return None
    if view[1] == SMALL_TUPLE_EXT and view[2] >= 2:
        pos = 3
    elif view[1] == LARGE_TUPLE_EXT and len(view) >= 6 and int.from_bytes(view[2:6], "big") >= 2:
        pos = 6
    else:
        return None
    tag = view[pos] if pos < len(view) else -1
    if tag in (SMALL_ATOM_UTF8_EXT, SMALL_ATOM_EXT) and pos + 2 <= len(view):
        size, pos = view[pos + 1], pos + 2
    elif tag in (ATOM_UTF8_EXT, ATOM_EXT) and pos + 3 <= len(view):
        size, pos = int.from_bytes(view[pos + 1 : pos + 3], "big"), pos + 3
    else:
        return None
    if pos + size >= len(view):
        return None
    name = bytes(view[pos : pos + size]).decode("utf-8", "replace")
    pos += size
    tag = view[pos]
    if tag == SMALL_INTEGER_EXT and pos + 2 <= len(view):
        return name, view[pos + 1]
    if tag == INTEGER_EXT and pos + 5 <= len(view):
        return name, int.from_bytes(view[pos + 1 : pos + 5], "big", signed=True)
    if tag == SMALL_BIG_EXT and pos + 3 <= len(view) and view[pos + 1] <= 8:
        size, sign = view[pos + 1], view[pos + 2]
        if pos + 3 + size > len(view):
            return None
        value = int.from_bytes(view[pos + 3 : pos + 3 + size], "little")
        return name, -value if sign else value
    return None
