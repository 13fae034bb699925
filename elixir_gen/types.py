"""Python annotations -> Elixir types that are true on the wire.

Three steps, kept apart:

1. `parse_annotation` turns annotation text (from a spec, from introspection,
   a stub or a docstring) into a small `PyType` tree.
2. `to_elixir` maps that tree to an `EType`, a small tree of Elixir types,
   for one *position*: an argument (what Elixir sends, converted to Python)
   or a result (what Python returns, converted to Elixir). The two differ
   because the conversions differ: a `float` parameter accepts an integer,
   a `dict[str, X]` parameter accepts atom keys, a `Sequence` result may be
   a tuple, and any object that is not plain data comes back as a handle.
   Classes are looked up in `TypeContext.facts`, what introspection recorded
   about each class an annotation names (an `Enum` with its values, a
   `TypedDict` with its fields, a subclass of `str`, …).
3. An `EType` renders as a typespec (`render`), as an Elixir expression that
   checks a value at run time (`check`, used by the generated smoke tests),
   and says whether it is concrete (`is_term`).

What is not known becomes `term()`, never a guess: a concrete type that is
wrong is worse than `term()`. `Mapped.lost` says why a type Python gave could
not be kept, for the quality report.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

TERM_TEXT = "term()"


class Position(str, enum.Enum):
    """Which way a value travels: Elixir -> Python (ARG) or Python -> Elixir (RESULT)."""

    ARG = "arg"
    RESULT = "result"


# ------------------------------------------------------------- Python side


@dataclass(frozen=True)
class PyType:
    """A parsed annotation: a (dotted) name with optional subscript arguments.

    `X | Y` and `Optional[X]` are normalised to the name "Union"; a bare
    `...` is the name "..."; the arguments of `Literal[...]` are the literal
    values' source text (`'a'`, `1`, `True`).
    """

    name: str
    args: tuple["PyType", ...] = ()

    def __str__(self) -> str:
        if not self.args:
            return self.name
        return f"{self.name}[{', '.join(str(a) for a in self.args)}]"


class AnnotationSyntaxError(ValueError):
    """The annotation text is not a type expression this parser understands."""


_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<ellipsis>\.\.\.)|(?P<empty>\(\))|(?P<punct>[\[\],|*])|(?P<string>'[^']*'|\"[^\"]*\")|(?P<number>-?\d+(?:\.\d+)?))")
_LITERAL_NAMES = {"Literal", "typing.Literal", "typing_extensions.Literal"}


def parse_annotation(text: str) -> PyType:
    """Parse `list[Optional[str]]`, `int | None`, `typing.Dict[str, Any]`, `'Foo'`, `Literal['a', 1]`."""
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
    if not tokens:
        raise AnnotationSyntaxError("empty annotation")
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

    def union(self, literal: bool = False) -> PyType:
        members = [self.atom(literal)]
        while self.peek() == "|":
            self.take()
            members.append(self.atom(literal))
        return members[0] if len(members) == 1 else PyType("Union", tuple(members))

    def atom(self, literal: bool = False) -> PyType:
        kind, value = self.take()
        if kind == "string":
            # Inside Literal[...] a string is a value; elsewhere a forward reference.
            return PyType(value) if literal else parse_annotation(value[1:-1])
        if kind == "ellipsis":
            return PyType("...")
        if kind == "empty":
            return PyType("()")  # `tuple[()]`: the empty tuple
        if kind == "punct" and value == "*":
            self.atom(literal)  # `tuple[int, *tuple[str, ...]]`: any number of items from here
            return PyType("...")
        if kind == "number":
            return PyType(value)
        if kind == "punct" and value == "[":
            # A bare list of types, as in Callable[[int, str], bool].
            return PyType("[]", tuple(self.items("]")))
        if kind != "name":
            raise AnnotationSyntaxError(f"unexpected {value!r} in {self.text!r}")
        name = _normalise_name(value)
        if self.peek() == "[":
            self.take()
            args = tuple(self.items("]", literal=value in _LITERAL_NAMES))
            while self.peek() == "[":
                # `ndarray[tuple[int], dtype[generic]][intp]`: a generic alias given its type variables
                # again. Those only narrow the arguments already read; leaving them out is wider.
                self.take()
                self.items("]")
            return PyType(name, args)
        return PyType(name)

    def items(self, close: str, literal: bool = False) -> list[PyType]:
        items: list[PyType] = []
        while self.peek() != close:
            items.append(self.union(literal))
            if self.peek() == ",":
                self.take()
            elif self.peek() != close:
                raise AnnotationSyntaxError(f"expected ',' or {close!r} in {self.text!r}")
        self.take()
        return items


_PREFIXES = ("typing.", "typing_extensions.", "builtins.", "collections.abc.", "types.", "_collections_abc.")
_COLLECTIONS = {"collections.Counter", "collections.OrderedDict", "collections.defaultdict"}


def _normalise_name(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    if name in _COLLECTIONS:
        return name[len("collections."):]
    return name


# -------------------------------------------------------------- Elixir side


class EType:
    """An Elixir type: renders as a typespec, checks values, knows whether it says anything."""

    def render(self) -> str:
        raise NotImplementedError

    def check(self, var: str, depth: int = 0) -> str | None:
        """An Elixir boolean expression true when `var` has this type; None when anything goes."""
        raise NotImplementedError

    @property
    def is_term(self) -> bool:
        return False

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Term(EType):
    def render(self) -> str:
        return TERM_TEXT

    def check(self, var: str, depth: int = 0) -> str | None:
        return None

    @property
    def is_term(self) -> bool:
        return True


TERM = Term()


@dataclass(frozen=True)
class Named(EType):
    """A type written as one name: `String.t()`, `integer()`, `nil`, `Shapes.Square.t()`."""

    spec: str
    guard: str  # "is_binary({v})"; "" for no check

    def render(self) -> str:
        return self.spec

    def check(self, var: str, depth: int = 0) -> str | None:
        return self.guard.format(v=var) if self.guard else None


@dataclass(frozen=True)
class Literal(EType):
    """A literal value: `1`, `true`, `:nan`."""

    text: str

    def render(self) -> str:
        return self.text

    def check(self, var: str, depth: int = 0) -> str | None:
        return f"{var} === {self.text}"


@dataclass(frozen=True)
class ListOf(EType):
    elem: EType

    def render(self) -> str:
        return "list()" if self.elem.is_term else f"[{self.elem.render()}]"

    def check(self, var: str, depth: int = 0) -> str | None:
        x = f"x{depth}"
        inner = self.elem.check(x, depth + 1)
        return f"is_list({var})" if inner is None else f"is_list({var}) and Enum.all?({var}, fn {x} -> {inner} end)"


@dataclass(frozen=True)
class TupleOf(EType):
    items: tuple[EType, ...] | None  # None: any size

    def render(self) -> str:
        if self.items is None:
            return "tuple()"
        return "{" + ", ".join(i.render() for i in self.items) + "}"

    def check(self, var: str, depth: int = 0) -> str | None:
        if self.items is None:
            return f"is_tuple({var})"
        parts = [f"is_tuple({var})", f"tuple_size({var}) == {len(self.items)}"]
        for n, item in enumerate(self.items):
            inner = item.check(f"elem({var}, {n})", depth)
            if inner is not None:
                parts.append(f"({inner})")
        return " and ".join(parts)


@dataclass(frozen=True)
class MapOf(EType):
    """`%{optional(K) => V}`, with known atom keys first when a TypedDict names them."""

    key: EType
    value: EType
    known: tuple[tuple[str, EType], ...] = ()  # (atom literal, value type) accepted as keys too

    def render(self) -> str:
        if not self.known and self.key.is_term and self.value.is_term:
            return "map()"
        parts = [f"optional({k}) => {v.render()}" for k, v in self.known]
        parts.append(f"optional({self.key.render()}) => {self.value.render()}")
        return "%{" + ", ".join(parts) + "}"

    def check(self, var: str, depth: int = 0) -> str | None:
        k, x = f"k{depth}", f"x{depth}"
        key = self.key.check(k, depth + 1)
        value = self.value.check(x, depth + 1)
        if self.known:
            key = None  # the key check would need the known atoms too; the map check is enough here
            value = None
        if key is None and value is None:
            return f"is_map({var})"
        inner = " and ".join(f"({c})" for c in (key, value) if c is not None)
        return f"is_map({var}) and Enum.all?({var}, fn {{{k}, {x}}} -> {inner} end)"


@dataclass(frozen=True)
class Fun(EType):
    """`(A, B -> R)`, `(... -> R)`."""

    params: tuple[EType, ...] | None  # None: any arity
    ret: EType

    def render(self) -> str:
        if self.params is None:
            return f"(... -> {self.ret.render()})"
        return f"({', '.join(p.render() for p in self.params)} -> {self.ret.render()})" if self.params else f"(-> {self.ret.render()})"

    def check(self, var: str, depth: int = 0) -> str | None:
        return f"is_function({var})" if self.params is None else f"is_function({var}, {len(self.params)})"


@dataclass(frozen=True)
class StreamOf(EType):
    """A lazy Elixir stream of the items a Python iterator yields."""

    elem: EType

    def render(self) -> str:
        return "Enumerable.t()" if self.elem.is_term else f"Enumerable.t({self.elem.render()})"

    def check(self, var: str, depth: int = 0) -> str | None:
        return ListOf(self.elem).check(f"Enum.to_list({var})", depth)


@dataclass(frozen=True)
class Union(EType):
    members: tuple[EType, ...]

    def render(self) -> str:
        return " | ".join(m.render() for m in self.members)

    def check(self, var: str, depth: int = 0) -> str | None:
        checks = [m.check(var, depth) for m in self.members]
        if any(c is None for c in checks):
            return None
        return " or ".join(f"({c})" if " " in str(c) else str(c) for c in checks)


def union(*members: EType) -> EType:
    """A flattened union without duplicates, `nil` last; `term()` when any member is."""
    out: list[EType] = []
    for m in members:
        for part in m.members if isinstance(m, Union) else (m,):
            if part.is_term:
                return TERM
            if part not in out:
                out.append(part)
    if len(out) > 1 and NO_RETURN in out:
        out.remove(NO_RETURN)  # "or it raises" adds nothing to a type
    if not out:
        return TERM
    out.sort(key=lambda m: m == NIL)
    # Handles of wrapped classes are all PyBridge.Ref.t(): say it once.
    if REF in out:
        out = [m for m in out if not (isinstance(m, Named) and m.guard == REF.guard and m != REF)]
    if NUMBER in out:
        out = [m for m in out if m not in (INTEGER, FLOAT)]
    if NUMBER in out or INTEGER in out:
        out = [m for m in out if not (isinstance(m, Literal) and re.fullmatch(r"-?\d+", m.text))]
    return out[0] if len(out) == 1 else Union(tuple(out))


STRING = Named("String.t()", "is_binary({v})")
INTEGER = Named("integer()", "is_integer({v})")
FLOAT = Named("float()", "is_float({v})")
NUMBER = Named("number()", "is_number({v})")
BOOLEAN = Named("boolean()", "is_boolean({v})")
NIL = Named("nil", "is_nil({v})")
ATOM = Named("atom()", "is_atom({v})")
BYTES = Named("PyBridge.Bytes.t()", "match?(%PyBridge.Bytes{{}}, {v})")
NDARRAY = Named("PyBridge.NDArray.t()", "match?(%PyBridge.NDArray{{}}, {v})")
REF = Named("PyBridge.Ref.t()", "match?(%PyBridge.Ref{{}}, {v})")
NO_RETURN = Named("no_return()", "")
ANY_FUN = Named("fun()", "is_function({v})")
# Everyday values the bridge converts both ways (docs/PROTOCOL.md, Values).
MAPSET = Named("MapSet.t()", "is_struct({v}, MapSet)")
COMPLEX = Named("PyBridge.Complex.t()", "match?(%PyBridge.Complex{{}}, {v})")
TIMEDELTA = Named("PyBridge.Timedelta.t()", "match?(%PyBridge.Timedelta{{}}, {v})")
DATE = Named("Date.t()", "is_struct({v}, Date)")
TIME = Named("Time.t()", "is_struct({v}, Time)")
NAIVE_DATETIME = Named("NaiveDateTime.t()", "is_struct({v}, NaiveDateTime)")
DATETIME = Named("DateTime.t()", "is_struct({v}, DateTime)")
ANY_LIST = ListOf(TERM)
ANY_MAP = MapOf(TERM, TERM)
ANY_TUPLE = TupleOf(None)


def handle_of(module: str) -> Named:
    """The type of a handle to an object of a class the spec wraps."""
    return Named(f"{module}.t()", REF.guard)


# ------------------------------------------------------------------ facts


@dataclass
class TypeFact:
    """What introspection learnt about a class an annotation names.

    `kind`: "class", "enum", "typeddict", "namedtuple", "dataclass",
    "pydantic", "protocol". `base`: the built-in type its instances travel
    as (`str` for `class Mode(str, Enum)`, `dict` for a `Counter`), or None
    for a handle. `values`: an Enum's member values. `fields`: field
    annotations of a TypedDict, NamedTuple, dataclass or pydantic model.
    """

    kind: str = "class"
    base: str | None = None
    values: list[Any] | None = None
    fields: dict[str, str] | None = None
    callable: bool = False  # a protocol whose instances are called
    members: list[str] | None = None  # a protocol's methods and attributes


@dataclass
class TypeContext:
    """What the mapping knows beyond Python's own types.

    `classes`: dotted Python path of every class the spec wraps -> its Elixir
    module (an annotation naming one becomes `Module.t()`). `facts`: what
    introspection recorded about classes annotations name. `owner`: the
    class whose method is being mapped (for `Self`).
    """

    classes: Mapping[str, str] = field(default_factory=dict)
    facts: Mapping[str, TypeFact] = field(default_factory=dict)
    owner: str | None = None
    resolve: Callable[[str], TypeFact | None] | None = None  # reads a class not in `facts` from the library
    doc_names: Mapping[str, str] = field(default_factory=dict)  # a name a docstring's types use -> the class's path

    def wrapped(self, name: str) -> str | None:
        module = self.classes.get(name)
        if module is None:
            matches = {m for path, m in self.classes.items() if _same_tail(path, name)}
            if len(matches) == 1:
                module = matches.pop()
        return module

    def fact(self, name: str, live: bool = True) -> tuple[str, TypeFact] | None:
        """What is known about the class `name`; `live`: read it from the library when nothing is recorded."""
        if name in self.facts:
            return name, self.facts[name]
        if live and self.resolve is not None and "." in name:
            fact = self.resolve(name)
            if fact is not None:
                return name, fact
        # A name left unresolved (a string annotation): a unique class with that last part.
        matches = [(path, f) for path, f in self.facts.items() if _same_tail(path, name)]
        return matches[0] if len(matches) == 1 else None

    def with_owner(self, owner: str | None) -> "TypeContext":
        return TypeContext(self.classes, self.facts, owner, self.resolve, self.doc_names)

    def with_doc_names(self, doc_names: Mapping[str, str]) -> "TypeContext":
        """The context for a member whose docstring names these classes (its own win over its class's)."""
        if not doc_names:
            return self
        return TypeContext(self.classes, self.facts, self.owner, self.resolve, {**self.doc_names, **doc_names})


def _same_tail(path: str, name: str) -> bool:
    """`name` may stand for `path`: the same, or the same last part (in the same package when qualified)."""
    if path == name:
        return True
    if not path.endswith("." + name.rsplit(".", 1)[-1]):
        return False
    return "." not in name or path.split(".")[0] == name.split(".")[0]


@dataclass(frozen=True)
class Mapped:
    """The Elixir type of one position, and why a type Python gave was lost (None: nothing lost)."""

    type: EType
    lost: str | None = None


# Names Python uses to say "anything": mapping them to term() loses nothing.
ANYTHING = frozenset({"Any", "object", "Hashable", "_typeshed.Incomplete"})  # typeshed's Incomplete: "not typed yet"

_SCALARS_BOTH: dict[str, EType] = {
    "str": STRING,
    "LiteralString": STRING,
    "AnyStr": Union((STRING, BYTES)),
    "int": INTEGER,
    # int is acceptable where float is declared (PEP 484's numeric tower).
    "float": NUMBER,
    "bool": BOOLEAN,
    "None": NIL,
    "NoneType": NIL,
    "bytes": BYTES,
    "bytearray": BYTES,
    "memoryview": BYTES,
    "list": ANY_LIST,
    "List": ANY_LIST,
    "dict": ANY_MAP,
    "Dict": ANY_MAP,
    "tuple": ANY_TUPLE,
    "Tuple": ANY_TUPLE,
    "Counter": ANY_MAP,
    "OrderedDict": ANY_MAP,
    "defaultdict": ANY_MAP,
    "DefaultDict": ANY_MAP,
    # int and float are acceptable where complex is declared (PEP 484's numeric tower).
    "complex": Union((NUMBER, COMPLEX)),
    "datetime.date": DATE,
    "datetime.time": TIME,
    "datetime.datetime": union(NAIVE_DATETIME, DATETIME),
    "datetime.timedelta": TIMEDELTA,
    "type": REF,
    "Type": REF,
    "NoReturn": NO_RETURN,
    "Never": NO_RETURN,
    "TypeGuard": BOOLEAN,
    "TypeIs": BOOLEAN,
    "numpy.bool_": BOOLEAN,
    # The worker sends these as values (pybridge_port/values.py): a %Decimal{} struct, a UUID's text.
    "decimal.Decimal": ANY_MAP,
    "uuid.UUID": STRING,
}
for _n in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "intp", "integer", "signedinteger", "unsignedinteger"):
    _SCALARS_BOTH[f"numpy.{_n}"] = INTEGER
