"""Erlang-only values as small Python classes.

These stand for terms that have no natural Python counterpart. The codec
decodes such terms into these classes and encodes the classes back into the
very same terms, so a pid, a reference, a fun or an improper list that Elixir
sends travels back unchanged.

Every class is immutable, has a ``repr`` like ``Atom('ok')``, compares by
value and is hashable (an ``ImproperList`` only while its items are). This
module imports nothing from the rest of the package.
"""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ["Atom", "BitBinary", "Export", "Fun", "ImproperList", "Pid", "Port", "Reference"]


class _Value:
    """Base of the value classes: immutable, compared and hashed by ``_key()``."""

    __slots__ = ()

    def _key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() != other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self._key()))})"


def _init(obj: object, **fields: Any) -> None:
    for name, value in fields.items():
        object.__setattr__(obj, name, value)


def _check_int(what: str, value: Any, bits: int) -> int:
    if type(value) is not int or not 0 <= value < 1 << bits:
        raise ValueError(f"{what} must be an int in [0, 2**{bits}), got: {value!r}")
    return value


def _check_atom(what: str, value: Any) -> Atom:
    if type(value) is not Atom:
        raise TypeError(f"{what} must be an Atom, got: {value!r}")
    return value


class Atom(_Value):
    """An Erlang atom, e.g. ``Atom('ok')`` for ``:ok``. Not a ``str``.

    The codec decodes the atoms ``nil``, ``true`` and ``false`` as ``None``,
    ``True`` and ``False``, so ``Atom('nil')`` does not survive a round trip.
    """

    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        if type(name) is not str:
            raise TypeError(f"an atom's name must be a str, got: {name!r}")
        object.__setattr__(self, "name", name)

    def _key(self) -> tuple[Any, ...]:
        return (self.name,)

    def __eq__(self, other: object) -> bool:  # the hot one: spelled out
        if type(other) is Atom:
            return self.name == other.name
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Atom", self.name))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Atom, (self.name,))


class Pid(_Value):
    """An Erlang process identifier (``NEW_PID_EXT``)."""

    __slots__ = ("node", "id", "serial", "creation")
    node: Atom
    id: int
    serial: int
    creation: int

    def __init__(self, node: Atom, id: int, serial: int, creation: int) -> None:
        _init(
            self,
            node=_check_atom("node", node),
            id=_check_int("id", id, 32),
            serial=_check_int("serial", serial, 32),
            creation=_check_int("creation", creation, 32),
        )

    @classmethod
    def from_wire(cls, node: Atom, id: int, serial: int, creation: int) -> Pid:
        """A pid from fields the codec read (an ``Atom`` and three 32-bit ints): not checked again.

        Every request carries its caller's pid, so this is on the hot path.
        """
        pid = object.__new__(cls)
        _set = object.__setattr__
        _set(pid, "node", node)
        _set(pid, "id", id)
        _set(pid, "serial", serial)
        _set(pid, "creation", creation)
        return pid

    def _key(self) -> tuple[Any, ...]:
        return (self.node, self.id, self.serial, self.creation)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Pid, self._key())


class Reference(_Value):
    """An Erlang reference (``NEWER_REFERENCE_EXT``); ``ids`` are its 32-bit words."""

    __slots__ = ("node", "creation", "ids")
    node: Atom
    creation: int
    ids: tuple[int, ...]

    def __init__(self, node: Atom, creation: int, ids: tuple[int, ...]) -> None:
        ids = tuple(ids)
        if not 1 <= len(ids) <= 0xFFFF:
            raise ValueError(f"a reference needs 1 to 65535 ids, got {len(ids)}")
        for word in ids:
            _check_int("each of ids", word, 32)
        _init(self, node=_check_atom("node", node), creation=_check_int("creation", creation, 32), ids=ids)

    def _key(self) -> tuple[Any, ...]:
        return (self.node, self.creation, self.ids)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Reference, self._key())


