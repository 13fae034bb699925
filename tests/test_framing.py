"""Length-prefixed frames on real pipes: partial writes, batching, oversized frames."""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator

import pytest

from pybridge_port.framing import FrameReader, FrameWriter, OversizedFrame


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    for fd in (read_fd, write_fd):
        try:
            os.close(fd)
        except OSError:
            pass


def _drain(fd: int, into: bytearray) -> threading.Thread:
    """Read ``fd`` to its end on a thread, slowly enough that writes come back partial."""

    def run() -> None:
        while chunk := os.read(fd, 4096):
            into.extend(chunk)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _frames(data: bytes) -> list[bytes]:
    frames, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        frames.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    assert offset == len(data)
    return frames


def test_frames_larger_than_the_pipe_arrive_whole(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    received = bytearray()
    reader = _drain(read_fd, received)
    payloads = [os.urandom(300_000), b"x", os.urandom(70_000)]
    writer = FrameWriter(write_fd)
    for payload in payloads:
        writer.send(payload)
    os.close(write_fd)
    reader.join()
    assert _frames(bytes(received)) == payloads


def test_concurrent_senders_never_interleave_frames(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    received = bytearray()
    reader = _drain(read_fd, received)
    writer = FrameWriter(write_fd)

    def sender(tag: int) -> None:
        for index in range(300):
            writer.send(bytes([tag]) * (1 + (index * 97) % 5000))

    threads = [threading.Thread(target=sender, args=(tag,)) for tag in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os.close(write_fd)
    reader.join()
    frames = _frames(bytes(received))
    assert len(frames) == 8 * 300
    for tag in range(8):
        mine = [frame for frame in frames if frame[0] == tag]
        assert mine == [bytes([tag]) * (1 + (index * 97) % 5000) for index in range(300)]


def test_more_chunks_than_one_writev_takes(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    received = bytearray()
    reader = _drain(read_fd, received)
    writer = FrameWriter(write_fd)
    chunks: list[bytes | memoryview] = [b"ab"] * 3000
    writer._write_all(chunks)
    os.close(write_fd)
    reader.join()
    assert bytes(received) == b"ab" * 3000


def test_reader_returns_every_complete_frame_of_one_read(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    payloads = [b"one", b"two", os.urandom(1000)]
    os.write(write_fd, b"".join(struct.pack(">I", len(p)) + p for p in payloads) + struct.pack(">I", 4) + b"ha")
    reader = FrameReader(read_fd)
    assert [bytes(frame) for frame in reader.read_frames()] == payloads
    os.write(write_fd, b"lf")
    os.close(write_fd)
    assert [bytes(frame) for frame in reader.read_frames()] == [b"half"]
    assert reader.read_frames() == []


def test_a_frame_larger_than_the_buffer_grows_it(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    payloads = [b"small", os.urandom(5000), b"after"]
    os.write(write_fd, b"".join(struct.pack(">I", len(p)) + p for p in payloads))
    os.close(write_fd)
    reader = FrameReader(read_fd, buffer_size=64)
    received = []
    while frames := reader.read_frames():
        received += [bytes(frame) for frame in frames]
    assert received == payloads


def test_oversized_frames_are_skipped_and_reading_goes_on(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    big = os.urandom(10_000)
    received = []
    reader = FrameReader(read_fd, max_frame=1000, buffer_size=256)
    writer = threading.Thread(
        target=lambda: (
            os.write(write_fd, struct.pack(">I", len(big)) + big + struct.pack(">I", 2) + b"ok"),
            os.close(write_fd),
        )
    )
    writer.start()
    while frames := reader.read_frames():
        received += [frame if isinstance(frame, OversizedFrame) else bytes(frame) for frame in frames]
    writer.join()
    assert received == [OversizedFrame(size=10_000, limit=1000), b"ok"]
