"""PyBridge's Python worker: serves Elixir over an Erlang port (see docs/PROTOCOL.md)."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1

from .errors import CallbackError  # noqa: E402  (re-exported for Python code calling Elixir)

__all__ = ["CallbackError", "PROTOCOL_VERSION", "__version__"]
