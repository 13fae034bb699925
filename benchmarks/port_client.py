"""The ETF port path from Python: a ``python -m pybridge_port`` child on two pipes.

This is what the Elixir runtime does, done from Python with the project's own
codec and framing, so that the ETF-over-a-pipe transport and gRPC are compared
from the same Python client. Requests are the frames the Elixir runtime sends
(``{:call, id, target, args, kwargs, %{scope: ...}}``, bytes as
``%PyBridge.Bytes{}``, arrays as ``%PyBridge.NDArray{}``).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections import deque
from pathlib import Path
from collections.abc import Iterator, Sequence
from typing import Any

from pybridge_port.codec import Decoder, Encoder, text_or_bytes
from pybridge_port.framing import FrameReader, FrameWriter, OversizedFrame
from pybridge_port.types import Atom

ROOT = Path(__file__).resolve().parent.parent
STRUCT = Atom("__struct__")
SCOPE = "bench"
OPTS = {Atom("scope"): SCOPE}
_CALL, _CREATE, _METHOD, _RELEASE, _CREDIT, _HELLO = (Atom(n) for n in ("call", "create", "method", "release", "credit", "hello"))


class PortError(Exception):
    """An ``{:error, id, error}`` reply."""


class Ref:
    """A handle as the Python client holds it; sent back as the ``%PyBridge.Ref{}`` it came as."""

    __slots__ = ("term", "id")

    def __init__(self, term: dict[Any, Any]) -> None:
        self.term = {STRUCT: Atom("Elixir.PyBridge.Ref"), **{Atom(k): v for k, v in term.items() if k != "__struct__"}}
        self.id = term["id"]

    def __pybridge_term__(self) -> Any:
        return self.term


def marked_bytes(data: bytes) -> dict[Atom, Any]:
    """``%PyBridge.Bytes{data: data}``: raw bytes, as Elixir marks them."""
    return {STRUCT: Atom("Elixir.PyBridge.Bytes"), Atom("data"): data}


def ndarray(array: Any) -> dict[Atom, Any]:
    """``%PyBridge.NDArray{}`` of a C-contiguous numpy array."""
    return {
        STRUCT: Atom("Elixir.PyBridge.NDArray"),
        Atom("dtype"): array.dtype.name,
        Atom("shape"): tuple(array.shape),
        Atom("data"): array.tobytes(),
    }


def _from_struct(term: dict[Any, Any]) -> Any:
    # The worker's own conversions (values.Conversions._from_struct), client side.
    struct = term["__struct__"]
    if struct == "Elixir.PyBridge.Bytes":
        data = term["data"]
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if struct == "Elixir.PyBridge.NDArray":
        import numpy

        data = term["data"]
        data = data.encode("utf-8") if isinstance(data, str) else data
        shape = term["shape"]
        return numpy.frombuffer(data, dtype=numpy.dtype(term["dtype"])).reshape(tuple(shape))
    if struct == "Elixir.PyBridge.Ref":
        return Ref(term)
    return term


class PortClient:
    """One worker process; requests are answered in any order, matched by id."""

    def __init__(self, python: str = sys.executable, threads: int = 8, worker: list[str] | None = None) -> None:
        """Start a worker: ``python -m pybridge_port`` (or ``python *worker``, a variant being tried)."""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(
            [python, *(worker or ["-m", "pybridge_port"]), "--threads", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.fileno = self.process.stdout.fileno()
        self._reader = FrameReader(self.fileno)
        self._fd = self.process.stdin.fileno()
        self._writer = FrameWriter(self._fd)
        self._encoder = Encoder(default=lambda obj: obj.__pybridge_term__())
        self._decoder = Decoder(atom_hook=str, binary_hook=text_or_bytes, struct_hook=_from_struct)
        self._ready: deque[Any] = deque()
        self.ids = itertools.count(1)
        reply = self.roundtrip((_HELLO, 1, {}))
        if reply[0] != "hello":
            raise RuntimeError(f"the worker refused the handshake: {reply!r}")

    # -- frames -----------------------------------------------------------------

    def encode(self, term: Any) -> bytes:
        return self._encoder.encode(term)

    def send(self, term: Any) -> None:
        self._writer.send(self._encoder.encode(term))

    def send_many(self, payloads: list[bytes]) -> None:
        """Several encoded frames with one system call."""
        data = memoryview(b"".join(len(p).to_bytes(4, "big") + p for p in payloads))
        while data:
            data = data[os.write(self._fd, data) :]

    def recv(self) -> Any:
        """The next frame, decoded."""
        if not self._ready:
            self._ready.extend(self.read_available())
        return self._ready.popleft()

    def read_available(self) -> list[Any]:
        """Every reply complete after one read (blocks for at least one), decoded.

        Notices that are not replies (``{:scope_opened, scope}``) are skipped.
        """
        decode = self._decoder.decode
        terms: list[Any] = []
        while not terms:
            frames = self._reader.read_frames()
            if not frames:
                raise EOFError("the worker closed its output")
            for frame in frames:  # decoded before the next read reuses the buffer
                if isinstance(frame, OversizedFrame):
                    raise RuntimeError(f"a reply of {frame.size} bytes is over the client's limit")
                term = decode(frame)[0]
                if term[0] != "scope_opened":
                    terms.append(term)
        return terms

    def roundtrip(self, term: Any) -> Any:
        self.send(term)
        return self.recv()

    # -- operations -------------------------------------------------------------

    def _result(self, request_id: int, reply: Any) -> Any:
        if reply[1] != request_id:
            raise RuntimeError(f"reply for {reply[1]!r}, expected {request_id}")
        if reply[0] == "ok":
            return reply[2]
        raise PortError(f"{reply[2].get('type')}: {reply[2].get('message')}")

    def call(self, target: str, args: Sequence[Any] = (), kwargs: dict[Any, Any] | None = None) -> Any:
        request_id = next(self.ids)
        return self._result(request_id, self.roundtrip((_CALL, request_id, target, list(args), kwargs or {}, OPTS)))

    def call_frame(self, request_id: int, target: str, args: Sequence[Any] = ()) -> bytes:
        return self._encoder.encode((_CALL, request_id, target, list(args), {}, OPTS))

    def create(self, target: str, args: Sequence[Any] = ()) -> Ref:
        request_id = next(self.ids)
        ref: Ref = self._result(request_id, self.roundtrip((_CREATE, request_id, target, list(args), {}, OPTS)))
        return ref

    def method(self, ref: Ref, name: str, args: Sequence[Any] = ()) -> Any:
        request_id = next(self.ids)
        return self._result(request_id, self.roundtrip((_METHOD, request_id, ref, name, list(args), {}, OPTS)))

    def release(self, ref: Ref) -> int:
        request_id = next(self.ids)
        return int(self._result(request_id, self.roundtrip((_RELEASE, request_id, [ref.id]))))

    def stream(self, target: str, args: Sequence[Any] = (), window: int = 32) -> Iterator[Any]:
        """Items of a Python iterable, with credit granted as the Elixir runtime grants it."""
        request_id = next(self.ids)
        self.send((_CALL, request_id, target, list(args), {}, {**OPTS, Atom("stream"): True, Atom("window"): window}))
        batch, owed = max(window // 2, 1), 0
        while True:
            reply = self.recv()
            if reply[0] == "chunk":
                yield reply[2]
                owed += 1
                if owed >= batch:
                    self.send((_CREDIT, request_id, owed))
                    owed = 0
            else:
                self._result(request_id, reply)
                return

    def close(self) -> None:
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
