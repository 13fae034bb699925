"""Python values ⇄ Elixir terms, as docs/PROTOCOL.md's Values tables say.

The codec is configured with hooks so that a frame is converted in the same
pass that decodes or encodes it: Elixir strings become ``str``, handles
become the objects they stand for, Elixir funs become callables, and any
Python result that is not plain data is stored and sent back as a handle.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from typing import Any

from .codec import Decoder, Encoder, text_or_bytes
from .handles import HandleTable
from .types import Atom, Export, Fun

STRUCT = Atom("__struct__")
REF_STRUCT = Atom("Elixir.PyBridge.Ref")
BYTES_STRUCT = Atom("Elixir.PyBridge.Bytes")
NDARRAY_STRUCT = Atom("Elixir.PyBridge.NDArray")
_ID, _WORKER, _TYPE, _DATA, _DTYPE, _SHAPE = (Atom(name) for name in ("id", "worker", "type", "data", "dtype", "shape"))

_SPECIAL_ATOMS: dict[str, Any] = {"nan": math.nan, "infinity": math.inf, "neg_infinity": -math.inf}


class _Binary(bytes):
    """Bytes that travel as a plain Elixir binary (the payload inside a marked struct)."""


def qualified_type(obj: Any) -> str:
    """``module.QualName`` of an object's class, e.g. ``collections.Counter``."""
    cls = type(obj)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _as_bytes(data: Any) -> bytes:
    # A struct's payload was decoded by text_or_bytes: valid UTF-8 came out as str.
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _atom_to_python(name: str) -> Any:
    return _SPECIAL_ATOMS.get(name, name)


def _bytes_struct(data: bytes | bytearray | memoryview) -> dict[Atom, Any]:
    return {STRUCT: BYTES_STRUCT, _DATA: _Binary(data)}


class Conversions:
    """Per-worker codec configuration; each thread gets its own encoder and decoder."""

    def __init__(self, handles: HandleTable, callback: Callable[[Fun | Export], Callable[..., Any]]) -> None:
        self._handles = handles
        self._callback = callback
        self._local = threading.local()

    # -- Elixir → Python ---------------------------------------------------

    def decode(self, frame: bytes | memoryview) -> Any:
        """Decode a whole frame into Python values; trailing bytes are an error."""
        decoder = self._decoder()
        term, tail = decoder.decode(frame)
        if len(tail):
            raise ValueError(f"{len(tail)} bytes after the end of the term")
        return term

    def _decoder(self) -> Decoder:
        decoder: Decoder | None = getattr(self._local, "decoder", None)
        if decoder is None:
            # Both built in: no Python call per binary, nor per map that is not a struct.
            decoder = Decoder(
                atom_hook=_atom_to_python,
                binary_hook=text_or_bytes,
                struct_hook=self._from_struct,
                fun_hook=self._callback,
            )
            self._local.decoder = decoder
        return decoder

    def _from_struct(self, term: dict[Any, Any]) -> Any:
        # The atom hook made the key "__struct__" (and the module names str).
        struct = term["__struct__"]
        if struct == "Elixir.PyBridge.Ref":
            return self._handles.get(term.get("id"), term.get("worker"))
        if struct == "Elixir.PyBridge.Bytes":
            return _as_bytes(term["data"])
        if struct == "Elixir.PyBridge.NDArray":
            import numpy

            shape = term["shape"]
            array = numpy.frombuffer(bytearray(_as_bytes(term["data"])), dtype=numpy.dtype(term["dtype"]))
            return array.reshape(shape if isinstance(shape, tuple) else tuple(shape))
        return term

    # -- Python → Elixir ---------------------------------------------------

    def encode(self, term: Any, scope: Hashable = None) -> bytes:
        """Encode a frame; objects that are not plain data become handles in ``scope``."""
        local = self._local
        encoder: Encoder | None = getattr(local, "encoder", None)
        if encoder is None:
            encoder = Encoder(
                default=self._to_term,
                overrides={bytes: _bytes_struct, bytearray: _bytes_struct, memoryview: _bytes_struct},
            )
            local.encoder = encoder
        local.scope = scope  # for _to_term, which the encoder calls without it
        return encoder.encode(term)

    def handle(self, obj: Any, scope: Hashable) -> dict[Atom, Any]:
        """Store ``obj`` in ``scope`` and return the handle Elixir receives."""
        handle = self._handles.put(obj, scope)
        return {STRUCT: REF_STRUCT, _ID: handle, _WORKER: self._handles.token, _TYPE: qualified_type(obj)}

    def _to_term(self, obj: Any) -> Any:
        to_term = getattr(obj, "__pybridge_term__", None)
        if to_term is not None:
            return to_term()
        if isinstance(obj, (set, frozenset)):
            return list(obj)
        numpy = _numpy_if_loaded()
        if numpy is not None:
            if isinstance(obj, numpy.ndarray) and obj.dtype.kind in "biufc" and not obj.dtype.hasobject:
                array = numpy.ascontiguousarray(obj)
                return {
                    STRUCT: NDARRAY_STRUCT,
                    _DTYPE: array.dtype.str if array.dtype.byteorder not in "=|" else array.dtype.name,
                    _SHAPE: tuple(array.shape),
                    _DATA: _Binary(array.tobytes()),
                }
            if isinstance(obj, numpy.generic):
                return obj.item()
        return self.handle(obj, self._local.scope)


def _numpy_if_loaded() -> Any:
    # Only user code imports numpy; a worker that never saw it need not load it.
    # While another thread is still importing it, sys.modules holds a partly
    # initialised module without `ndarray`: no array can be here yet.
    import sys

    numpy = sys.modules.get("numpy")
    return numpy if hasattr(numpy, "ndarray") and hasattr(numpy, "generic") else None
