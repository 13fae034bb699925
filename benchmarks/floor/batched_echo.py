"""The throughput ceiling through one Port (path ``batched_echo``): nothing decoded.

Reads everything queued on stdin, answers every complete ``{packet, 4}``
request frame ``{:call, id, ...}`` (as ``term_to_binary`` writes it) with
``{:ok, id, nil}`` made by splicing bytes (the reply header, the id's bytes
copied from the request, the atom ``nil``), and writes all the answers with
one write. Only the lengths of the tag atom and of the id are read, so that
the same Elixir driver as ``simple_rpc`` (``benchmarks/elixir/lib/rpc_floor.ex``)
receives well-formed replies; no Python value is built per request.
"""

from __future__ import annotations

import os
import struct

from pybridge_port.framing import enlarge_pipe

_LENGTH = struct.Struct(">I")
_U16 = struct.Struct(">H")
# 131 (version), SMALL_TUPLE_EXT of 3, SMALL_ATOM_UTF8_EXT "ok"
_REPLY_HEAD = b"\x83h\x03w\x02ok"
_NIL = b"w\x03nil"


def _skip_atom(frame: bytes, pos: int) -> int:
    tag = frame[pos]
    if tag == 119:  # SMALL_ATOM_UTF8_EXT
        return pos + 2 + frame[pos + 1]
    if tag in (100, 118):  # ATOM_EXT, ATOM_UTF8_EXT
        return pos + 3 + _U16.unpack_from(frame, pos + 1)[0]
    raise ValueError(f"batched_echo: expected an atom at byte {pos}, got tag {tag}")


def _integer_end(frame: bytes, pos: int) -> int:
    tag = frame[pos]
    if tag == 97:  # SMALL_INTEGER_EXT
        return pos + 2
    if tag == 98:  # INTEGER_EXT
        return pos + 5
    if tag == 110:  # SMALL_BIG_EXT
        return pos + 3 + frame[pos + 1]
    raise ValueError(f"batched_echo: expected an integer id at byte {pos}, got tag {tag}")


def reply(frame: bytes, start: int) -> bytes:
    """``{:ok, id, nil}`` (with its length) for the request whose body starts at ``start``."""
    # 131, SMALL_TUPLE_EXT, arity, then the tag atom and the id.
    id_start = _skip_atom(frame, start + 3)
    body = _REPLY_HEAD + frame[id_start : _integer_end(frame, id_start)] + _NIL
    return _LENGTH.pack(len(body)) + body


def main() -> None:
    enlarge_pipe(0)
    enlarge_pipe(1)
    pending = b""
    while True:
        data = os.read(0, 1 << 20)
        if not data:
            return
        pending += data
        start, end, out = 0, len(pending), []
        while end - start >= 4:
            (size,) = _LENGTH.unpack_from(pending, start)
            if end - start - 4 < size:
                break
            out.append(reply(pending, start + 4))
            start += 4 + size
        pending = pending[start:]
        answer = memoryview(b"".join(out))
        while answer:
            answer = answer[os.write(1, answer) :]


if __name__ == "__main__":
    main()
