"""Glue between DSPy's calling conventions and Elixir functions.

An Elixir fun passed to the PyBridge worker arrives as a callable taking
positional arguments only, and DSPy objects that are not plain data travel
to Elixir as handles. DSPy, though, calls tools with keyword arguments,
reads a tool's name and schema from its signature, calls metrics with
``Example``/``Prediction`` objects and streams dataclasses. The three
functions here adapt each of those, so that the Elixir side deals with maps:

* ``tool(fun, name, desc, args)`` - a ``dspy.Tool`` whose function calls the
  Elixir ``fun`` with one map of the arguments the LM chose;
* ``metric(fun)`` - a DSPy metric that calls ``fun(example, prediction)``
  with both turned into maps;
* ``events(streamer, **inputs)`` - iterates a ``dspy.streamify(...)`` program
  and yields each item as a map (a status message, a chunk of a field, or
  the final prediction).

``DSPex.Interop`` (lib/dspex_interop.ex) is the Elixir side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dspy
from dspy.streaming import StatusMessage, StreamResponse

__all__ = ["events", "metric", "plain", "tool"]


def tool(fun: Callable[[dict[str, Any]], Any], name: str, desc: str, args: dict[str, Any]) -> dspy.Tool:
    """A ``dspy.Tool`` that calls ``fun`` with a dict of its arguments.

    ``args`` is the JSON schema of each argument, as ``dspy.Tool`` takes it
    (``{"a": {"type": "integer"}}``); the LM reads it, together with
    ``name`` and ``desc``, to choose the tool and its arguments.
    """

    def call(**kwargs: Any) -> Any:
        return fun(kwargs)

    call.__name__ = name
    call.__doc__ = desc
    return dspy.Tool(call, name=name, desc=desc, args=args)


def metric(fun: Callable[[dict[str, Any], dict[str, Any]], Any], name: str = "elixir_metric") -> Callable[..., Any]:
    """A DSPy metric ``(example, prediction, trace=None)`` that calls ``fun(example, prediction)`` with dicts.

    Optimizers pass a ``trace`` while they bootstrap and ``None`` while they
    evaluate; the Elixir function sees only the two maps. ``name`` is the
    metric's ``__name__``, which ``dspy.Evaluate`` shows in its tables.
    """

    def score(example: Any, prediction: Any, trace: Any = None, *_: Any) -> Any:
        return fun(plain(example), plain(prediction))

    score.__name__ = name
    return score


def events(streamer: Callable[..., Any], **inputs: Any) -> Iterator[dict[str, Any]]:
    """Runs ``streamer(**inputs)`` (made by ``dspy.streamify``) and yields its items as dicts.

    ``{"type": "status", "message": str}``, ``{"type": "chunk", "predictor":
    str, "field": str, "chunk": str, "last": bool}`` or ``{"type":
    "prediction", "prediction": dict}``. Async streamers are drained on a
    thread of their own by ``dspy.streaming.apply_sync_streaming``.
    """
    stream = streamer(**inputs)
    if hasattr(stream, "__aiter__"):
        stream = dspy.streaming.apply_sync_streaming(stream)
    for item in stream:
        yield plain_event(item)


def plain_event(item: Any) -> dict[str, Any]:
    """One item of a ``dspy.streamify`` stream, as a dict tagged by ``type``."""
    if isinstance(item, StatusMessage):
        return {"type": "status", "message": item.message}
    if isinstance(item, StreamResponse):
        return {
            "type": "chunk",
            "predictor": item.predict_name,
            "field": item.signature_field_name,
            "chunk": item.chunk,
            "last": item.is_last_chunk,
        }
    if isinstance(item, dspy.Prediction):
        return {"type": "prediction", "prediction": plain(item)}
    return {"type": "other", "value": item}


def plain(value: Any) -> Any:
    """``Example``/``Prediction`` (and anything with ``toDict``) as a dict; other values unchanged."""
    to_dict = getattr(value, "toDict", None)
    return to_dict() if callable(to_dict) else value