for _n in ("float16", "float32", "float64", "floating", "double", "number"):
    _SCALARS_BOTH[f"numpy.{_n}"] = NUMBER

# Abstract collections: an argument is sent as a list (or map); a result may
# be any object implementing the protocol, so a handle is possible too.
_SEQUENCES = {"Sequence", "MutableSequence", "Collection", "Reversible"}
_ITERABLES = {"Iterable", "Container"}
_MAPPINGS = {"Mapping", "MutableMapping"}
_ITERATORS = {"Iterator", "Generator", "AsyncIterator", "AsyncGenerator", "AsyncIterable"}
_AWAITABLES = {"Awaitable", "Coroutine"}
_WRAPPERS = {"ClassVar", "Final", "Required", "NotRequired", "ReadOnly", "Annotated", "InitVar"}
_CALLABLES = {"Callable"}
_NDARRAY = {"numpy.ndarray", "np.ndarray", "ndarray", "numpy.typing.NDArray", "NDArray"}


def to_elixir(py: PyType, ctx: TypeContext, pos: Position, streaming: bool = False) -> Mapped:
    """The Elixir type of `py` in position `pos` (`streaming`: the result of a streaming call)."""
    return _Mapper(ctx, pos).map(py, streaming)


class _Mapper:
    def __init__(self, ctx: TypeContext, pos: Position) -> None:
        self.ctx = ctx
        self.pos = pos
        self.lost: str | None = None

    def lose(self, why: str) -> EType:
        self.lost = self.lost or why
        return TERM

    def flip(self) -> "_Mapper":
        """The mapper for values travelling the other way (a callback's arguments)."""
        other = _Mapper(self.ctx, Position.RESULT if self.pos is Position.ARG else Position.ARG)
        return other

    def map(self, py: PyType, streaming: bool = False) -> Mapped:
        if streaming and py.name in _ITERATORS | _ITERABLES | _SEQUENCES | {"list", "List"}:
            elem = self.type(py.args[0]) if py.args else TERM
            return Mapped(StreamOf(elem), self.lost)
        if streaming:
            return Mapped(StreamOf(TERM), None)
        t = self.type(py)
        if t == NO_RETURN:
            # A call that never returns a value: there is no {:ok, _} to describe (and a bang
            # variant matching one would be flagged by Dialyzer).
            return Mapped(TERM, None)
        return Mapped(t, self.lost if t.is_term else None)

    def type(self, py: PyType) -> EType:
        name, args = py.name, py.args
        arg = self.pos is Position.ARG
        if name in ANYTHING or name == "...":
            return TERM
        if name == "Union":
            return union(*(self.type(a) for a in args))
        if name == "Optional":
            return union(*(self.type(a) for a in args), NIL)
        if name == "Literal":
            return union(*(self.literal(a) for a in args)) if args else self.lose("an empty Literal")
        if name in _WRAPPERS:
            return self.type(args[0]) if args else TERM
        if name in _AWAITABLES:
            # The worker awaits an awaitable result; an awaitable argument is an object.
            if arg:
                return REF
            return self.type(args[-1]) if args else TERM
        if name == "Self":
            module = self.ctx.wrapped(self.ctx.owner) if self.ctx.owner else None
            return handle_of(module) if module else REF
        if name in _NDARRAY:
            return union(NDARRAY, REF)
        if name in ("list", "List") and args:
            return ListOf(self.type(args[0]))
        if name in ("set", "Set", "frozenset", "FrozenSet", "AbstractSet", "MutableSet"):
            # A Python set arrives as a MapSet; either is sent as one (a list as a list).
            elem = self.type(args[0]) if args else TERM
            return union(ListOf(elem), MAPSET) if arg else MAPSET
        if name in ("tuple", "Tuple") and args:
            return self.tuple_of(args)
        if name in ("dict", "Dict", "OrderedDict", "defaultdict", "DefaultDict", "Counter") and args:
            return self.mapping(args)
        if name in ("type", "Type"):
            return REF
        if name in _SEQUENCES:
            # An Elixir tuple arrives as a Python tuple, a sequence too.
            elem = self.type(args[0]) if args else TERM
            return union(ListOf(elem), ANY_TUPLE) if arg else union(ListOf(elem), ANY_TUPLE, REF)
        if name in _ITERABLES:
            # A tuple, or a map (its keys), is iterated as well as a list.
            elem = self.type(args[0]) if args else TERM
            return union(ListOf(elem), ANY_TUPLE, ANY_MAP, REF)
        if name in _MAPPINGS:
            m = self.mapping(args) if args else ANY_MAP
            return m if arg else union(m, REF)
        if name in _ITERATORS:
            # Not streamed: a generator object travels as a handle.
            return REF
        if name in _CALLABLES:
            return self.callable(args)
        if name in _SCALARS_BOTH:
            return _SCALARS_BOTH[name]
        return self.named_class(name, args)

    def literal(self, py: PyType) -> EType:
        text = py.name
        if text.startswith(("'", '"')):
            return STRING
        if re.fullmatch(r"-?\d+", text):
            return Literal(str(int(text)))
        if text in ("True", "False"):
            return Literal(text.lower())
        if text == "None":
            return NIL
        if re.fullmatch(r"-?\d+\.\d+", text):
            return NUMBER
        # An Enum member (Color.RED): its class decides.
        owner = text.rsplit(".", 1)[0] if "." in text else None
        if owner:
            return self.named_class(owner, ())
        return self.lose(f"Literal value {text}")

    def tuple_of(self, args: tuple[PyType, ...]) -> EType:
        if any(a.name == "..." for a in args):
            return ANY_TUPLE
        if len(args) == 1 and args[0].name in ("[]", "()") and not args[0].args:
            return TupleOf(())
        return TupleOf(tuple(self.type(a) for a in args))

    def mapping(self, args: tuple[PyType, ...]) -> EType:
        key = self.type(args[0]) if args else TERM
        value = self.type(args[1]) if len(args) > 1 else TERM
        if self.pos is Position.ARG and key == STRING:
            key = union(STRING, ATOM)  # atom keys arrive as str keys
        return MapOf(key, value)

    def callable(self, args: tuple[PyType, ...]) -> EType:
        if self.pos is Position.RESULT:
            return REF  # a Python callable comes back as a handle
        if len(args) == 2:
            params_py, ret_py = args
            ret = self.type(ret_py)
            if params_py.name == "[]":
                # Python calls the fun: its arguments travel Python -> Elixir.
                back = self.flip()
                fun: EType = Fun(tuple(back.type(p) for p in params_py.args), ret)
            else:
                fun = Fun(None, ret)
        else:
            fun = ANY_FUN
        return union(fun, REF)

    def named_class(self, name: str, args: tuple[PyType, ...]) -> EType:
        module = self.ctx.wrapped(name)
        # A wrapped class's instances are handles, unless the worker sends them as values
        # (a subclass of tuple or str, an Enum's members, as introspection recorded): then its t() would be false.
        found = self.ctx.fact(name, live=module is None)
        by_value = found is not None and (found[1].base is not None or found[1].kind in ("enum", "protocol"))
        if module is not None and not by_value:
            return handle_of(module)
        if found is None:
            return self.lose(f"unknown name `{name}`")
        path, fact = found
        if fact.kind == "enum":
            return self.enum(fact)
        if fact.kind == "typeddict" and fact.fields is not None:
            return self.typeddict(fact)
        if fact.kind == "namedtuple" and fact.fields is not None:
            items = tuple(self.type(_parse_or_any(a)) for a in fact.fields.values())
            return TupleOf(items)
        if fact.kind == "protocol" and fact.callable:
            return union(ANY_FUN, REF) if self.pos is Position.ARG else REF
        if fact.kind == "protocol" and fact.members:
            return protocol_type(fact.members, self.pos)
        if fact.kind == "protocol":
            # Any object with the protocol's methods, plain data included (a list is a nested sequence).
            return self.lose(f"`{name}` is a protocol (any object with its methods)")
        if fact.base is not None:
            return self.type(PyType(fact.base))
        return REF

    def enum(self, fact: TypeFact) -> EType:
        if fact.base is None:
            # A plain Enum member arrives as its value; only a handle is a member for sure.
            values = self.enum_values(fact)
            return union(values, REF) if self.pos is Position.ARG else values
        if fact.base == "str":
            return STRING
        if fact.base == "int" and fact.values and len(fact.values) <= 12 and all(isinstance(v, int) and not isinstance(v, bool) for v in fact.values):
            return union(*(Literal(str(v)) for v in fact.values))
        return self.type(PyType(fact.base))

    def enum_values(self, fact: TypeFact) -> EType:
        values = fact.values or []
        if values and len(values) <= 12 and all(type(v) is int for v in values):
            return union(*(Literal(str(v)) for v in values))
        if values and all(type(v) is str for v in values):
            return STRING
        return TERM

    def typeddict(self, fact: TypeFact) -> EType:
        assert fact.fields is not None
        values = {k: self.type(_parse_or_any(a)) for k, a in fact.fields.items()}
        value = union(*values.values()) if values else TERM
        if self.pos is Position.ARG:
            known = tuple((_atom(k), v) for k, v in values.items())
            return MapOf(STRING, value, known)
        return MapOf(STRING, value)


