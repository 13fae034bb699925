"""Python annotations -> Elixir typespecs.

Two steps, kept apart so later work can extend either: `parse_annotation`
turns an annotation (a string from a spec, or the text `introspect` made of a
runtime annotation) into a small `PyType` tree; `elixir_type` maps that tree
to an Elixir type expression. The mapping is table-driven: `SCALARS` for names
without arguments, `GENERICS` for subscripted names. Whatever is not known
becomes `term()`, never an error: a type is documentation plus Dialyzer
input, and a wrong concrete type would be worse than `term()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

TERM = "term()"


@dataclass(frozen=True)
class PyType:
    """A parsed annotation: a (dotted) name with optional subscript arguments.

    `X | Y` and `Optional[X]` are normalised to the name "Union"; a bare
    `...` (as in `tuple[int, ...]`) is the name "...".
    """

    name: str
    args: tuple["PyType", ...] = ()

    def __str__(self) -> str:
        if not self.args:
            return self.name
        return f"{self.name}[{', '.join(str(a) for a in self.args)}]"


class AnnotationSyntaxError(ValueError):
    """The annotation text is not a type expression this parser understands."""


_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<ellipsis>\.\.\.)|(?P<punct>[\[\],|])|(?P<string>'[^']*'|\"[^\"]*\")|(?P<number>-?\d+))")


def parse_annotation(text: str) -> PyType:
    """Parse `list[Optional[str]]`, `int | None`, `typing.Dict[str, Any]`, `'Foo'`."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise AnnotationSyntaxError(f"cannot read {text!r} at offset {pos}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    parser = _Parser(tokens, text)
    result = parser.union()
    if parser.i != len(tokens):
        raise AnnotationSyntaxError(f"unexpected {tokens[parser.i][1]!r} in {text!r}")
    return result


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens, self.text, self.i = tokens, text, 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise AnnotationSyntaxError(f"unexpected end of {self.text!r}")
        self.i += 1
        return self.tokens[self.i - 1]

    def union(self) -> PyType:
        members = [self.atom()]
        while self.peek() == "|":
            self.take()
            members.append(self.atom())
        return members[0] if len(members) == 1 else PyType("Union", tuple(members))

    def atom(self) -> PyType:
        kind, value = self.take()
        if kind == "string":
            # A forward reference: the quoted text is itself an annotation.
            return parse_annotation(value[1:-1])
        if kind == "ellipsis":
            return PyType("...")
        if kind == "number":
            return PyType(value)
        if kind == "punct" and value == "[":
            # A bare list of types, as in Callable[[int, str], bool].
            items = self.items("]")
            return PyType("[]", tuple(items))
        if kind != "name":
            raise AnnotationSyntaxError(f"unexpected {value!r} in {self.text!r}")
        name = _normalise_name(value)
        if self.peek() == "[":
            self.take()
            return PyType(name, tuple(self.items("]")))
        return PyType(name)

    def items(self, close: str) -> list[PyType]:
        items: list[PyType] = []
        while self.peek() != close:
            items.append(self.union())
            if self.peek() == ",":
                self.take()
            elif self.peek() != close:
                raise AnnotationSyntaxError(f"expected ',' or {close!r} in {self.text!r}")
        self.take()
        return items


_PREFIXES = ("typing.", "typing_extensions.", "builtins.", "collections.abc.", "types.")


