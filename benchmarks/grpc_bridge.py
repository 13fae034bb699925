"""The gRPC path: the worker's own dispatcher behind a grpcio server.

``python -m benchmarks.grpc_bridge --socket PATH --build DIR`` serves
``grpc/bridge.proto`` on a Unix socket (the closest thing gRPC has to a
pipe). Its servicer turns each protobuf request into the tuple the ETF
decoder would have produced and hands it to a
:class:`pybridge_port.dispatch.Dispatcher`, so operations, the thread pool,
handles and stream credit are the worker's own; only ``send`` is replaced,
to turn replies into protobuf messages instead of ETF frames. Requests enter
through ``Dispatcher.dispatch`` (the decoded-request entry point; the port's
``handle_frame`` takes ETF bytes), which runs the request on the grpcio
thread that received it, as the port's reading thread does. The client class
below is what the benchmarks call from Python.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import os
import queue
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from types import ModuleType
from collections.abc import Iterator, Sequence
from typing import Any

HERE = Path(__file__).resolve().parent
PROTO = HERE / "grpc" / "bridge.proto"
MAX_MESSAGE = 64 << 20
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
]
SCOPE = "bench"
# gRPC has its own flow control (HTTP/2 windows): the dispatcher gets a credit
# window large enough never to be what holds a stream back.
WINDOW = 1024


def compile_proto(build_dir: Path) -> Path:
    """Compile ``bridge.proto`` with grpcio-tools into a cache folder (once per proto and tools version)."""
    import grpc_tools
    from grpc_tools import protoc

    version = getattr(grpc_tools, "__version__", "") or _dist_version("grpcio-tools")
    key = hashlib.sha1(PROTO.read_bytes() + version.encode()).hexdigest()[:12]
    out = build_dir / f"grpc-{key}"
    if (out / "bridge_pb2_grpc.py").exists():
        return out
    staging = build_dir / f"grpc-{key}.{os.getpid()}.tmp"
    staging.mkdir(parents=True, exist_ok=True)
    include = Path(grpc_tools.__file__).parent / "_proto"
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO.parent}",
            f"-I{include}",
            f"--python_out={staging}",
            f"--grpc_python_out={staging}",
            str(PROTO),
        ]
    )
    if status != 0:
        raise RuntimeError(f"grpc_tools.protoc failed on {PROTO} (status {status})")
    try:
        staging.rename(out)
    except OSError:  # another run got there first
        pass
    return out


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def load_modules(build_dir: Path) -> tuple[ModuleType, ModuleType]:
    """``(bridge_pb2, bridge_pb2_grpc)``, compiled on first use."""
    out = compile_proto(build_dir)
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    return importlib.import_module("bridge_pb2"), importlib.import_module("bridge_pb2_grpc")


# -- Python values <-> protobuf Value -------------------------------------------


def _numpy() -> Any:
    return sys.modules.get("numpy")


class ValueCodec:
    """Fills ``Value`` messages from Python values and reads them back."""

    def __init__(self, pb2: ModuleType, *, handle: Any = None, resolve: Any = None) -> None:
        self.pb2 = pb2
        self._handle = handle  # object -> (id, worker, type), for results that are not plain data
        self._resolve = resolve  # Handle message -> object (server side)

    def fill(self, msg: Any, obj: Any) -> None:
        """Store ``obj`` in the (empty) Value ``msg``."""
        kind = type(obj)
        if kind is str:
            msg.text = obj
        elif kind is int:
            msg.integer = obj
        elif kind is float:
            msg.real = obj
        elif obj is None:
            msg.nil = True
        elif kind is bool:
            msg.boolean = obj
        elif kind is dict:
            container = msg.map
            container.SetInParent()
            entries = container.entries
            fill = self.fill
            for key, value in obj.items():
                fill(entries[key], value)
        elif kind is list or kind is tuple:
            container = msg.list if kind is list else msg.tuple
            container.SetInParent()
            add = container.items.add
            fill = self.fill
            for value in obj:
                fill(add(), value)
        elif kind is bytes or kind is bytearray or kind is memoryview:
            msg.binary = bytes(obj)
        else:
            self._fill_other(msg, obj)

    def _fill_other(self, msg: Any, obj: Any) -> None:
        numpy = _numpy()
        if numpy is not None and isinstance(obj, numpy.ndarray) and obj.dtype.kind in "biufc":
            array = numpy.ascontiguousarray(obj)
            nd = msg.ndarray
            nd.dtype = array.dtype.str if array.dtype.byteorder not in "=|" else array.dtype.name
            nd.shape.extend(array.shape)
            nd.data = array.tobytes()
        elif isinstance(obj, HandleRef):
            msg.handle.id, msg.handle.worker, msg.handle.type = obj.id, obj.worker, obj.type
        elif self._handle is not None:
            msg.handle.id, msg.handle.worker, msg.handle.type = self._handle(obj)
        else:
            raise TypeError(f"cannot send {type(obj).__qualname__} over gRPC")

    def value(self, msg: Any) -> Any:
        """The Python value of a Value message."""
        kind = msg.WhichOneof("kind")
        if kind == "text":
            return msg.text
        if kind == "integer":
            return msg.integer
        if kind == "real":
            return msg.real
        if kind == "map":
            value = self.value
            return {key: value(item) for key, item in msg.map.entries.items()}
        if kind == "list":
            value = self.value
            return [value(item) for item in msg.list.items]
        if kind == "tuple":
            value = self.value
            return tuple(value(item) for item in msg.tuple.items)
        if kind == "binary":
            return msg.binary
        if kind == "boolean":
            return msg.boolean
        if kind == "nil" or kind is None:
            return None
        if kind == "ndarray":
            import numpy

            nd = msg.ndarray
            return numpy.frombuffer(nd.data, dtype=numpy.dtype(nd.dtype)).reshape(tuple(nd.shape))
        if kind == "handle":
            handle = msg.handle
            ref = HandleRef(handle.id, handle.worker, handle.type)
            return self._resolve(ref) if self._resolve is not None else ref
        raise ValueError(f"unknown Value kind {kind!r}")


class HandleRef:
    """A handle as the gRPC client holds it."""

    __slots__ = ("id", "worker", "type")

    def __init__(self, id: int, worker: str, type: str) -> None:
        self.id, self.worker, self.type = id, worker, type

    def __repr__(self) -> str:
        return f"HandleRef({self.id}, {self.type!r})"


# -- server ---------------------------------------------------------------------


class _Pending:
    """One unary request waiting for its reply (a lock is the cheapest one-shot event)."""

    __slots__ = ("lock", "reply")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.reply: Any = None

    def deliver(self, reply: Any) -> None:
        self.reply = reply
        self.lock.release()

    def wait(self) -> Any:
        self.lock.acquire()
        return self.reply


def make_dispatcher(pb2: ModuleType, threads: int) -> Any:
    """A ``pybridge_port`` Dispatcher whose replies become protobuf messages."""
    from pybridge_port.dispatch import CHUNK, ERROR, OK, Dispatcher, error_term
    from pybridge_port.framing import FrameWriter
    from pybridge_port.types import Atom
    from pybridge_port.values import REF_STRUCT, STRUCT

    _ID, _WORKER, _TYPE = Atom("id"), Atom("worker"), Atom("type")

    class GrpcDispatcher(Dispatcher):
        def __init__(self) -> None:
            # The writer is never used: send() below replaces encoding and writing.
            super().__init__(FrameWriter(-1), threads=threads, max_frame=MAX_MESSAGE)
            self.pending: dict[int, Any] = {}
            self.codec = ValueCodec(pb2, handle=self._new_handle, resolve=self._resolve_handle)
            self.replying = threading.local()  # the scope of the reply being filled on this thread
            self.dispatch(("hello", 1, {}))

        def _new_handle(self, obj: Any) -> tuple[int, str, str]:
            term = self.values.handle(obj, self.replying.scope)
            return term[_ID], term[_WORKER], term[_TYPE]

        def _resolve_handle(self, ref: HandleRef) -> Any:
            return self.handles.get(ref.id, ref.worker)

        def send(self, term: Any, scope: Any = None, *, hold: bool = False) -> None:
            tag = term[0]
            if tag not in (OK, ERROR, CHUNK):
                return  # hello, callbacks and output have no gRPC counterpart here
            pending = self.pending.get(term[1])
            if pending is None:
                return
            reply = pb2.Reply()
            self.replying.scope = scope
            try:
                value = term[2]
                if tag == ERROR:
                    _fill_error(reply.error, value)
                elif type(value) is dict and value.get(STRUCT) == REF_STRUCT:
                    # create's result is already a handle term
                    handle = reply.ok.handle
                    handle.id, handle.worker, handle.type = value[_ID], value[_WORKER], value[_TYPE]
                else:
                    self.codec.fill(reply.ok, value)
            except Exception as exc:
                reply = pb2.Reply()
                _fill_error(reply.error, error_term(exc))
            if isinstance(pending, _Pending):
                pending.deliver(reply)
            else:
                pending.put((tag == CHUNK, reply))

    return GrpcDispatcher()


def _fill_error(msg: Any, error: Any) -> None:
    from pybridge_port.types import Atom

    msg.type = str(error.get(Atom("type"), ""))
    msg.message = str(error.get(Atom("message"), ""))
    msg.traceback.extend(str(line) for line in error.get(Atom("traceback"), []) or [])


def serve(socket_path: str, build_dir: Path, threads: int = 8, grpc_threads: int = 64) -> None:
    """Serve until SIGTERM or the parent closes our stdin."""
    import grpc

    from pybridge_port.__main__ import keep_freed_memory

    keep_freed_memory()  # as the port worker does, so large payloads compare like for like
    pb2, pb2_grpc = load_modules(build_dir)
    dispatcher = make_dispatcher(pb2, threads)
    codec = dispatcher.codec
    ids = itertools.count(1)

    def request_tuple(request: Any, request_id: int, opts: dict[str, Any]) -> tuple[Any, ...]:
        value = codec.value
        args = [value(item) for item in request.args]
        kwargs = {key: value(item) for key, item in request.kwargs.items()}
        if request.op == "method":
            obj = dispatcher.handles.get(request.ref.id, request.ref.worker)
            return ("method", request_id, obj, request.name, args, kwargs, opts)
        return (request.op, request_id, request.target, args, kwargs, opts)

    class Servicer(pb2_grpc.BridgeServicer):  # type: ignore[name-defined]
        def Call(self, request: Any, context: Any) -> Any:
            request_id = next(ids)
            pending = _Pending()
            dispatcher.pending[request_id] = pending
            try:
                dispatcher.dispatch(request_tuple(request, request_id, {"scope": SCOPE}))
                return pending.wait()
            except Exception as exc:
                return _error_reply(pb2, exc)
            finally:
                dispatcher.pending.pop(request_id, None)

        def Stream(self, request: Any, context: Any) -> Iterator[Any]:
            request_id = next(ids)
            replies: queue.SimpleQueue[Any] = queue.SimpleQueue()
            dispatcher.pending[request_id] = replies
            opts = {"scope": SCOPE, "stream": True, "window": WINDOW}
            try:
                dispatcher.dispatch(request_tuple(request, request_id, opts))
                owed = 0
                while True:
                    is_chunk, reply = replies.get()
                    if not is_chunk:
                        if reply.WhichOneof("result") == "error":
                            yield reply
                        return
                    yield reply
                    owed += 1
                    if owed >= WINDOW // 2:  # credit in batches
                        dispatcher.dispatch(("credit", request_id, owed))
                        owed = 0
            except Exception as exc:
                yield _error_reply(pb2, exc)
            finally:
                dispatcher.pending.pop(request_id, None)

        def Release(self, request: Any, context: Any) -> Any:
            request_id = next(ids)
            pending = _Pending()
            dispatcher.pending[request_id] = pending
            try:
                dispatcher.dispatch(("release", request_id, list(request.ids)))
                reply = pending.wait()
            finally:
                dispatcher.pending.pop(request_id, None)
            return pb2.ReleaseReply(count=codec.value(reply.ok))

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=grpc_threads), options=CHANNEL_OPTIONS)
    pb2_grpc.add_BridgeServicer_to_server(Servicer(), server)
    server.add_insecure_port(f"unix:{socket_path}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The parent holds our stdin: when it goes away, so do we.
    def watch_parent() -> None:
        sys.stdin.buffer.read()
        stop.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    print("ready", flush=True)
    stop.wait()
    server.stop(0)


def _error_reply(pb2: ModuleType, exc: BaseException) -> Any:
    from pybridge_port.dispatch import error_term

    reply = pb2.Reply()
    _fill_error(reply.error, error_term(exc))
    return reply


# -- client ---------------------------------------------------------------------


class GrpcError(Exception):
    """An error reply."""


class GrpcClient:
    """A gRPC server process and a channel to it."""

    def __init__(self, build_dir: Path, python: str = sys.executable, threads: int = 8) -> None:
        import subprocess
        import tempfile

        import grpc

        self.pb2, pb2_grpc = load_modules(build_dir)
        self._dir = tempfile.mkdtemp(prefix="pybridge-grpc-")
        socket_path = os.path.join(self._dir, "bridge.sock")
        root = str(HERE.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(
            [python, "-m", "benchmarks.grpc_bridge", "--socket", socket_path, "--build", str(build_dir), "--threads", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=root,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"the gRPC server did not start (said {line!r})")
        self.channel = grpc.insecure_channel(f"unix:{socket_path}", options=CHANNEL_OPTIONS)
        self.stub = pb2_grpc.BridgeStub(self.channel)
        self.codec = ValueCodec(self.pb2)

    def request(self, target: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, *, op: str = "call", ref: HandleRef | None = None) -> Any:
        """A CallRequest message."""
        request = self.pb2.CallRequest(op=op, target=target)
        fill = self.codec.fill
        for arg in args:
            fill(request.args.add(), arg)
        for key, value in (kwargs or {}).items():
            fill(request.kwargs[key], value)
        if ref is not None:
            request.ref.id, request.ref.worker, request.ref.type = ref.id, ref.worker, ref.type
            request.name = target
        return request

    def result(self, reply: Any) -> Any:
        if reply.WhichOneof("result") == "error":
            raise GrpcError(f"{reply.error.type}: {reply.error.message}")
        return self.codec.value(reply.ok)

    def call(self, target: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None) -> Any:
        return self.result(self.stub.Call(self.request(target, args, kwargs)))

    def call_future(self, target: str, args: Sequence[Any] = ()) -> Any:
        return self.stub.Call.future(self.request(target, args))

    def create(self, target: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None) -> HandleRef:
        ref: HandleRef = self.result(self.stub.Call(self.request(target, args, kwargs, op="create")))
        return ref

    def method(self, ref: HandleRef, name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None) -> Any:
        return self.result(self.stub.Call(self.request(name, args, kwargs, op="method", ref=ref)))

    def release(self, ref: HandleRef) -> int:
        return int(self.stub.Release(self.pb2.ReleaseRequest(ids=[ref.id])).count)

    def stream(self, target: str, args: Sequence[Any] = ()) -> Iterator[Any]:
        for reply in self.stub.Stream(self.request(target, args)):
            yield self.result(reply)

    def close(self) -> None:
        import shutil

        self.channel.close()
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except Exception:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grpc_bridge", description=__doc__)
    parser.add_argument("--socket", required=True, help="the Unix socket to serve on")
    parser.add_argument("--build", type=Path, required=True, help="folder for the compiled proto")
    parser.add_argument("--threads", type=int, default=8, help="the dispatcher's --threads (default 8, as the worker)")
    args = parser.parse_args(argv)
    serve(args.socket, args.build, threads=args.threads)


if __name__ == "__main__":
    main()