@functools.lru_cache(maxsize=None)
def _value_classes(pos: Position) -> tuple[tuple[type, EType], ...]:
    """The Python classes of the values that travel as plain data, with their Elixir types: what an
    Elixir term becomes in Python (an argument), or what the worker sends as a value (a result:
    numpy's scalars too)."""
    out: list[tuple[type, EType]] = [
        (bool, BOOLEAN), (int, INTEGER), (float, FLOAT), (complex, COMPLEX), (str, STRING), (bytes, BYTES),
        (list, ANY_LIST), (tuple, ANY_TUPLE), (dict, ANY_MAP), (set, MAPSET), (type(None), NIL),
    ]
    try:
        import numpy
    except ImportError:
        return tuple(out)
    out.append((numpy.ndarray, NDARRAY))
    if pos is Position.RESULT:
        out += [(numpy.bool_, BOOLEAN), (numpy.integer, INTEGER), (numpy.floating, NUMBER), (numpy.complexfloating, COMPLEX)]
    return tuple(out)


def protocol_type(members: list[str], pos: Position) -> EType:
    """A protocol (`SupportsIndex`, numpy's `_SupportsArray`): the plain-data values whose class has all
    its members (an int has `__index__`), and a handle (any object may have them)."""
    found = [etype for cls, etype in _value_classes(pos) if all(hasattr(cls, m) for m in members)]
    return union(*found, REF)


