"""The throughput ceiling through one Port (path ``batched_echo``): nothing decoded.

Reads everything queued on stdin (into a reused buffer, ``frames.py``), answers every complete ``{packet, 4}``
request frame ``{:call, id, ...}`` (as ``term_to_binary`` writes it) with
``{:ok, id, nil}`` made by splicing bytes (the reply header, the id's bytes
copied from the request, the atom ``nil``), and writes all the answers with
one write. Only the lengths of the tag atom and of the id are read, so that
the same Elixir driver as ``simple_rpc`` (``benchmarks/elixir/lib/rpc_floor.ex``)
receives well-formed replies; no Python value is built per request.
"""

from __future__ import annotations

import sys
from pathlib import Path

import struct


from pybridge_port.framing import enlarge_pipe

if __package__ in (None, ""):  # run as a script: the repository root on the path, for benchmarks.floor.frames
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.floor.frames import BatchReader, write_all  # noqa: E402

_LENGTH = struct.Struct(">I")
_U16 = struct.Struct(">H")
# 131 (version), SMALL_TUPLE_EXT of 3, SMALL_ATOM_UTF8_EXT "ok"
_REPLY_HEAD = b"\x83h\x03w\x02ok"
_NIL = b"w\x03nil"


def _skip_atom(frame: bytes | bytearray, pos: int) -> int:
    tag = frame[pos]
    if tag == 119:  # SMALL_ATOM_UTF8_EXT
        return pos + 2 + frame[pos + 1]
    if tag in (100, 118):  # ATOM_EXT, ATOM_UTF8_EXT
        return pos + 3 + _U16.unpack_from(frame, pos + 1)[0]
    raise ValueError(f"batched_echo: expected an atom at byte {pos}, got tag {tag}")


def _integer_end(frame: bytes | bytearray, pos: int) -> int:
    tag = frame[pos]
    if tag == 97:  # SMALL_INTEGER_EXT
        return pos + 2
    if tag == 98:  # INTEGER_EXT
        return pos + 5
    if tag == 110:  # SMALL_BIG_EXT
        return pos + 3 + frame[pos + 1]
    raise ValueError(f"batched_echo: expected an integer id at byte {pos}, got tag {tag}")


def reply(frame: bytes | bytearray, start: int) -> bytes:
    """``{:ok, id, nil}`` (with its length) for the request whose body starts at ``start``."""
    # 131, SMALL_TUPLE_EXT, arity, then the tag atom and the id.
    id_start = _skip_atom(frame, start + 3)
    body = _REPLY_HEAD + frame[id_start : _integer_end(frame, id_start)] + _NIL
    return _LENGTH.pack(len(body)) + body


def main() -> None:
    enlarge_pipe(0)
    enlarge_pipe(1)
    reader = BatchReader(0)
    while True:
        spans = reader.read()
        if spans is None:
            return
        buffer = reader.buffer
        write_all(1, b"".join([reply(buffer, start + 4) for start, _ in spans]))


if __name__ == "__main__":
    main()
