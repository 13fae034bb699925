"""The simplest correct worker (path ``simple_rpc``): what every feature of the real one must not cost.

One thread, one request at a time: read a ``{packet, 4}`` frame from stdin,
decode it with the project's codec (``pybridge_port.codec``, the C
accelerator when built), resolve the dotted path, call it, encode the reply
and write it to stdout. Requests have the real worker's shape,
``{:call, id, target, args, kwargs, opts}``; the reply is ``{:ok, id,
value}``, or ``{:error, id, %{type, message}}`` when the call raised. No
handles, streams, callbacks, cancellation, output capture or threads: a
call that blocks stops the worker. ``benchmarks/elixir/lib/rpc_floor.ex``
drives it from Elixir.
"""

from __future__ import annotations

import importlib
import os
import struct
import sys
from typing import Any, BinaryIO

from pybridge_port.codec import Decoder, Encoder, text_or_bytes
from pybridge_port.framing import enlarge_pipe
from pybridge_port.types import Atom

_LENGTH = struct.Struct(">I")
_OK, _ERROR = Atom("ok"), Atom("error")


def resolve(path: str) -> Any:
    """The attribute ``name`` of module ``a.b`` for ``"a.b.name"``, looked up on every call."""
    module_name, _, name = path.rpartition(".")
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    return getattr(module, name)


def read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    """``size`` bytes, or None at the end of input."""
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def answer(request: Any) -> Any:
    """The reply term to one decoded request."""
    tag, request_id, target, args, kwargs, _opts = request
    if tag != "call":
        return (_ERROR, request_id, {"type": "ProtocolError", "message": f"simple_rpc only answers :call, got {tag!r}"})
    try:
        value = resolve(target)(*args, **dict(kwargs or ()))
    except Exception as exc:  # a failing call is an error reply, not a dead worker
        return (_ERROR, request_id, {"type": type(exc).__name__, "message": str(exc)})
    return (_OK, request_id, value)


def main() -> None:
    enlarge_pipe(0)
    enlarge_pipe(1)
    # Atoms as str (the tag, keyword keys), binaries as str when UTF-8 (the path).
    decoder = Decoder(atom_hook=str, binary_hook=text_or_bytes)
    encoder = Encoder()
    stdin = sys.stdin.buffer
    while True:
        header = read_exactly(stdin, 4)
        if header is None:
            return
        body = read_exactly(stdin, _LENGTH.unpack(header)[0])
        if body is None:
            return
        request, _ = decoder.decode(body)
        reply = encoder.encode(answer(request))
        out = memoryview(_LENGTH.pack(len(reply)) + reply)
        while out:
            out = out[os.write(1, out) :]


if __name__ == "__main__":
    main()
