"""Call Elixir from Python code running in a PyBridge worker.

Functions the Elixir application exports by name
(``export_to_python: [{Mod, :fun, arity, "python_name"}]``) are called with
``call``::

    from pybridge_port import elixir
    total = elixir.call("sum_prices", [1.5, 2.5])

An Elixir fun passed as an argument needs nothing of this: it arrives as a
Python callable. An exception in Elixir is raised here as ``CallbackError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import CallbackError

if TYPE_CHECKING:
    from .dispatch import Dispatcher

__all__ = ["CallbackError", "call", "exported", "connect"]

_dispatcher: Dispatcher | None = None


def connect(dispatcher: Dispatcher) -> None:
    """Bind this module to the worker's connection (done by ``python -m pybridge_port``)."""
    global _dispatcher
    _dispatcher = dispatcher


def _connection() -> Dispatcher:
    if _dispatcher is None:
        raise RuntimeError("not running inside a PyBridge worker: there is no Elixir to call")
    return _dispatcher


def call(name: str, *args: Any) -> Any:
    """Call the Elixir function exported to Python as ``name`` and return its result."""
    return _connection().call_elixir(name, list(args))


def exported() -> list[str]:
    """Names of the Elixir functions this worker may call."""
    return sorted(_connection().exports)
