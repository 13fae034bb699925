"""Drives a real ``python -m pybridge_port`` exactly as an Elixir Port does.

The worker runs as a child process with pipes on its stdin/stdout; frames are
a 4-byte big-endian length and one ETF term, encoded and decoded with the
project's codec (whose own tests cross-check it against real Erlang).
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pybridge_port.codec import Decoder, encode, text_or_bytes
from pybridge_port.types import Atom

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = Path(__file__).resolve().parent / "support"


class Worker:
    """One worker process and its two pipes."""

    def __init__(self, *args: str, hello: bool = True, env: dict[str, str] | None = None, prelude: str = "") -> None:
        """Start the worker with ``args``; ``prelude`` is Python run in it before the worker starts."""
        environ = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SUPPORT), str(ROOT)]))
        environ.update(env or {})
        start = ["-m", "pybridge_port"]
        if prelude:
            start = ["-c", f"{prelude}\nimport runpy\nrunpy.run_module('pybridge_port', run_name='__main__', alter_sys=True)"]
        self.process = subprocess.Popen(
            [sys.executable, *start, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environ,
        )
        assert self.process.stdin and self.process.stdout
        self._in = self.process.stdin
        self._out = self.process.stdout.fileno()
        self._buffer = b""
        self._offset = 0  # start of the first unread frame in _buffer
        self._decoder = Decoder(binary_hook=text_or_bytes)
        self._ids = iter(range(1_000_000, 1 << 62))  # tests pick small ids themselves
        self.scopes_opened: list[Any] = []  # scopes announced by {:scope_opened, scope}
        self.info: dict[Any, Any] = {}
        self.stderr = ""  # what the worker wrote to stderr, read by close()
        if hello:
            reply = self.request_raw((Atom("hello"), 1, {}))
            assert reply[0] == Atom("hello"), reply
            self.info = reply[2]

    @property
    def token(self) -> str:
        return self.info[Atom("worker")]

    def next_id(self) -> int:
        return next(self._ids)

    def send(self, term: Any) -> None:
        self.send_frame(encode(term))

    def send_together(self, *terms: Any) -> None:
        """Send several requests with one write, so that the worker reads them at once."""
        self._in.write(b"".join(struct.pack(">I", len(data)) + data for data in map(encode, terms)))
        self._in.flush()

    def send_frame(self, payload: bytes) -> None:
        self._in.write(struct.pack(">I", len(payload)) + payload)
        self._in.flush()

    def recv(self, timeout: float = 15.0) -> Any:
        """The next frame from the worker, decoded; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            start = self._offset
            if len(self._buffer) - start >= 4:
                (size,) = struct.unpack_from(">I", self._buffer, start)
                if len(self._buffer) - start >= 4 + size:
                    frame = self._buffer[start + 4 : start + 4 + size]
                    self._offset = start + 4 + size
                    term, tail = self._decoder.decode(frame)
                    assert tail == b"", f"{len(tail)} stray bytes after a frame"
                    return term
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no frame from the worker within {timeout} s")
            ready, _, _ = select.select([self._out], [], [], remaining)
            if ready:
                chunk = os.read(self._out, 1 << 20)
                if not chunk:
                    raise EOFError("the worker closed its output")
                self._buffer = self._buffer[self._offset :] + chunk
                self._offset = 0

    def recv_reply(self, timeout: float = 15.0) -> Any:
        """The next frame that is not ``{:output, data}`` or ``{:scope_opened, scope}`` (kept in ``scopes_opened``)."""
        while True:
            term = self.recv(timeout)
            if term[0] == Atom("scope_opened"):
                self.scopes_opened.append(term[1])
            elif term[0] != Atom("output"):
                return term

    def request_raw(self, term: Any, timeout: float = 15.0) -> Any:
        self.send(term)
        return self.recv_reply(timeout)

    def request(self, op: str, *fields: Any, timeout: float = 15.0) -> Any:
        """Send ``{op, id, *fields}`` and return the reply for that id."""
        request_id = self.next_id()
        reply = self.request_raw((Atom(op), request_id, *fields), timeout)
        assert reply[1] == request_id, f"reply for {reply[1]!r}, expected {request_id}: {reply!r}"
        return reply

    def ok(self, op: str, *fields: Any, timeout: float = 15.0) -> Any:
        """Like ``request`` but expects ``{:ok, id, value}`` and returns the value."""
        reply = self.request(op, *fields, timeout=timeout)
        assert reply[0] == Atom("ok"), f"expected :ok, got {reply!r}"
        return reply[2]

    def call(self, target: Any, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None, **opts: Any) -> Any:
        return self.ok("call", target, args or [], kwargs or {}, {Atom(k): v for k, v in opts.items()})

    def close(self, timeout: float = 5.0) -> int:
        """Close the worker's input and wait for it to exit; returns its status."""
        if self.process.poll() is None:
            try:
                self._in.close()
            except BrokenPipeError:
                pass
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            if not self.process.stderr.closed:  # type: ignore[union-attr]
                self.stderr = self.process.stderr.read().decode("utf-8", "replace")  # type: ignore[union-attr]
            self.process.stdout.close()  # type: ignore[union-attr]
            self.process.stderr.close()  # type: ignore[union-attr]