def _normalise_name(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


@dataclass
class TypeContext:
    """What the mapping knows beyond Python's own types.

    `classes` maps the dotted Python path of every class the spec wraps to the
    Elixir module generated for it, so an annotation naming one becomes
    `Module.t()` (a handle to such an object).
    """

    classes: Mapping[str, str] = field(default_factory=dict)

    def class_type(self, name: str) -> str | None:
        module = self.classes.get(name)
        if module is None:
            # Annotations often name a class by its short name or by the
            # module that re-exports it; accept a unique match on the last part.
            tail = "." + name.rsplit(".", 1)[-1]
            matches = {m for path, m in self.classes.items() if path.endswith(tail) or path == name}
            if len(matches) == 1:
                module = matches.pop()
        return f"{module}.t()" if module else None


# Names without arguments.
SCALARS: dict[str, str] = {
    "str": "String.t()",
    "int": "integer()",
    "float": "float()",
    "complex": TERM,
    "bool": "boolean()",
    "None": "nil",
    "NoneType": "nil",
    "bytes": "PyBridge.Bytes.t()",
    "bytearray": "PyBridge.Bytes.t()",
    "Any": TERM,
    "object": TERM,
    "list": "list()",
    "List": "list()",
    "Sequence": "list()",
    "MutableSequence": "list()",
    "Iterable": "Enumerable.t()",
    "set": "list()",
    "Set": "list()",
    "frozenset": "list()",
    "FrozenSet": "list()",
    "dict": "map()",
    "Dict": "map()",
    "Mapping": "map()",
    "MutableMapping": "map()",
    "tuple": "tuple()",
    "Tuple": "tuple()",
}

Mapper = Callable[[tuple[PyType, ...], TypeContext], str]


def _list_of(args: tuple[PyType, ...], ctx: TypeContext) -> str:
    return f"[{elixir_type(args[0], ctx)}]" if args else "list()"


def _map_of(args: tuple[PyType, ...], ctx: TypeContext) -> str:
    return "map()"


def _tuple_of(args: tuple[PyType, ...], ctx: TypeContext) -> str:
    if not args or any(a.name == "..." for a in args):
        return "tuple()"
    if len(args) == 1 and args[0].name == "[]" and not args[0].args:
        return "{}"  # tuple[()]
    return "{" + ", ".join(elixir_type(a, ctx) for a in args) + "}"


def _optional(args: tuple[PyType, ...], ctx: TypeContext) -> str:
    return _union(args + (PyType("None"),), ctx)


def _union(args: tuple[PyType, ...], ctx: TypeContext) -> str:
    members: list[str] = []
    for arg in args:
        mapped = elixir_type(arg, ctx)
        if mapped == TERM:
            return TERM
        for part in _split_union(mapped):
            if part not in members:
                members.append(part)
    # nil last reads best: `String.t() | nil`.
    members.sort(key=lambda m: m == "nil")
    return " | ".join(members) if members else TERM


def _annotated(args: tuple[PyType, ...], ctx: TypeContext) -> str:
    return elixir_type(args[0], ctx) if args else TERM


# Subscripted names.
GENERICS: dict[str, Mapper] = {
    "list": _list_of,
    "List": _list_of,
    "Sequence": _list_of,
    "MutableSequence": _list_of,
    "set": _list_of,
    "Set": _list_of,
    "frozenset": _list_of,
    "FrozenSet": _list_of,
    "dict": _map_of,
    "Dict": _map_of,
    "Mapping": _map_of,
    "MutableMapping": _map_of,
    "tuple": _tuple_of,
    "Tuple": _tuple_of,
    "Optional": _optional,
    "Union": _union,
    "Annotated": _annotated,
}


def _split_union(spec: str) -> list[str]:
    """Top-level `|` members of a mapped type (nested ones stay inside brackets)."""
    parts, depth, current = [], 0, ""
    for ch in spec:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "|" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def elixir_type(py: PyType, ctx: TypeContext | None = None) -> str:
    """The Elixir typespec for a parsed annotation (`term()` when unknown)."""
    ctx = ctx or TypeContext()
    if py.args:
        mapper = GENERICS.get(py.name)
        return mapper(py.args, ctx) if mapper else (ctx.class_type(py.name) or TERM)
    scalar = SCALARS.get(py.name)
    if scalar is not None:
        return scalar
    return ctx.class_type(py.name) or TERM


def map_annotation(text: str | None, ctx: TypeContext | None = None) -> str:
    """`elixir_type(parse_annotation(text))`, `term()` for None or unreadable text."""
    if text is None or not text.strip():
        return TERM
    try:
        return elixir_type(parse_annotation(text), ctx)
    except AnnotationSyntaxError:
        return TERM


def result_type(value_type: str) -> str:
    """The return type of every generated call: `{:ok, T} | {:error, PyBridge.Error.t()}`."""
    return f"{{:ok, {value_type}}} | {{:error, PyBridge.Error.t()}}"
