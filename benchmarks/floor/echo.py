"""The floor of any Python worker: ``floor/echo.c``'s loop, in Python.

Reads what is queued on stdin, answers every complete ``{packet, 4}`` frame
with the same bytes, and writes the answers with one write; nothing is
decoded. Only the no-op call is measured with it (path ``python_echo``):
what a Python process costs per round trip before any work, which is the
part of PyBridge's time that no change inside the worker can remove. It
reads into a reused buffer (``frames.py`` says why).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pybridge_port.framing import enlarge_pipe

if __package__ in (None, ""):  # run as a script: the repository root on the path, for benchmarks.floor.frames
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.floor.frames import BatchReader, write_all  # noqa: E402


def main() -> None:
    enlarge_pipe(0)
    enlarge_pipe(1)
    reader = BatchReader(0)
    while True:
        spans = reader.read()
        if spans is None:
            return
        buffer = reader.buffer
        write_all(1, b"".join(buffer[start:end] for start, end in spans))


if __name__ == "__main__":
    main()
