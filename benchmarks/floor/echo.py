"""The floor of any Python worker: ``floor/echo.c``'s loop, in Python.

Reads what is queued on stdin, answers every complete ``{packet, 4}`` frame
with the same bytes, and writes the answers with one write; nothing is
decoded. Only the no-op call is measured with it (path ``python_echo``):
what a Python process costs per round trip before any work, which is the
part of PyBridge's time that no change inside the worker can remove.
"""

from __future__ import annotations

import os
import struct

from pybridge_port.framing import enlarge_pipe

_LENGTH = struct.Struct(">I")


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
            out.append(pending[start : start + 4 + size])
            start += 4 + size
        pending = pending[start:]
        answer = memoryview(b"".join(out))
        while answer:
            answer = answer[os.write(1, answer) :]


if __name__ == "__main__":
    main()
