"""Requests in, replies out: the worker's operations (docs/PROTOCOL.md).

The reading thread decodes each frame and either answers it at once (ping,
stats, release, cancel, credit, callback replies) or returns a job that runs
library code, which the executor runs (executor.py). Coroutines run on one
asyncio loop thread. Every exception becomes an error frame; nothing here
may end the worker except the end of its input.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import importlib
import inspect
import itertools
import os
import resource
import sys
import threading
import types
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import PROTOCOL_VERSION, __version__, limits
from .codec import frame_head
from .elixir_function import ElixirFunction
from .errors import CallbackError, Cancelled, ProtocolError, describe
from .executor import Executor, Job
from .framing import FrameWriter, OversizedFrame
from .handles import HandleTable
from .types import Atom, Export, Fun
from .values import Conversions, as_records

OK, ERROR, CHUNK, HELLO, CALLBACK, SCOPE_OPENED = (
    Atom(name) for name in ("ok", "error", "chunk", "hello", "callback", "scope_opened")
)
_TYPE, _MESSAGE, _TRACEBACK = Atom("type"), Atom("message"), Atom("traceback")
DEFAULT_WINDOW = 32
# Results of these types are never awaitable (the check is on every reply).
_PLAIN = frozenset({type(None), bool, int, float, str, bytes, list, tuple, dict})


def error_term(exc: BaseException) -> dict[Atom, Any]:
    """The ErrorMap of an exception."""
    limits.check_exception(exc)  # over a limit of the pool: the worker exits instead
    type_name, message, traceback = describe(exc)
    return {_TYPE: type_name, _MESSAGE: message, _TRACEBACK: traceback}


class Request:
    """A request running (or queued) on the pool; kept for cancel and stats.

    ``thread``, ``cancelled``, ``injected``, ``task`` and ``waiter`` change
    under the dispatcher's ``cancel_lock``: one lock for all requests, since
    only a cancel ever contends for it.
    """

    __slots__ = ("id", "scope", "keep", "records", "thread", "cancelled", "injected", "task", "waiter")

    def __init__(self, request_id: Any, scope: Hashable, keep: bool = False, records: bool = False) -> None:
        self.id = request_id
        self.scope = scope
        self.keep = keep  # reply with a handle even if the result is plain data
        self.records = records  # records: :map, dataclasses & co. as maps of their fields
        self.thread: int | None = None
        self.cancelled = False
        self.injected = False
        self.task: Any = None  # the asyncio future of a coroutine
        self.waiter: _Waiter | None = None  # the Elixir callback it waits on


@dataclass(eq=False)
class Stream:
    """An iterator that Elixir pulls with credit."""

    request: Request
    iterator: Any
    credit: int
    running: bool = False
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Waiter:
    """One pending Elixir callback: its reply, or the cancellation of the request waiting."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: Any = None

    def answer(self, reply: Any) -> None:
        if not self.event.is_set():
            self.reply = reply
            self.event.set()


