"""Pool-wide setup: the calls a pool's ``:setup`` option and ``PyBridge.broadcast/4`` run.

Every such call runs on one thread of the worker, the same for the worker's
whole life (``pybridge-setup``), not on whichever thread of the pool picked
the request. Some libraries let only the thread that first configured them
configure them again: DSPy's ``dspy.configure`` raises "dspy.settings can
only be changed by the thread that initially configured it" on any other
thread, while what it sets is global and every thread reads it. Running all
setup on one thread makes "configure on every worker, now and later" work
for them, and costs one hand-over per setup call.

Arguments may hold ``%PyBridge.Deferred{}`` structs: calls made here, on the
worker, whose result takes their place (an LM, a model loaded once), since
a handle made on one worker means nothing on another.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from . import elixir, values
from .dispatch import keyword_arguments, resolve_path

__all__ = ["Deferred", "run"]


@dataclass(frozen=True)
class Deferred:
    """A ``%PyBridge.Deferred{}``: a call each worker makes for itself when it runs a setup call."""

    target: Any
    args: list[Any]
    kwargs: Any


values.from_elixir(
    "PyBridge.Deferred", lambda fields: Deferred(fields.get("target"), fields.get("args") or [], fields.get("kwargs"))
)

_lock = threading.Lock()
_jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] | None = None


def run(target: Any, args: Any, kwargs: Any, keep_result: bool = True) -> Any:
    """Call ``target(*args, **kwargs)`` on the setup thread and return its result.

    ``target`` is a dotted path or a callable; deferred calls inside ``args``
    and ``kwargs`` are made first, on the same thread. With ``keep_result``
    false the result is dropped (a worker's own setup has nobody to give it to).
    """

    def call() -> Any:
        function = _resolve(target)
        result = function(*_evaluate(list(args or ())), **_evaluate(keyword_arguments(kwargs)))
        return result if keep_result else None

    future: Future[Any] = Future()
    _queue().put((call, future))
    dispatcher = elixir._dispatcher
    if dispatcher is None:
        return future.result()
    # Give the pool slot back while waiting: the call may call Elixir, which may call Python.
    with dispatcher.executor.waiting():
        return future.result()


def _queue() -> queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]:
    global _jobs
    with _lock:
        if _jobs is None:
            _jobs = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(_jobs,), name="pybridge-setup", daemon=True).start()
        return _jobs


def _serve(jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]) -> None:
    while True:
        call, future = jobs.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(call())
        except BaseException as exc:  # the caller's error, raised in its thread
            future.set_exception(exc)


def _resolve(target: Any) -> Any:
    if isinstance(target, str):
        return resolve_path(target)
    if callable(target):
        return target
    raise TypeError(f"a setup call's target must be a dotted path or a callable, got: {target!r:.200}")


def _evaluate(value: Any) -> Any:
    """``value`` with every deferred call in it made (in lists, tuples and maps)."""
    if isinstance(value, Deferred):
        return _resolve(value.target)(*_evaluate(list(value.args)), **_evaluate(keyword_arguments(value.kwargs)))
    if isinstance(value, dict):
        return {key: _evaluate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_evaluate(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_evaluate(item) for item in value)
    return value