class Port(_Value):
    """An Erlang port identifier (``NEW_PORT_EXT``, or ``V4_PORT_EXT`` for a 64-bit id)."""

    __slots__ = ("node", "id", "creation")
    node: Atom
    id: int
    creation: int

    def __init__(self, node: Atom, id: int, creation: int) -> None:
        _init(
            self,
            node=_check_atom("node", node),
            id=_check_int("id", id, 64),
            creation=_check_int("creation", creation, 32),
        )

    def _key(self) -> tuple[Any, ...]:
        return (self.node, self.id, self.creation)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Port, self._key())


class Export(_Value):
    """An external fun ``fun Module:Function/Arity``, e.g. Elixir's ``&Enum.map/2``."""

    __slots__ = ("module", "function", "arity")
    module: Atom
    function: Atom
    arity: int

    def __init__(self, module: Atom, function: Atom, arity: int) -> None:
        _init(
            self,
            module=_check_atom("module", module),
            function=_check_atom("function", function),
            arity=_check_int("arity", arity, 8),
        )

    def _key(self) -> tuple[Any, ...]:
        return (self.module, self.function, self.arity)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Export, self._key())


class Fun(_Value):
    """A local fun, kept opaque as the exact bytes of its encoding.

    ``data`` is the whole ``NEW_FUN_EXT`` (tag 112) or old ``FUN_EXT`` (tag
    117) term, tag included, so the fun re-encodes byte for byte. ``module``
    and ``arity`` are parsed from it by the codec for information (``arity``
    is ``None`` for an old ``FUN_EXT``, which does not carry it). Equality and
    hashing use ``data`` only.
    """

    __slots__ = ("data", "module", "arity")
    data: bytes
    module: Atom
    arity: int | None

    def __init__(self, data: bytes, module: Atom, arity: int | None) -> None:
        data = bytes(data)
        if not data or data[0] not in (112, 117):
            raise ValueError("a Fun's data must be a NEW_FUN_EXT (112) or FUN_EXT (117) term")
        _init(self, data=data, module=_check_atom("module", module), arity=arity)

    def _key(self) -> tuple[Any, ...]:
        return (self.data,)

    def __repr__(self) -> str:
        return f"Fun(<{self.module.name}/{self.arity}, {len(self.data)} bytes>)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Fun, (self.data, self.module, self.arity))


class BitBinary(_Value):
    """A bitstring whose length is not a whole number of bytes (``BIT_BINARY_EXT``).

    ``bits`` is the number of bits used in the last byte of ``data`` (1..8);
    the unused low bits of that byte are cleared, as Erlang does, so equal
    bitstrings compare equal.
    """

    __slots__ = ("data", "bits")
    data: bytes
    bits: int

    def __init__(self, data: bytes, bits: int) -> None:
        data = bytes(data)
        if not data:
            raise ValueError("a BitBinary needs at least one byte")
        if type(bits) is not int or not 1 <= bits <= 8:
            raise ValueError(f"bits must be an int in 1..8, got: {bits!r}")
        if bits < 8:
            mask = (0xFF << (8 - bits)) & 0xFF
            if data[-1] & ~mask:
                data = data[:-1] + bytes((data[-1] & mask,))
        _init(self, data=data, bits=bits)

    def _key(self) -> tuple[Any, ...]:
        return (self.data, self.bits)

    def __reduce__(self) -> tuple[Any, ...]:
        return (BitBinary, self._key())


class ImproperList(_Value):
    """A list whose tail is not ``[]``, e.g. ``[1, 2 | :tail]``.

    ``items`` must be non-empty and ``tail`` must not itself be a list (or an
    ``ImproperList``): either would make it a different, simpler term.
    """

    __slots__ = ("items", "tail")
    items: list[Any]
    tail: Any

    def __init__(self, items: list[Any], tail: Any) -> None:
        items = list(items)
        if not items:
            raise ValueError("an ImproperList needs at least one item")
        if isinstance(tail, (list, ImproperList)):
            raise ValueError("an ImproperList's tail must not be a list")
        _init(self, items=items, tail=tail)

    def _key(self) -> tuple[Any, ...]:
        return (self.items, self.tail)

    def __hash__(self) -> int:
        return hash(("ImproperList", tuple(self.items), self.tail))

    def __reduce__(self) -> tuple[Any, ...]:
        return (ImproperList, self._key())
