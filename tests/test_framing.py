"""Length-prefixed frames on real pipes: partial writes, batching, oversized frames."""

from __future__ import annotations

import os
import struct
import threading
import time
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


def _read_in_thread(reader: FrameReader) -> list[memoryview | OversizedFrame]:
    """``read_frames`` on a thread; fails if it blocks (it must not wait for more input)."""
    result: list[memoryview | OversizedFrame] = []
    thread = threading.Thread(target=lambda: result.extend(reader.read_frames()), daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "read_frames blocked waiting for input"
    return result


@pytest.mark.parametrize("size", [1001, 10_000, 2**31 - 1, 2**32 - 1])
def test_an_oversized_length_is_returned_at_once_and_ends_the_input(pipe: tuple[int, int], size: int) -> None:
    read_fd, write_fd = pipe
    reader = FrameReader(read_fd, max_frame=1000, buffer_size=256)
    # A frame, then a length over the limit whose body never comes; the pipe stays open.
    os.write(write_fd, struct.pack(">I", 2) + b"ok" + struct.pack(">I", size) + b"garbage")
    frames = _read_in_thread(reader)
    assert [frame if isinstance(frame, OversizedFrame) else bytes(frame) for frame in frames] == [
        b"ok",
        OversizedFrame(size=size, limit=1000),
    ]
    # Where the next frame would start is unknown: nothing more is read, even a valid frame.
    os.write(write_fd, struct.pack(">I", 2) + b"no")
    assert _read_in_thread(reader) == []
    assert _read_in_thread(reader) == []


def test_an_oversized_length_split_across_reads(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    reader = FrameReader(read_fd, max_frame=1000, buffer_size=256)
    header = struct.pack(">I", 2**31 - 1)
    os.write(write_fd, header[:2])

    def rest_later() -> None:
        time.sleep(0.05)  # so the reader has likely read the first half alone
        os.write(write_fd, header[2:])

    writer = threading.Thread(target=rest_later)
    writer.start()
    assert _read_in_thread(reader) == [OversizedFrame(size=2**31 - 1, limit=1000)]
    writer.join()


def _available(fd: int) -> bytes:
    """What is in the pipe now, without blocking."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""
    finally:
        os.set_blocking(fd, True)


def test_held_frames_go_out_with_the_next_send_in_order(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    writer = FrameWriter(write_fd)
    writer.hold(b"one")
    writer.hold(b"two")
    assert _available(read_fd) == b""
    writer.send(b"three")
    assert _frames(_available(read_fd)) == [b"one", b"two", b"three"]


def test_flush_writes_held_frames_and_is_a_no_op_without_them(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    writer = FrameWriter(write_fd)
    writer.flush()
    writer.hold(b"held")
    writer.flush()
    writer.flush()
    assert _frames(_available(read_fd)) == [b"held"]


def test_holding_stops_at_the_frame_limit(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    writer = FrameWriter(write_fd)
    writer.HOLD_SECONDS = 3600.0  # only the count can set them off
    for index in range(FrameWriter.HOLD_FRAMES - 1):
        writer.hold(b"%d" % index)
    assert _available(read_fd) == b""
    writer.hold(b"last")
    assert len(_frames(_available(read_fd))) == FrameWriter.HOLD_FRAMES


def test_a_frame_held_too_long_goes_out_with_the_next_hold(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    writer = FrameWriter(write_fd)
    writer.HOLD_SECONDS = 0.01
    writer.hold(b"first")
    assert _available(read_fd) == b""
    time.sleep(0.02)  # not a timing assertion: the first frame is now older than the limit, whatever the machine
    writer.hold(b"second")
    assert _frames(_available(read_fd)) == [b"first", b"second"]