class Dispatcher:
    """Serves one Elixir connection. Frames arrive via ``handle_frame``."""

    def __init__(self, writer: FrameWriter, *, threads: int = 8, max_frame: int = 0) -> None:
        self.writer = writer
        self.max_frame = max_frame
        self.handles = HandleTable(os.urandom(8).hex(), on_new_scope=self._scope_opened)
        self.values = Conversions(self.handles, lambda fun: ElixirFunction(self, fun))
        self.executor = Executor(threads)
        # Replies held while requests were queued (see _finish) go out when
        # the queue empties or the running jobs stall.
        self.executor.on_idle = writer.flush
        self.executor.on_stall = writer.flush
        self.exports: frozenset[str] = frozenset()
        self._greeted = False
        self._requests: dict[Any, Request] = {}
        self.cancel_lock = threading.Lock()
        self._streams: dict[Any, Stream] = {}
        self._callbacks: dict[int, _Waiter] = {}
        self._callback_ids = itertools.count(1)
        self._served = 0
        self._local = threading.local()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._ops: dict[str, Callable[..., Job | None]] = {
            "ping": self._ping,
            "stats": self._stats,
            "import": self._import,
            "call": self._call,
            "create": self._create,
            "method": self._method,
            "get_attr": self._get_attr,
            "set_attr": self._set_attr,
            "release": self._release,
            "release_scope": self._release_scope,
            "cancel": self._cancel,
            "credit": self._credit,
            "callback_reply": self._callback_reply,
        }

    # -- frames ---------------------------------------------------------------

    def send(self, term: Any, scope: Hashable = None, *, hold: bool = False) -> None:
        """Encode and write one frame (from any thread); ``hold``: see ``FrameWriter.hold``."""
        try:
            data = self.values.encode(term, scope)
        except Exception as exc:  # an unencodable result is the request's error, not ours
            request_id = term[1] if isinstance(term, tuple) and len(term) > 1 else None
            data = self.values.encode((ERROR, request_id, error_term(exc)), scope)
        try:
            if hold:
                self.writer.hold(data)
            else:
                self.writer.send(data)
        except (BrokenPipeError, ConnectionError):
            self.executor.stop()  # Elixir is gone: nobody is left to answer

    def _scope_opened(self, scope: Hashable) -> None:
        """Elixir monitors the owner of a scope from its first handle (docs/PROTOCOL.md)."""
        self.send((SCOPE_OPENED, scope))

    def handle_frame(self, frame: memoryview | OversizedFrame) -> Job | None:
        """Decode one frame and act on it; answers errors with error frames.

        Requests answered at once are answered here. For one that runs library
        code, the work is returned as a job for the caller to run (on this
        thread or the pool); the frame's memory may be reused once this returns.
        """
        if isinstance(frame, OversizedFrame):
            # The server ends the worker after this: the input cannot be resynchronised.
            message = (
                f"a frame of {frame.size} bytes is over the limit of {frame.limit} bytes; where the next "
                "frame starts is unknown, so the worker reads no further input and exits"
            )
            self.send((ERROR, None, {_TYPE: "pybridge.CodecError", _MESSAGE: message, _TRACEBACK: []}))
            return None
        try:
            request = self.values.decode(frame)
        except Exception as exc:
            head = frame_head(frame)
            self.send((ERROR, head[1] if head else None, _decode_error(exc)))
            return None
        try:
            return self._dispatch(request)
        except HandshakeRefused as exc:
            self.send((ERROR, None, error_term(exc)))
            raise
        except Exception as exc:
            request_id = request[1] if isinstance(request, tuple) and len(request) > 1 else None
            self.send((ERROR, request_id, error_term(exc)))
            return None

    def dispatch(self, request: Any) -> None:
        """Act on a request that another transport already decoded; its work runs on this thread.

        For transports other than the port (the benchmarks' gRPC server);
        errors in the request itself are raised, not sent.
        """
        job = self._dispatch(request)
        if job is not None:
            self.executor.run(job)

    def _dispatch(self, request: Any) -> Job | None:
        if not isinstance(request, tuple) or not request or not isinstance(request[0], str):
            raise ProtocolError(f"expected a request tuple such as {{:call, id, ...}}, got: {request!r:.200}")
        op = request[0]
        if op == "hello":
            self._hello(*request[1:])
            return None
        if not self._greeted:
            raise ProtocolError(f"the first frame must be {{:hello, {PROTOCOL_VERSION}, opts}}, got {op!r}")
        handler = self._ops.get(op)
        if handler is None:
            raise ProtocolError(f"unknown request {op!r}; known: {', '.join(sorted(self._ops))}")
        try:
            return handler(*request[1:])
        except TypeError as exc:
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
                raise ProtocolError(f"malformed {op!r} request {request!r:.200}: {exc}") from None
            raise

    # -- operations answered at once ------------------------------------------------

    def _hello(self, version: Any, opts: Any = None) -> None:
        if version != PROTOCOL_VERSION:
            raise HandshakeRefused(
                f"this worker speaks protocol version {PROTOCOL_VERSION}, Elixir asked for {version!r}"
            )
        opts = opts if isinstance(opts, dict) else {}
        self.exports = frozenset(opts.get("exports") or ())
        self._greeted = True
        info = {
            Atom("worker"): self.handles.token,
            Atom("pid"): os.getpid(),
            Atom("python"): sys.version.split()[0],
            Atom("pybridge"): __version__,
            Atom("max_frame"): self.max_frame,
            Atom("threads"): self.executor.size,
        }
        self.send((HELLO, PROTOCOL_VERSION, info))

    def _ping(self, request_id: Any, payload: Any = None) -> None:
        self.send((OK, request_id, payload))

    def _stats(self, request_id: Any) -> None:
        handles, scopes = self.handles.counts()
        stats = {
            Atom("handles"): handles,
            Atom("scopes"): scopes,
            Atom("in_flight"): len(self._requests),
            Atom("streams"): len(self._streams),
            Atom("threads"): self.executor.threads,
            Atom("idle_threads"): self.executor.idle_threads,
            Atom("requests"): self._served,
            Atom("max_rss_kb"): resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            Atom("pid"): os.getpid(),
        }
        self.send((OK, request_id, stats))

    def _release(self, request_id: Any, handles: list[int]) -> None:
        if not isinstance(handles, list) or not all(isinstance(handle, int) for handle in handles):
            raise ProtocolError(f"release takes a list of handle ids (integers), got: {handles!r:.200}")
        self.send((OK, request_id, self.handles.release(handles)))

    def _release_scope(self, request_id: Any, scope: Hashable) -> None:
        self.send((OK, request_id, self.handles.release_scope(scope)))

    def _cancel(self, request_id: Any) -> Job | None:
        stream = self._streams.get(request_id)
        if stream is not None:
            return self._close_stream(stream)
        request = self._requests.get(request_id)
        if request is None:
            return None  # finished already: its reply is on the way
        with self.cancel_lock:
            request.cancelled = True
            if request.waiter is not None:
                request.waiter.answer(("cancelled", None))
            elif request.task is not None:
                loop = self._loop
                if loop is not None:
                    loop.call_soon_threadsafe(request.task.cancel)
            elif request.thread is not None and not request.injected:
                request.injected = True
                _raise_in_thread(request.thread, Cancelled)
        return None

    def _credit(self, request_id: Any, count: int) -> Job | None:
        stream = self._streams.get(request_id)
        if stream is None:
            return None
        with stream.lock:
            stream.credit += count
            start = not stream.running and not stream.finished
            stream.running = stream.running or start
        return (lambda: self._pump(stream)) if start else None

    def _callback_reply(self, callback_id: int, reply: Any) -> None:
        waiter = self._callbacks.pop(callback_id, None)
        if waiter is None:
            return  # its request was cancelled meanwhile
        waiter.answer(reply)

    # -- operations run on the pool ------------------------------------------------

    def _import(self, request_id: Any, module: str) -> Job:
        return self._submit(request_id, None, lambda: importlib.import_module(module) and None)

    def _call(self, request_id: Any, target: Any, args: list[Any], kwargs: Any, opts: Any = None) -> Job:
        def call_target() -> Any:  # named in errors.CALL_SITES
            function = resolve_path(target) if type(target) is str else target
            return function(*args, **keyword_arguments(kwargs)) if kwargs else function(*args)

        return self._submit(request_id, _options(opts), call_target)

    def _create(self, request_id: Any, target: Any, args: list[Any], kwargs: Any, opts: Any = None) -> Job:
        # An instance is created to be kept: it is a handle even if it is plain data (a Counter).
        opts = _options(opts)
        return self._submit(
            request_id,
            opts,
            lambda: self._resolve(target)(*args, **keyword_arguments(kwargs)),
            keep=True,
        )

    def _method(self, request_id: Any, obj: Any, name: str, args: list[Any], kwargs: Any, opts: Any = None) -> Job:
        opts = _options(opts)
        return self._submit(request_id, opts, lambda: getattr(obj, name)(*args, **keyword_arguments(kwargs)))

    def _get_attr(self, request_id: Any, target: Any, name: str, opts: Any = None) -> Job:
        return self._submit(request_id, _options(opts), lambda: getattr(self._resolve(target), name))

    def _set_attr(self, request_id: Any, obj: Any, name: str, value: Any, opts: Any = None) -> Job:
        return self._submit(request_id, _options(opts), lambda: setattr(obj, name, value))

    def _submit(
        self, request_id: Any, opts: dict[str, Any] | None, work: Callable[[], Any], *, keep: bool = False
    ) -> Job:
        opts = opts or {}
        request = Request(request_id, opts.get("scope"), keep, opts.get("records") == "map")
        if request_id in self._requests or request_id in self._streams:
            raise ProtocolError(f"request id {request_id!r} is already in flight")
        self._requests[request_id] = request
        self._served += 1
        if opts.get("stream"):
            return functools.partial(self._start_stream, request, work, opts.get("window", DEFAULT_WINDOW))
        return functools.partial(self._run, request, work)

    def _run(self, request: Request, work: Callable[[], Any]) -> None:
        try:
            result = self._guarded(request, work)
            if type(result) not in _PLAIN and inspect.isawaitable(result):
                self._await(request, result)
                return
            if request.keep:
                result = self.values.handle(result, request.scope)
            elif request.records:
                result = as_records(result)
            self._finish(request, (OK, request.id, result))
        except BaseException as exc:
            self._finish(request, (ERROR, request.id, error_term(exc)))

    def _guarded(self, request: Request, work: Callable[[], Any]) -> Any:
        """Run ``work`` in this thread where ``cancel`` can interrupt it."""
        with self.cancel_lock:
            if request.cancelled:
                raise Cancelled(f"request {request.id!r} was cancelled before it started")
            request.thread = threading.get_ident()
        self._local.request = request
        try:
            return work()
        finally:
            self._local.request = None
            with self.cancel_lock:
                request.thread = None
                if request.injected:
                    # Clear a cancellation that has not been delivered yet.
                    _raise_in_thread(threading.get_ident(), None)

    def _finish(self, request: Request, reply: tuple[Any, ...]) -> None:
        self._requests.pop(request.id, None)
        # With requests queued behind it, the reply goes out with the next
        # write: one writev for a burst of replies. It goes at the latest when
        # a thread finds the queue empty (executor.on_idle) or the queue
        # stands still (Server._stalled).
        self.send(reply, request.scope, hold=self.executor.queued > 0)

    # -- coroutines -------------------------------------------------------------

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="pybridge-asyncio", daemon=True).start()
                self._loop = loop
            return self._loop

    def _await(self, request: Request, awaitable: Any) -> None:
        async def run() -> Any:
            return await awaitable

        def done(future: Any) -> None:
            if future.cancelled():
                self._finish(request, (ERROR, request.id, error_term(Cancelled(f"request {request.id!r} was cancelled"))))
            elif future.exception() is not None:
                self._finish(request, (ERROR, request.id, error_term(future.exception())))
            else:
                result = future.result()
                self._finish(request, (OK, request.id, as_records(result) if request.records else result))

        with self.cancel_lock:
            request.task = asyncio.run_coroutine_threadsafe(run(), self._event_loop())
            if request.cancelled:
                request.task.cancel()
        request.task.add_done_callback(done)

    # -- streams ----------------------------------------------------------------

    def _start_stream(self, request: Request, work: Callable[[], Any], window: int) -> None:
        try:
            result = self._guarded(request, work)
            if hasattr(result, "__aiter__"):
                result = _sync_iter(result, self._event_loop())
            iterator = iter(result)
        except BaseException as exc:
            self._finish(request, (ERROR, request.id, error_term(exc)))
            return
        stream = Stream(request, iterator, window, running=True)
        self._streams[request.id] = stream
        if request.cancelled:
            stream.credit = 0
        self._pump(stream)

    def _pump(self, stream: Stream) -> None:
        """Send chunks while there is credit; leave the thread when there is none."""
        request = stream.request
        while True:
            with stream.lock:
                if request.cancelled or stream.finished:
                    stream.running = False
                    break
                if stream.credit <= 0:
                    stream.running = False
                    return
                stream.credit -= 1
            try:
                item = self._guarded(request, lambda: next(stream.iterator))
            except StopIteration:
                self._end_stream(stream, (OK, request.id, None))
                return
            except BaseException as exc:
                if request.cancelled:
                    break
                self._end_stream(stream, (ERROR, request.id, error_term(exc)))
                return
            self.send((CHUNK, request.id, as_records(item) if request.records else item), request.scope)
        self._close_iterator(stream)

    def _close_stream(self, stream: Stream) -> Job | None:
        with stream.lock:
            stream.request.cancelled = True
            idle = not stream.running and not stream.finished
            stream.running = stream.running or idle
        return (lambda: self._close_iterator(stream)) if idle else None

    def _close_iterator(self, stream: Stream) -> None:
        close = getattr(stream.iterator, "close", None)
        try:
            if close is not None:
                close()  # runs the generator's finally blocks
        except BaseException as exc:
            self._end_stream(stream, (ERROR, stream.request.id, error_term(exc)))
            return
        self._end_stream(stream, (OK, stream.request.id, None))

    def _end_stream(self, stream: Stream, reply: tuple[Any, ...]) -> None:
        with stream.lock:
            if stream.finished:
                return
            stream.finished = True
            stream.running = False
        self._streams.pop(stream.request.id, None)
        self._finish(stream.request, reply)

    # -- callbacks into Elixir ----------------------------------------------------

    def call_elixir(self, fun: Fun | Export | str, args: list[Any]) -> Any:
        """Call an Elixir fun (or exported name) and wait for its result."""
        if isinstance(fun, str) and fun not in self.exports:
            known = ", ".join(sorted(self.exports)) or "none"
            raise LookupError(f"no Elixir function is exported to Python as {fun!r} (exported: {known})")
        request: Request | None = getattr(self._local, "request", None)
        callback_id = next(self._callback_ids)
        waiter = _Waiter()
        self._callbacks[callback_id] = waiter
        request_id = request.id if request is not None else None
        if request is not None:
            with self.cancel_lock:
                if request.cancelled:
                    waiter.answer(("cancelled", None))
                request.waiter = waiter
        try:
            self.send((CALLBACK, callback_id, request_id, fun, args), request.scope if request else None)
            with self.executor.waiting():
                waiter.event.wait()  # answered by the reply, or by a cancel of the request
        finally:
            self._callbacks.pop(callback_id, None)
            if request is not None:
                with self.cancel_lock:
                    request.waiter = None
        status, value = waiter.reply
        if status == "ok":
            return value
        if status == "cancelled":
            raise Cancelled(f"request {request_id!r} was cancelled while it waited on an Elixir callback")
        if isinstance(value, dict):
            raise CallbackError(
                str(value.get("type", "Elixir error")), str(value.get("message", "")), value.get("traceback")
            )
        raise CallbackError("Elixir error", repr(value))

    # -- targets ----------------------------------------------------------------

    def _resolve(self, target: Any) -> Any:
        if not isinstance(target, str):
            return target
        return resolve_path(target)


