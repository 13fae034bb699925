"""Exceptions of the worker itself, and how any exception travels to Elixir.

Python exceptions are data, never a crash: ``describe`` turns one into the
``ErrorMap`` of docs/PROTOCOL.md. The worker's own errors report a
``pybridge.*`` type so Elixir can tell them from the library's.
"""

from __future__ import annotations

import traceback


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


def describe(exc: BaseException) -> tuple[str, str, list[str]]:
    """``(type, message, traceback lines)`` of an exception."""
    lines = traceback.format_exception(exc)
    return type_name(exc), str(exc), [line.rstrip("\n") for line in lines]
