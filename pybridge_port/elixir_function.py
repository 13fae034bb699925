"""An Elixir function received as an argument, as a Python callable.

Libraries that take callables read more than ``__call__``: a DSPy or
LangChain tool shows the LM the function's ``__name__``, its ``__doc__`` and
the JSON schema of its parameters (from ``inspect.signature`` and the type
hints, of the function or of its ``__call__``); DSPy's GEPA binds five
arguments to ``inspect.signature(metric)``. An ``ElixirFunction`` has all of
these, from the Elixir function: its name, its parameter names and its
``@doc`` (for ``&Module.function/arity`` of a module compiled with docs),
and Python types where its ``@spec`` names plain ones (``integer()`` is
``int``, ``String.t()`` is ``str``, ...). An anonymous function has
parameters ``arg1``, ``arg2``, ... and no doc.

The metadata is asked of Elixir (``PyBridge.FunctionInfo.describe/1``, a
callback through the function itself) the first time something reads it, and
kept; calling the function never waits for it, so passing a function costs
nothing more than before.

Calls follow Python's conventions where Elixir has none: keyword arguments
are matched to the parameter names (an anonymous function has none: they
follow the positional ones in the order given), and missing trailing
arguments are ``None`` (DSPy calls a metric with two arguments or three, an
Elixir function has one arity).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .types import Atom, Export, Fun

if TYPE_CHECKING:
    from .dispatch import Dispatcher

__all__ = ["ElixirFunction"]

_DESCRIBE = Export(Atom("Elixir.PyBridge.FunctionInfo"), Atom("describe"), 1)
_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict}
# Read lazily from the metadata; everything else is an ordinary attribute.
_METADATA = frozenset({"__name__", "__qualname__", "__doc__", "__signature__", "__annotations__", "__call__"})

# The metadata of named functions (`&Module.function/arity`), shared by every
# value that carries them. Anonymous functions are new values on every call
# and are not kept here.
_named: dict[Export, dict[str, Any]] = {}
_named_lock = threading.Lock()


class ElixirFunction:
    """An Elixir fun received as an argument; calling it runs the fun in Elixir."""

    __slots__ = ("_dispatcher", "fun", "_info", "_function")

    def __init__(self, dispatcher: Dispatcher, fun: Fun | Export | str) -> None:
        self._dispatcher = dispatcher
        self.fun = fun
        self._info: dict[str, Any] | None = None
        self._function: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            args = self._bind(args, kwargs)
        else:
            arity = self._arity()
            if arity is not None and len(args) < arity:
                args = args + (None,) * (arity - len(args))
        return self._dispatcher.call_elixir(self.fun, list(args))

    def __getattribute__(self, name: str) -> Any:
        # The call protocol (`f(...)`) looks `__call__` up on the type, not
        # here: only an explicit `f.__call__` (as DSPy's Tool reads it) gets
        # the function that carries the metadata.
        if name in _METADATA:
            return _metadata(self, name)
        return object.__getattribute__(self, name)

    def __pybridge_term__(self) -> Fun | Export | str:
        return self.fun

    # An Elixir function is a value: copies (DSPy deep-copies programs and
    # their tools) are the function itself, not a copy of the connection.
    def __copy__(self) -> ElixirFunction:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ElixirFunction:
        return self

    def __repr__(self) -> str:
        return f"<Elixir function {self.fun!r}>"

    # -- internals ------------------------------------------------------------------

    def _arity(self) -> int | None:
        fun = object.__getattribute__(self, "fun")
        return fun.arity if isinstance(fun, (Fun, Export)) else None

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        info = _describe(self)
        if info.get("anonymous"):
            return args + tuple(kwargs.values())
        params: list[str] = list(info["params"])
        if len(args) > len(params):
            raise TypeError(f"{info['name']}() takes {len(params)} positional arguments but {len(args)} were given")
        for name in params[: len(args)]:
            if name in kwargs:
                raise TypeError(f"{info['name']}() got multiple values for argument {name!r}")
        bound = list(args)
        for name in params[len(args) :]:
            bound.append(kwargs.pop(name, None))
        if kwargs:
            raise TypeError(f"{info['name']}() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        return tuple(bound)


def _describe(function: ElixirFunction) -> dict[str, Any]:
    info: dict[str, Any] | None = object.__getattribute__(function, "_info")
    if info is not None:
        return info
    fun = object.__getattribute__(function, "fun")
    if isinstance(fun, Export):
        with _named_lock:
            info = _named.get(fun)
    if info is None:
        info = _ask_elixir(function, fun)
        if isinstance(fun, Export):
            with _named_lock:
                _named[fun] = info
    object.__setattr__(function, "_info", info)
    return info


def _ask_elixir(function: ElixirFunction, fun: Fun | Export | str) -> dict[str, Any]:
    arity = function._arity()
    params = [f"arg{index}" for index in range(1, (arity or 0) + 1)]
    fallback: dict[str, Any] = {"name": str(fun) if isinstance(fun, str) else "elixir_function", "params": params, "doc": None}
    if isinstance(fun, Export):
        fallback["name"] = fun.function.name
        fallback["qualname"] = f"{fun.module.name.removeprefix('Elixir.')}.{fun.function.name}"
    if isinstance(fun, str):
        return fallback
    dispatcher: Dispatcher = object.__getattribute__(function, "_dispatcher")
    try:
        info = dispatcher.call_elixir(_DESCRIBE, [fun])
    except Exception:  # an Elixir side without PyBridge.FunctionInfo: what the term says
        return fallback
    return {**fallback, **info} if isinstance(info, dict) else fallback


def _signature(info: dict[str, Any]) -> inspect.Signature:
    types = info.get("param_types") or []
    parameters = []
    for index, name in enumerate(info["params"]):
        annotation = _TYPES.get(types[index]) if index < len(types) and types[index] else None
        parameters.append(
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=annotation if annotation is not None else inspect.Parameter.empty,
            )
        )
    result = _TYPES.get(info.get("return_type") or "")
    return inspect.Signature(parameters, return_annotation=result if result is not None else inspect.Signature.empty)


def _annotations(signature: inspect.Signature) -> dict[str, Any]:
    annotations = {name: p.annotation for name, p in signature.parameters.items() if p.annotation is not p.empty}
    if signature.return_annotation is not signature.empty:
        annotations["return"] = signature.return_annotation
    return annotations


def _metadata(function: ElixirFunction, name: str) -> Any:
    if name == "__call__":
        return _as_function(function)
    info = _describe(function)
    if name == "__name__":
        return info["name"]
    if name == "__qualname__":
        return info.get("qualname") or info["name"]
    if name == "__doc__":
        return info.get("doc")
    signature = _signature(info)
    return signature if name == "__signature__" else _annotations(signature)


def _as_function(function: ElixirFunction) -> Callable[..., Any]:
    """A plain Python function that calls ``function``, with its name, doc and signature."""
    made: Callable[..., Any] | None = object.__getattribute__(function, "_function")
    if made is not None:
        return made
    info = _describe(function)
    call = type(function).__call__

    def elixir_function(*args: Any, **kwargs: Any) -> Any:
        return call(function, *args, **kwargs)

    signature = _signature(info)
    elixir_function.__name__ = info["name"]
    elixir_function.__qualname__ = info.get("qualname") or info["name"]
    elixir_function.__doc__ = info.get("doc")
    elixir_function.__annotations__ = _annotations(signature)
    elixir_function.__signature__ = signature  # type: ignore[attr-defined]
    object.__setattr__(function, "_function", elixir_function)
    return elixir_function