class HandshakeRefused(ProtocolError):
    """The first frame asked for a protocol version this worker does not speak."""


def resolve_path(path: str) -> Any:
    """The object at a dotted path: a module, then attributes or submodules, left to right.

    A module that another thread is still importing is waited for (importlib
    holds its lock), so concurrent first calls into a slow module all succeed.
    """
    parts = _path_parts(path)
    obj = _import(parts[0])
    for index in range(1, len(parts)):
        try:
            obj = getattr(obj, parts[index])
            continue
        except AttributeError:
            pass
        name = ".".join(parts[: index + 1])
        if isinstance(obj, types.ModuleType):
            try:
                obj = _import(name)
                continue
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
        raise AttributeError(f"{'.'.join(parts[:index])} has no attribute {parts[index]!r} (resolving {path!r})")
    return obj


@functools.lru_cache(maxsize=4096)
def _path_parts(path: str) -> tuple[str, ...]:
    # Only the split is cached: the objects are looked up on every call, so
    # reassigned attributes and reloaded modules are always seen.
    parts = tuple(path.split("."))
    if not all(parts):
        raise ValueError(f"not a dotted Python path: {path!r}")
    return parts


def _import(name: str) -> Any:
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        module = importlib.import_module(name)
    return module


def _options(opts: Any) -> dict[str, Any]:
    if type(opts) is dict:
        return opts
    if opts is None:
        return {}
    if isinstance(opts, dict):
        return opts
    if isinstance(opts, list):
        return dict(opts)
    raise ProtocolError(f"request options must be a map, got: {opts!r:.200}")


