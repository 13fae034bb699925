"""``{packet, 4}`` frames read in batches into one buffer, for the Python floors.

``os.read(fd, 1 << 20)`` allocates (and frees) a 1 MiB bytes object per
read; glibc serves that size with mmap/munmap, so every read of a small
frame paid page faults: measured on this VM, ~90 µs per read against ~10
µs into a preallocated buffer. The real worker's ``FrameReader`` reads into
a preallocated buffer too, so the floors must not pay what it does not.
"""

from __future__ import annotations

import struct

_LENGTH = struct.Struct(">I")


class BatchReader:
    """Reads whatever is queued on ``fd`` into one reused buffer.

    ``read()`` returns the spans ``(start, end)`` in ``buffer`` of the
    complete frames (4-byte header included) now available, or None at the
    end of input; the spans are valid until the next ``read()``.
    """

    def __init__(self, fd: int, size: int = 1 << 20) -> None:
        self._file = open(fd, "rb", buffering=0, closefd=False)
        self.buffer = bytearray(size)
        self._filled = 0  # bytes of buffer holding data
        self._consumed = 0  # bytes at the front returned by the last read()

    def read(self) -> list[tuple[int, int]] | None:
        buffer = self.buffer
        if self._consumed:  # move the partial frame after the last batch to the front
            rest = self._filled - self._consumed
            buffer[:rest] = buffer[self._consumed : self._filled]
            self._filled, self._consumed = rest, 0
        while True:
            if self._filled == len(buffer):  # a frame longer than the buffer: grow it
                buffer.extend(bytes(len(buffer)))
            count = self._file.readinto(memoryview(buffer)[self._filled :])
            if not count:
                return None
            self._filled += count
            spans, start = [], 0
            while self._filled - start >= 4:
                end = start + 4 + _LENGTH.unpack_from(buffer, start)[0]
                if end > self._filled:
                    break
                spans.append((start, end))
                start = end
            if spans:
                self._consumed = start
                return spans


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``."""
    import os

    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