def _atom(name: str) -> str:
    from .names import atom_literal

    return atom_literal(name)


def _parse_or_any(text: str) -> PyType:
    try:
        return parse_annotation(text)
    except AnnotationSyntaxError:
        return PyType("Any")


def map_annotation(text: str | None, ctx: TypeContext | None = None, pos: Position = Position.RESULT, streaming: bool = False) -> Mapped:
    """`to_elixir(parse_annotation(text))`; `term()` for no annotation, lost for unreadable text."""
    ctx = ctx or TypeContext()
    if text is None or not text.strip():
        return Mapped(StreamOf(TERM) if streaming else TERM)
    try:
        py = parse_annotation(text)
    except AnnotationSyntaxError:
        return Mapped(StreamOf(TERM) if streaming else TERM, f"unreadable annotation `{text}`")
    return to_elixir(py, ctx, pos, streaming)


def typespec(text: str | None, ctx: TypeContext | None = None, pos: Position = Position.RESULT) -> str:
    """The typespec text for an annotation (a shorthand for tests and docs)."""
    return map_annotation(text, ctx, pos).type.render()


# ------------------------------------------------------ defaults as types


def default_type(default: str | None, exact: bool = False) -> EType | None:
    """The type a default value's source text says (`0` -> number(), `'x'` -> String.t()); None when it says nothing.

    A number default gives `number()`, an integer one too: `x0=0`, `scale=1`
    take floats as often as not, and a spec may be wide, never wrong.
    `exact`: the default value itself (`0`), to add to a type read elsewhere.
    """
    if default is None:
        return None
    text = default.strip()
    if exact and re.fullmatch(r"[-+]?\d+", text):
        return Literal(str(int(text)))
    if text in ("True", "False"):
        return BOOLEAN
    if re.fullmatch(r"[-+]?(\d+|\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)", text) or text in ("inf", "-inf", "nan"):
        return NUMBER
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return STRING
    if text.startswith(("b'", 'b"')):
        return BYTES
    if text == "[]":
        return ANY_LIST
    if text == "{}":
        return ANY_MAP
    if text == "()":
        return ANY_TUPLE
    return None


def is_none_default(default: str | None) -> bool:
    return default is not None and default.strip() == "None"

