"""Exceptions of the worker itself, and how any exception travels to Elixir.

Python exceptions are data, never a crash: ``describe`` turns one into the
``ErrorMap`` of docs/PROTOCOL.md. The worker's own errors report a
``pybridge.*`` type so Elixir can tell them from the library's.
"""

from __future__ import annotations

import importlib
import os
import traceback
from types import TracebackType


class BridgeError(Exception):
    """Base of the worker's own errors; ``wire_type`` is the type Elixir sees."""

    wire_type = "pybridge.Error"


class ProtocolError(BridgeError):
    """A frame that is not a request this worker understands."""

    wire_type = "pybridge.ProtocolError"


class StaleHandle(BridgeError):
    """A handle that was released or belongs to another worker."""

    wire_type = "pybridge.StaleHandle"


class Cancelled(BridgeError):
    """Raised in a request that Elixir cancelled."""

    wire_type = "pybridge.Cancelled"


class CallbackError(BridgeError):
    """An Elixir function called from Python raised; ``type`` and ``message`` are Elixir's."""

    wire_type = "pybridge.CallbackError"

    def __init__(self, type: str, message: str, traceback: list[str] | None = None) -> None:
        super().__init__(f"{type}: {message}")
        self.type = type
        self.message = message
        self.traceback = traceback or []


def type_name(exc: BaseException) -> str:
    """The qualified name Elixir sees, e.g. ``builtins.ValueError``."""
    if isinstance(exc, BridgeError):
        return exc.wire_type
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


# Frames of these files are the worker's plumbing (dispatch, executor, the
# path resolver) or the import machinery it calls, not the user's code.
_WORKER_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_IMPORTLIB_DIR = os.path.dirname(os.path.abspath(importlib.__file__)) + os.sep
# The worker's functions that run the user's request: an exception raised in
# one of them with no user frame below (a path that does not resolve, a call
# with the wrong arguments) is about the request, not a fault of the worker.
CALL_SITES = frozenset({"<lambda>", "call_target", "resolve_path", "_import", "_path_parts", "keyword_arguments", "_resolve"})


def _is_plumbing(frame_file: str) -> bool:
    return (
        frame_file.startswith(_WORKER_DIR)
        or frame_file.startswith(_IMPORTLIB_DIR)
        or frame_file.startswith("<frozen importlib")
    )


def user_traceback(exc: BaseException) -> TracebackType | None:
    """The part of ``exc``'s traceback that starts at the user's code.

    The worker's own frames that lead to the user's code are dropped. They
    are all kept for the worker's own errors (``BridgeError``) and for an
    exception raised in the worker's code (a fault of the worker itself); an
    exception raised at a call site (``CALL_SITES``) keeps none.
    """
    tb = exc.__traceback__
    if isinstance(exc, BridgeError) and not isinstance(exc, CallbackError):
        return tb
    start = tb
    while start is not None and _is_plumbing(start.tb_frame.f_code.co_filename):
        start = start.tb_next
    if start is not None or tb is None:
        return start
    innermost = None  # the worker's own innermost frame (import machinery may follow it)
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(_WORKER_DIR):
            innermost = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return None if innermost in CALL_SITES else exc.__traceback__


def describe(exc: BaseException) -> tuple[str, str, list[str]]:
    """``(type, message, traceback lines)`` of an exception, the traceback from the user's code on."""
    tb = user_traceback(exc)
    lines = traceback.format_exception(type(exc), exc, tb)
    if tb is None and exc.__traceback__ is not None:
        # Raised where the worker called the user's target (C code, or a
        # target that does not resolve): no frame of theirs to show.
        lines.insert(0, "Traceback (most recent call last):\n")
    return type_name(exc), str(exc), [line.rstrip("\n") for line in lines]