def keyword_arguments(kwargs: Any) -> dict[str, Any]:
    """Keyword arguments from a map or a keyword list (as Elixir sends them)."""
    if not kwargs:
        return {}
    if isinstance(kwargs, dict):
        return kwargs
    if isinstance(kwargs, list) and all(isinstance(pair, tuple) and len(pair) == 2 for pair in kwargs):
        return dict(kwargs)
    raise TypeError(f"keyword arguments must be a map or a keyword list, got: {kwargs!r:.200}")


def _decode_error(exc: BaseException) -> dict[Atom, Any]:
    from .codec import CodecError

    if isinstance(exc, CodecError):
        type_name, message, traceback = describe(exc)
        return {_TYPE: "pybridge.CodecError", _MESSAGE: message, _TRACEBACK: traceback}
    return error_term(exc)


def _raise_in_thread(thread_id: int, exc_type: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None)


def _sync_iter(aiterable: Any, loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    """Iterate an async iterable from a pool thread, one step at a time on the loop."""
    aiterator = aiterable.__aiter__()
    try:
        while True:
            try:
                yield asyncio.run_coroutine_threadsafe(aiterator.__anext__(), loop).result()
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(aiterator, "aclose", None)
        if aclose is not None:
            asyncio.run_coroutine_threadsafe(aclose(), loop).result()
