"""Frames on a pipe: a 4-byte big-endian length, then that many bytes.

This is what an Elixir Port opened with ``{:packet, 4}`` reads and writes.
The reader takes every frame already queued on the pipe with one system call
(throughput comes from pipelining); the writer combines frames that several
threads send at once into one ``writev``.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from dataclasses import dataclass

_LENGTH = struct.Struct(">I")
HEADER_SIZE = _LENGTH.size
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
# Linux caps iovec arrays at IOV_MAX (1024).
_IOV_MAX = 1024
# Frames up to this size are joined to their header and written with one write().
_SMALL = 4096
F_SETPIPE_SZ = 1031


@dataclass(frozen=True)
class OversizedFrame:
    """A length prefix over the reader's limit: where the input stopped being readable.

    Its body is not read (a garbage prefix can declare up to 4 GiB that never
    come), so where the next frame starts is unknown: after one, the reader
    is at its end.
    """

    size: int
    limit: int


def enlarge_pipe(fd: int, size: int = 1 << 20) -> bool:
    """Ask the kernel for a larger pipe buffer on ``fd``; False if it refused.

    1 MiB pipes halve the time of a 1 MiB round trip (DESIGN.md).
    """
    import fcntl

    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, size)
        return True
    except OSError:
        return False


class FrameReader:
    """Reads length-prefixed frames from a file descriptor.

    ``read_frames`` returns the frames that are complete after one read. The
    returned memoryviews point into the reader's buffer and stay valid only
    until the next call: decode them before reading again.

    A length over ``max_frame`` is returned as an :class:`OversizedFrame` as
    soon as its 4 bytes arrive, after the frames before it; the input cannot
    be resynchronised, so it is the last thing returned and ``read_frames``
    returns ``[]`` (end of input) from then on, without reading.
    """

    def __init__(self, fd: int, *, max_frame: int = DEFAULT_MAX_FRAME, buffer_size: int = 1 << 20) -> None:
        self._fd = fd
        self._max_frame = max_frame
        self._buffer_size = buffer_size
        self._buffer = bytearray(buffer_size)
        self._view = memoryview(self._buffer)
        self._start = 0  # first unparsed byte
        self._end = 0  # one past the last byte read
        self._lost = False  # an oversized length was met: nothing more can be read

    def fileno(self) -> int:
        """The file descriptor frames are read from."""
        return self._fd

    def read_frames(self) -> list[memoryview | OversizedFrame]:
        """Block until at least one frame is complete; ``[]`` means end of input."""
        if self._lost:
            return []
        while True:
            if self._end - self._start >= HEADER_SIZE:  # else nothing to parse yet: read first
                frames = self._parse()
                if frames:
                    return frames
            if not self._fill():
                return []

    def _parse(self) -> list[memoryview | OversizedFrame]:
        frames: list[memoryview | OversizedFrame] = []
        view, start, end = self._view, self._start, self._end
        while end - start >= HEADER_SIZE:
            (size,) = _LENGTH.unpack_from(view, start)
            if size > self._max_frame:
                # Answered now, not after reading `size` bytes that may never come.
                self._lost = True
                self._start = self._end = 0
                frames.append(OversizedFrame(size, self._max_frame))
                return frames
            if end - start - HEADER_SIZE < size:
                break
            frames.append(view[start + HEADER_SIZE : start + HEADER_SIZE + size])
            start += HEADER_SIZE + size
        self._start = start
        return frames

    def _fill(self) -> bool:
        """Read more bytes, making room first; False at end of input."""
        pending = self._end - self._start
        needed = HEADER_SIZE
        if pending >= HEADER_SIZE:
            needed += _LENGTH.unpack_from(self._view, self._start)[0]
        if needed > len(self._buffer) or (pending == 0 and len(self._buffer) != self._buffer_size):
            # A frame larger than the buffer (within the limit) gets a buffer
            # of its own size; once it is consumed the buffer shrinks back.
            fresh = bytearray(max(needed, self._buffer_size))
            fresh[:pending] = self._view[self._start : self._end]
            self._buffer, self._view = fresh, memoryview(fresh)
            self._start, self._end = 0, pending
        elif self._start and (pending == 0 or needed > len(self._buffer) - self._start):
            # Move the partial frame to the front to make room for the rest.
            self._view[:pending] = self._view[self._start : self._end]
            self._start, self._end = 0, pending
        count = os.readv(self._fd, [self._view[self._end :]])
        if count == 0:
            return False
        self._end += count
        return True


class FrameWriter:
    """Writes frames from any thread; frames sent together go out in one ``writev``.

    A thread that finds no write in progress becomes the writer and drains
    everything queued, including frames other threads add meanwhile, so a
    burst of replies costs one system call instead of one each.

    ``hold`` queues a frame without writing it, to go out with the next
    one: for a reply with more requests queued behind it. Held frames are
    written by the next ``send`` or ``flush``, or by the next ``hold`` once
    the oldest of them has waited ``HOLD_SECONDS`` or ``HOLD_FRAMES`` are
    held; whoever holds must make sure a ``flush`` follows.
    """

    HOLD_SECONDS = 0.001
    HOLD_FRAMES = 64

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._queue: list[bytes | memoryview] = []  # header, payload, header, payload, ...
        self._held_since = 0.0  # when the oldest held frame was held; 0.0: none held
        self._writing = False

    def send(self, payload: bytes) -> None:
        """Queue one frame; it is written before ``send`` returns or by the thread writing now."""
        lock = self._lock
        lock.acquire()
        if self._writing or self._queue or len(payload) > _SMALL:
            lock.release()
            self._send_queued(payload)
            return
        # The common case, one small reply and nothing held: one write, no list.
        self._writing = True
        lock.release()
        data = _LENGTH.pack(len(payload)) + payload
        try:
            written = os.write(self._fd, data)
            if written < len(data):
                self._write_all([memoryview(data)[written:]])
        except BaseException:
            with lock:
                self._writing = False
            raise
        lock.acquire()
        if not self._queue:  # nobody queued meanwhile: no longer the writer
            self._writing = False
            lock.release()
            return
        batch = self._start_writing()
        lock.release()
        self._write_batches(batch)

    def _send_queued(self, payload: bytes) -> None:
        """``send`` when frames wait or another thread writes: one ``writev`` for all of them."""
        header = _LENGTH.pack(len(payload))
        with self._lock:
            if self._writing:
                self._queue += (header, payload)
                return
            batch = self._start_writing()
        batch += (header, payload)
        self._write_batches(batch)

    def hold(self, payload: bytes) -> None:
        """Queue one frame to go out with a later write (see the class docstring)."""
        now = time.monotonic()
        with self._lock:
            self._queue += (_LENGTH.pack(len(payload)), payload)
            if self._writing:
                return
            if not self._held_since:
                self._held_since = now
            if now - self._held_since < self.HOLD_SECONDS and len(self._queue) < 2 * self.HOLD_FRAMES:
                return
            batch = self._start_writing()
        self._write_batches(batch)

    def flush(self) -> None:
        """Write the frames held, if any (a write in progress takes them)."""
        if not self._queue:
            # Without the lock: a frame being held now is flushed by its holder's thread (executor.on_idle).
            return
        with self._lock:
            if self._writing or not self._queue:
                return
            batch = self._start_writing()
        self._write_batches(batch)

    def _start_writing(self) -> list[bytes | memoryview]:
        """With the lock held: this thread becomes the writer and takes everything queued."""
        self._writing = True
        batch, self._queue, self._held_since = self._queue, [], 0.0
        return batch

    def _write_batches(self, batch: list[bytes | memoryview]) -> None:
        """Write ``batch``, then whatever other threads queued meanwhile, as the one writer."""
        try:
            while batch:
                self._write_all(batch)
                with self._lock:
                    batch = self._start_writing()
                    self._writing = bool(batch)  # nothing more: no longer the writer
        except BaseException:
            with self._lock:
                self._writing = False
            raise

    def _write_all(self, chunks: list[bytes | memoryview]) -> None:
        while chunks:
            batch = chunks if len(chunks) <= _IOV_MAX else chunks[:_IOV_MAX]
            written = os.writev(self._fd, batch)
            # Drop what was written, keep the rest of a partially written chunk.
            index = 0
            while index < len(batch) and written >= len(batch[index]):
                written -= len(batch[index])
                index += 1
            chunks = chunks[index:]
            if written:
                chunks[0] = memoryview(chunks[0])[written:]
