"""Introspection of installed Python code with `inspect`, and its cache.

The result is plain data (`MemberInfo` and friends, JSON in the cache file),
so that generation, `check` and `discover` read the same facts and a cache
can stand in for a library that is not importable. Nothing here may crash on
a strange member: whatever cannot be read is recorded as skipped, with why.

Types come from annotations, resolved with `typing.get_type_hints` (so string
annotations and `from __future__ import annotations` give real classes),
else from `.pyi` stubs shipped next to the module (`stubs`). Every class an
annotation names is described once in `Introspection.types` (`TypeFact`):
whether it is an Enum and with which values, a TypedDict and its fields, a
subclass of a built-in type, … — what `types.to_elixir` needs to say what the
value looks like on the Elixir side.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import decimal
import enum
import fnmatch
import functools
import importlib
import importlib.metadata
import inspect
import json
import os
import sys
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from . import names
from .docstrings import everyday_word, type_names
from .infer import inferred_returns
from .stubs import StubIndex
from .types import AnnotationSyntaxError, PyType, TypeFact, parse_annotation
from .versions import installed_version

CACHE_FORMAT = 4


@dataclass
class ParamInfo:
    name: str
    kind: str  # inspect.Parameter kind name, e.g. "KEYWORD_ONLY"
    default: str | None = None  # repr of the default; None: required
    annotation: str | None = None
    stub: str | None = None  # the annotation in a .pyi stub, when the code has none


@dataclass
class CallableInfo:
    params: list[ParamInfo] | None  # None: the signature cannot be read
    returns: str | None = None
    doc: str | None = None
    signature: str | None = None  # "(obj, *, indent=None)"
    binding: str = "function"  # function, method, classmethod, staticmethod
    is_generator: bool = False
    is_async: bool = False
    defined_in: str | None = None  # the class whose body defines a method
    returns_stub: str | None = None
    returns_code: str | None = None  # what its `return` statements say (`infer`), when nothing else does
    source: str | None = None  # "dspy/predict/predict.py:42"
    doc_names: dict[str, str] = field(default_factory=dict)  # a class its docstring's types name -> its path


@dataclass
class PropertyInfo:
    annotation: str | None = None
    readonly: bool = False
    doc: str | None = None
    defined_in: str | None = None


@dataclass
class ClassInfo:
    doc: str | None
    init: CallableInfo
    bases: list[str] = field(default_factory=list)
    # Every class it inherits from, nearest first (the MRO without itself and `object`): a
    # class's nearest wrapped ancestor may be several classes up.
    ancestors: list[str] = field(default_factory=list)
    methods: dict[str, CallableInfo] = field(default_factory=dict)
    properties: dict[str, PropertyInfo] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # member -> why it is not wrapped
    source: str | None = None
    doc_names: dict[str, str] = field(default_factory=dict)  # a class its docstring's types name -> its path
    annotations: dict[str, str] = field(default_factory=dict)  # attributes the class bodies annotate -> annotation


@dataclass
class MemberInfo:
    """One introspected path: a function, a class, a module, or an object (an instance)."""

    kind: str  # "function", "class", "module", "object"
    path: str
    function: CallableInfo | None = None
    cls: ClassInfo | None = None  # for "object": the class of the instance
    type_path: str | None = None  # for "object"
    doc: str | None = None  # for "module"
    origin: str | None = None  # module.qualname where a class or function is defined
    module: str | None = None  # for a function: the module defining it (a callable object's: its class's)


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class Introspection:
    """A cache file: what introspection found, and for which library version."""

    python_module: str
    version: str | None
    python: str
    members: dict[str, MemberInfo] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    types: dict[str, TypeFact] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"format": CACHE_FORMAT, **dataclasses.asdict(self, dict_factory=_cache_dict)}, indent=1, sort_keys=True, default=repr) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Introspection":
        data = json.loads(text)
        if data.get("format") != CACHE_FORMAT:
            raise ValueError(f"cache format {data.get('format')!r}, expected {CACHE_FORMAT}")
        return cls(
            python_module=data["python_module"],
            version=data["version"],
            python=data["python"],
            members={k: _member_from(v) for k, v in data["members"].items()},
            skipped=[Skipped(**s) for s in data["skipped"]],
            types={k: TypeFact(**v) for k, v in data.get("types", {}).items()},
        )


def _cache_dict(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """A cache entry without an empty `doc_names` (most members have none; absent reads as empty)."""
    return {k: v for k, v in items if not (k in ("doc_names", "annotations") and not v)}


def _callable_from(d: dict[str, Any] | None) -> CallableInfo | None:
    if d is None:
        return None
    params = d.pop("params")
    return CallableInfo(params=None if params is None else [ParamInfo(**p) for p in params], **d)


def _member_from(d: dict[str, Any]) -> MemberInfo:
    cls = d.pop("cls")
    fn = _callable_from(d.pop("function"))
    info = None
    if cls is not None:
        init = _callable_from(cls.pop("init"))
        assert init is not None
        info = ClassInfo(
            doc=cls["doc"],
            init=init,
            bases=cls["bases"],
            ancestors=cls.get("ancestors", []),
            methods={k: c for k, v in cls["methods"].items() if (c := _callable_from(v))},
            properties={k: PropertyInfo(**v) for k, v in cls["properties"].items()},
            skipped=cls.get("skipped", {}),
            source=cls.get("source"),
            doc_names=cls.get("doc_names", {}),
            annotations=cls.get("annotations", {}),
        )
    return MemberInfo(function=fn, cls=info, **d)


def load_cache(path: Path) -> Introspection | None:
    """The cached introspection at `path`, or None when absent, unreadable or of an older format."""
    try:
        return Introspection.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_cache(path: Path, data: Introspection) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data.to_json(), encoding="utf-8")


# -------------------------------------------------------------- boilerplate


def _boilerplate_docs() -> frozenset[str]:
    """Docstrings that only repeat `object`'s (and the built-in slots'): "Initialize self. …"."""
    docs: set[str] = set()
    for base in (object, type, int, float, str, bytes, list, dict, tuple, set, frozenset, BaseException):
        for name in dir(base):
            if not (name.startswith("__") and name.endswith("__")):
                continue
            try:
                member = getattr(base, name)
                doc = inspect.getdoc(member) if callable(member) else None
            except Exception:
                continue
            if doc:
                docs.add(" ".join(doc.split()))
    for base in (object, type):
        if base.__doc__:
            docs.add(" ".join(base.__doc__.split()))
    return frozenset(docs)


BOILERPLATE_DOCS = _boilerplate_docs()


def is_boilerplate(doc: str | None) -> bool:
    """Whether a docstring only repeats `object`'s (or a built-in slot's)."""
    return doc is not None and " ".join(doc.split()) in BOILERPLATE_DOCS


# ------------------------------------------------------------- annotations


class TypeRecorder:
    """Turns runtime annotations into text, describing each class they name in `facts`."""

    def __init__(self, facts: dict[str, TypeFact] | None = None) -> None:
        self.facts: dict[str, TypeFact] = facts if facts is not None else {}

    def text(self, annotation: Any) -> str | None:
        """Readable text for a runtime annotation (`list[str]`, `Union[int, None]`), None when absent."""
        if annotation is inspect.Parameter.empty or annotation is inspect.Signature.empty:
            return None
        try:
            return self._text(annotation)
        except Exception:  # an exotic annotation object: leave it out
            return None

    def _text(self, a: Any) -> str:
        if isinstance(a, str):
            return a
        if a is None or a is type(None):
            return "None"
        if a is Ellipsis:
            return "..."
        if a is typing.Any:
            return "Any"
        if isinstance(a, typing.ForwardRef):
            return a.__forward_arg__
        if isinstance(a, typing.TypeVar):
            # A type variable says "the same type as elsewhere": its bound (or constraints) is what is known.
            if a.__bound__ is not None:
                return self._text(a.__bound__)
            if a.__constraints__:
                return " | ".join(self._text(c) for c in a.__constraints__)
            return "Any"
        if isinstance(a, list):
            return "[" + ", ".join(self._text(x) for x in a) + "]"
        if type(a).__name__ in ("ParamSpec", "ParamSpecArgs", "ParamSpecKwargs", "TypeVarTuple"):
            return "..."
        new_type = getattr(a, "__supertype__", None)
        if new_type is not None and callable(a):  # typing.NewType
            return self._text(new_type)
        value = getattr(a, "__value__", None)
        if value is not None and type(a).__name__ == "TypeAliasType":
            return self._text(value)
        origin = typing.get_origin(a)
        if origin is not None:
            args = typing.get_args(a)
            if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
                return " | ".join(self._text(x) for x in args)  # as Python 3.10+ prints it
            elif origin is typing.Literal:
                return "Literal[" + ", ".join(_literal_text(x, self) for x in args) + "]"
            elif origin is typing.Annotated:
                return self._text(args[0])
            else:
                name = self._class_name(origin) if isinstance(origin, type) else _qualified(origin)
            return f"{name}[{', '.join(self._text(x) for x in args)}]" if args else name
        if isinstance(a, type):
            return self._class_name(a)
        text = repr(a)
        if text.startswith("typing."):
            return text
        return text if text.isidentifier() or "." in text and all(p.isidentifier() for p in text.split(".")) else "Any"

    def _class_name(self, cls: type) -> str:
        name = _qualified(cls)
        if name not in self.facts:
            self.facts[name] = TypeFact()  # placed first: a class may name itself in its fields
            try:
                self.facts[name] = self._fact(cls)
            except Exception:
                pass
        return name

    def _fact(self, cls: type) -> TypeFact:
        base = next((b.__name__ for b in (bool, int, float, str, bytes, bytearray, tuple, list, dict) if issubclass(cls, b)), None)
        if base is None and (issubclass(cls, PurePath) or _qualified(cls) == "uuid.UUID"):
            base = "str"  # the worker sends a path or a UUID as its text (pybridge_port/values.py)
        if base is None:
            # Subclasses the worker converts like their base (pandas' Timestamp is a datetime).
            base = next((name for b, name in _CONVERTED if issubclass(cls, b)), None)
        if isinstance(cls, enum.EnumMeta):
            values = [m.value for m in cls]  # type: ignore[var-annotated]
            plain = all(isinstance(v, (str, int, float, bool)) or v is None for v in values)
            return TypeFact("enum", base, values if plain else None)
        if typing.is_typeddict(cls):
            hints = _hints(cls)
            return TypeFact("typeddict", "dict", fields={k: self.text(v) or "Any" for k, v in hints.items()})
        if base == "tuple" and hasattr(cls, "_fields"):
            hints = _hints(cls)
            return TypeFact("namedtuple", "tuple", fields={f: self.text(hints.get(f, typing.Any)) or "Any" for f in cls._fields})
        if getattr(cls, "_is_protocol", False):
            members = _protocol_members(cls)
            return TypeFact("protocol", None, callable="__call__" in members, members=sorted(members))
        if dataclasses.is_dataclass(cls):
            return TypeFact("dataclass", base)
        if hasattr(cls, "model_fields") and hasattr(cls, "model_validate"):
            return TypeFact("pydantic", base)
        return TypeFact("class", base)


# What every class body holds, or typing adds to a protocol: not members a value must have.
_NOT_MEMBERS = frozenset({
    "__abstractmethods__", "__annotations__", "__dict__", "__doc__", "__init__", "__module__", "__new__", "__slots__",
    "__subclasshook__", "__weakref__", "__class_getitem__", "__parameters__", "__orig_bases__", "__protocol_attrs__",
    "__non_callable_proto_members__", "__type_params__", "__qualname__", "__init_subclass__", "__callable_proto_members_only__",
    "_is_protocol", "_is_runtime_protocol", "__static_attributes__", "__firstlineno__",
})


def _protocol_members(cls: type) -> set[str]:
    """The methods and attributes a protocol asks for (its own and its protocol bases')."""
    out: set[str] = set()
    for base in cls.__mro__[:-1]:
        if base.__name__ in ("Protocol", "Generic") or not getattr(base, "_is_protocol", False):
            continue
        names = set(vars(base)) | set(getattr(base, "__annotations__", {}) or {})
        out |= {n for n in names if n not in _NOT_MEMBERS and not n.startswith("_abc_")}
    return out


def _literal_text(value: Any, recorder: TypeRecorder) -> str:
    if isinstance(value, enum.Enum):
        return f"{recorder.text(type(value))}.{value.name}"
    return repr(value)


def _hints(obj: Any) -> dict[str, Any]:
    """Annotations with string ones resolved: all at once, else one by one (one bad name must not cost the others)."""
    try:
        return typing.get_type_hints(obj)
    except Exception:
        pass
    raw = dict(getattr(obj, "__annotations__", {}) or {})
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    namespace = {**vars(typing), **_type_checking_names(getattr(module, "__name__", "")), **(vars(module) if module else {}), **(getattr(obj, "__globals__", None) or {})}
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            try:
                value = eval(value, namespace)  # noqa: S307 - an annotation of installed code, as get_type_hints does
            except Exception:
                pass
        out[name] = value
    return out


@functools.lru_cache(maxsize=None)
def _type_checking_names(module_name: str) -> dict[str, Any]:
    """The names a module imports only for type checkers (`if TYPE_CHECKING: from . import _types as _t`),
    which its string annotations use (`def load(m: "Model")`): imported here, each on its own. Only the
    package's own modules: what else a type checker sees (a heavy optional dependency) is not imported."""
    module = sys.modules.get(module_name)
    try:
        tree = ast.parse(inspect.getsource(module)) if module is not None else None
    except Exception:  # no source (C code), or source ast cannot read
        return {}
    out: dict[str, Any] = {}
    for node in tree.body if tree is not None else []:
        test = node.test if isinstance(node, ast.If) else None
        if not (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") and not (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            continue
        assert isinstance(node, ast.If)
        for stmt in node.body:
            try:
                if isinstance(stmt, ast.Import):
                    for alias in stmt.names:
                        if _root(alias.name) != _root(module_name):
                            continue
                        imported = importlib.import_module(alias.name)
                        out[alias.asname or alias.name.split(".")[0]] = imported if alias.asname else sys.modules[alias.name.split(".")[0]]
                elif isinstance(stmt, ast.ImportFrom):
                    if not stmt.level and _root(stmt.module or "") != _root(module_name):
                        continue
                    base = importlib.import_module("." * stmt.level + (stmt.module or ""), getattr(module, "__package__", None) or None) if stmt.level else importlib.import_module(stmt.module or "")
                    for alias in stmt.names:
                        value = getattr(base, alias.name, None)
                        if value is None:  # `from . import _types`: a submodule
                            value = importlib.import_module(f"{base.__name__}.{alias.name}")
                        out[alias.asname or alias.name] = value
            except Exception:  # a name only a type checker can import (a stub-only module): left unresolved
                continue
    return out


def annotation_text(annotation: Any) -> str | None:
    """Readable text for a runtime annotation, without recording facts (see `TypeRecorder`)."""
    return TypeRecorder().text(annotation)


def _qualified(t: Any) -> str:
    module = getattr(t, "__module__", None)
    name = getattr(t, "__qualname__", None) or getattr(t, "__name__", None) or repr(t)
    if module in (None, "builtins", "typing", "collections.abc", "typing_extensions"):
        return str(name)
    return f"{module}.{name}"


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------- members


def resolve(path: str) -> Any:
    """The object at a dotted path: the longest importable module prefix, then attributes."""
    parts = path.split(".")
    error: Exception | None = None
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError as exc:
            error = error or exc
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import any prefix of {path}: {error}")


def _root(name: str) -> str:
    return name.split(".")[0]


@functools.lru_cache(maxsize=None)
def _sibling_roots(root: str) -> frozenset[str]:
    """The top-level modules whose members are `root`'s own: `root`, its C accelerator `_root` (the
    standard library's `heapq` re-exports `heapq.heappush` from `_heapq`, `csv` its reader from `_csv`),
    and the packages installed by the same distribution(s) (attrs installs `attrs`, whose members are
    all defined in `attr`).
    """
    own = {root, f"_{root}"}
    try:
        installed = importlib.metadata.packages_distributions()
    except Exception:  # a broken metadata entry must not stop discovery
        return frozenset(own)
    owners = set(installed.get(root, ()))
    return frozenset(own | {top for top, distributions in installed.items() if owners & set(distributions) and top.isidentifier()})


def _defining_module(obj: Any) -> Any:
    """The module that defines a callable: a `functools.partial`'s is its function's, not `functools`."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    return getattr(obj, "__module__", None)


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _source(obj: Any) -> str | None:
    """`package/module.py:line` of a function's definition (a class's file only: finding its line
    means parsing the file), relative to the folder holding its top package."""
    try:
        target = inspect.unwrap(obj) if callable(obj) else obj
        target = getattr(target, "__func__", target)
        file = inspect.getsourcefile(target)
    except Exception:
        return None
    if not file:
        return None
    code = getattr(target, "__code__", None)
    line = f":{code.co_firstlineno}" if code is not None else ""
    module = sys.modules.get(getattr(target, "__module__", "") or "")
    top = sys.modules.get(_root(getattr(module, "__name__", "") or ""))
    top_file = getattr(top, "__file__", None)
    if top_file:
        base = os.path.dirname(top_file)
        if os.path.basename(top_file) == "__init__.py":
            base = os.path.dirname(base)
        try:
            file = os.path.relpath(file, base)
        except ValueError:
            pass
    return f"{file}{line}"


class Introspector:
    """Reads members with `inspect`, recording the classes their annotations name."""

    def __init__(self, exclude: list[str] | None = None, facts: dict[str, TypeFact] | None = None) -> None:
        self.exclude = exclude if exclude is not None else ["_*"]
        self.recorder = TypeRecorder(facts)
        self.stubs = StubIndex()
        self._unresolvable: set[str] = set()

    @property
    def facts(self) -> dict[str, TypeFact]:
        return self.recorder.facts

    def doc(self, obj: Any) -> str | None:
        try:
            doc = inspect.getdoc(obj)
        except Exception:
            return None
        if not isinstance(doc, str) or is_boilerplate(doc):
            return None
        return doc

    def class_doc(self, cls: type) -> str | None:
        """The class's own docstring, else one inherited from a class of the same package (never a third party's)."""
        root = _root(cls.__module__)
        for klass in inspect.getmro(cls):
            if klass is object or _root(klass.__module__) != root:
                continue
            doc = vars(klass).get("__doc__")
            if isinstance(doc, str) and doc.strip() and not is_boilerplate(doc):
                return inspect.cleandoc(doc)
        return None

    def callable_info(self, obj: Any, binding: str = "function", drop_first: bool = False, defined_in: str | None = None, owner: type | None = None) -> CallableInfo:
        """What `inspect` can say about a callable; an unreadable signature gives params=None."""
        params: list[ParamInfo] | None = None
        returns = signature = None
        try:
            sig = inspect.signature(obj)
        except (ValueError, TypeError, RuntimeError, AttributeError, NameError):
            sig = None
        target = inspect.unwrap(obj) if callable(obj) else obj
        fn = getattr(target, "__func__", target)
        hints = _hints(fn) if callable(fn) else {}
        stub = self.stubs.find(obj, owner)
        if sig is not None:
            plist = list(sig.parameters.values())
            if drop_first and plist and plist[0].kind in (plist[0].POSITIONAL_ONLY, plist[0].POSITIONAL_OR_KEYWORD):
                plist = plist[1:]
                sig = sig.replace(parameters=plist)
            params = [
                ParamInfo(
                    name=p.name,
                    kind=p.kind.name,
                    default=None if p.default is p.empty else _safe_repr(p.default),
                    annotation=self.recorder.text(hints.get(p.name, p.annotation)),
                    stub=self.expand(stub.params.get(p.name)) if stub else None,
                )
                for p in plist
            ]
            returns = self.recorder.text(hints.get("return", sig.return_annotation))
            try:
                signature = str(sig.replace(return_annotation=inspect.Signature.empty))
            except Exception:
                signature = None
        returns_code = None
        if returns is None and not (stub and stub.returns):
            returns_code = self.expand(inferred_returns(obj, owner, getattr(fn, "__name__", None)))
        doc = self.doc(obj)
        return CallableInfo(
            params=params,
            returns=returns,
            returns_code=returns_code,
            doc=doc,
            doc_names=self.doc_names(doc, fn),
            signature=signature,
            binding=binding,
            is_generator=inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn),
            is_async=inspect.iscoroutinefunction(fn),
            defined_in=defined_in,
            returns_stub=self.expand(stub.returns) if stub else None,
            source=_source(obj),
        )

    def doc_names(self, doc: str | None, where: Any) -> dict[str, str]:
        """The classes a docstring's type texts name, looked up where `where` (a function or class) is
        defined: `Symbol` in sympy's solvers is `sympy.core.symbol.Symbol`. Each is recorded in the facts."""
        if not doc:
            return {}
        try:
            wanted = type_names(doc)
        except Exception:  # an odd docstring must not cost the member
            return {}
        if not wanted:
            return {}
        module = sys.modules.get(getattr(where, "__module__", None) or "")
        namespace: dict[str, Any] = dict(vars(module)) if module is not None else {}
        namespace.update(getattr(where, "__globals__", None) or {})
        package = sys.modules.get(_root(getattr(module, "__name__", "") or ""))
        out: dict[str, str] = {}
        for name in sorted(wanted):
            head, *rest = name.split(".")
            obj = namespace.get(head)
            if obj is None and rest and head in sys.modules:
                obj = sys.modules[head]  # a full path: `matplotlib.figure.Figure`
            if obj is None and not rest:
                obj = getattr(package, head, None)  # the package's public name: networkx's functions say `nx.Graph`
            if not isinstance(obj, type) and not rest and head.islower() and not everyday_word(head):
                # Prose: `G : graph` is a Graph, `a relational` a Relational.
                title = head[0].upper() + head[1:]
                obj = namespace.get(title, getattr(package, title, None))
            try:
                for part in rest:
                    obj = getattr(obj, part)
            except Exception:
                continue
            if isinstance(obj, type) and obj.__module__ != "builtins":
                text = self.recorder.text(obj)
                if text:
                    out[name] = text
        return out

    def expand(self, text: str | None) -> str | None:
        """A stub's annotation with its names looked up at run time: classes recorded, aliases spelt out."""
        if text is None:
            return None
        try:
            py = parse_annotation(text)
        except AnnotationSyntaxError:
            return text

        def walk(t: PyType) -> str:
            args = f"[{', '.join(walk(a) for a in t.args)}]" if t.args else ""
            if t.name == "[]":  # the parameter list of a Callable
                return args or "[]"
            if "." not in t.name or t.name.startswith(("'", '"')) or t.name in self._unresolvable:
                return t.name + args
            try:
                obj = resolve(t.name)
            except Exception:
                self._unresolvable.add(t.name)
                return t.name + args
            if isinstance(obj, type):
                return (self.recorder.text(obj) or t.name) + args
            if args:  # a generic alias subscripted in the stub: keep its arguments
                origin = typing.get_origin(obj)
                if origin is not None and not isinstance(origin, type):
                    # `_ArrayLike[float64]`, a union of generics: its definition, type variables read as
                    # their bounds (wider than the stub's arguments, never narrower).
                    return self.recorder.text(obj) or t.name
                return ((self.recorder.text(origin) if isinstance(origin, type) else None) or t.name) + args
            return self.recorder.text(obj) or t.name

        return walk(py)

    def constructor_info(self, cls: type) -> CallableInfo:
        """The constructor: the class's signature, or `__init__`'s when it says more.

        A metaclass with its own `__call__` builds the instances (DSPy's
        modules and signatures): the class's signature then says nothing —
        `__init__`'s does when it names parameters, else the constructor is
        taken as `(*args, **kwargs)`. A signature that passes `*args, **kwargs`
        on gives way to `__init__`'s too.
        """
        info = self.callable_info(cls, owner=None)
        init = getattr(cls, "__init__", None)
        metaclass_builds = getattr(type(cls), "__call__", None) is not type.__call__
        # `(*args, **kwargs)`, or a wrapper's `(*args, backend=None, **kwargs)` (networkx's dispatching
        # `__new__`): it passes everything on, and `__init__` says what is taken.
        kinds = {p.kind for p in info.params or []}
        generic = {"VAR_POSITIONAL", "VAR_KEYWORD"} <= kinds
        if (info.params is None or generic or metaclass_builds) and inspect.isfunction(init):
            better = self.callable_info(init, "method", drop_first=True, owner=cls)
            named = better.params is not None and any(p.kind not in ("VAR_POSITIONAL", "VAR_KEYWORD") for p in better.params)
            if named:
                info = dataclasses.replace(better, doc=None, binding="function", source=info.source or better.source)
            elif metaclass_builds:
                info = dataclasses.replace(info, params=[ParamInfo("args", "VAR_POSITIONAL"), ParamInfo("kwargs", "VAR_KEYWORD")], signature="(*args, **kwargs)")
        # The constructor's own docstring when it has one (not a third-party base's, like
        # pydantic's "Create a new model…"); the class docstring is the module's.
        own_init = inspect.isfunction(init) and _root(getattr(init, "__module__", "") or "") == _root(cls.__module__)
        init_doc = self.doc(init) if own_init else None
        info.doc = init_doc
        return info

    def public(self, name: str) -> bool:
        if name in names.DUNDERS:
            return True
        return not name.startswith("_") and not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)

    def skip_reason(self, name: str) -> str:
        if name in names.OPERATORS:
            return f"an operator not written in Python: name it in the class's methods ({{name: {name}}}) to generate it"
        if name.startswith("__") and name.endswith("__"):
            return "a dunder method without an Elixir counterpart"
        if name.startswith("_"):
            return "private (its name starts with _)"
        pattern = next((p for p in self.exclude if fnmatch.fnmatchcase(name, p)), None)
        return f"excluded by the pattern {pattern!r}" if pattern else "not public"

    def class_info(self, cls: type) -> ClassInfo:
        """Constructor, public methods and properties of a class.

        Methods come from every class of the MRO that belongs to the same
        package or to `builtins` (so `Counter` keeps `dict.get`), never from
        `object`, and never from third-party bases (pydantic's dozens of
        model_* methods would drown a DSPy signature): those are recorded in
        `skipped` with the reason.
        """
        root = _root(cls.__module__)
        init = self.constructor_info(cls)
        methods: dict[str, CallableInfo] = {}
        properties: dict[str, PropertyInfo] = {}
        skipped: dict[str, str] = {}
        for klass in inspect.getmro(cls):
            if klass is object:
                continue
            owner = _class_path(klass)
            own = _root(klass.__module__) == root
            # Built-in containers lend their methods (a Counter keeps dict.get); other built-ins
            # (an exception's with_traceback) are as foreign as a third party's.
            foreign = not own and klass not in _CONTAINERS
            for name, raw in list(vars(klass).items()):
                if name in methods or name in properties or name in skipped:
                    continue
                is_member = callable(raw) or isinstance(raw, (property, functools.cached_property, classmethod, staticmethod))
                # Arithmetic and comparison the package writes in Python (Fraction's `__add__`, a parser
                # element's `__or__`) are part of its API: generated as `add/3`, called as `operator.add`.
                operator = own and name in names.OPERATORS and inspect.isfunction(raw)
                if not self.public(name) and not operator:
                    # What a reader would look for: the package's own private methods and dunders
                    # (not attributes like __module__, not what every class has).
                    if own and is_member and name not in _EVERY_CLASS:
                        skipped[name] = self.skip_reason(name)
                    continue
                if foreign:
                    if is_member:
                        skipped[name] = f"inherited from {owner}" + (" (built in)" if klass.__module__ == "builtins" else ", a class of another package")
                    continue
                if not own and name in names.DUNDERS and name not in vars(cls):
                    # The container dunders of a dict or list subclass are generic: only its own count.
                    continue
                try:
                    self._member(cls, name, raw, owner, methods, properties)
                except Exception as exc:  # one odd member must not cost the class
                    skipped[name] = f"introspection raised {type(exc).__name__}"
            if dataclasses.is_dataclass(klass) and not foreign:
                frozen = getattr(getattr(klass, "__dataclass_params__", None), "frozen", False)
                hints = _hints(klass)
                for f in dataclasses.fields(klass):
                    if self.public(f.name) and f.name not in properties and f.name not in methods:
                        properties[f.name] = PropertyInfo(self.recorder.text(hints.get(f.name, f.type)), bool(frozen), None, owner)
        # An operator whose Elixir name is a method's already (pandas' `__add__` beside `add`, which takes
        # more options) is left to that method.
        named = {names.derive_function_name(n) for n in methods if n not in names.OPERATORS} | set(properties)
        for name in [n for n in methods if n in names.OPERATORS and names.derive_function_name(n) in named]:
            del methods[name]
            skipped[name] = f"an operator whose name the method {names.derive_function_name(name)!r} has"
        self._model_fields(cls, methods, properties)
        bases = [_class_path(b) for b in cls.__bases__ if b is not object]
        doc = self.class_doc(cls)
        ancestors = [_class_path(b) for b in inspect.getmro(cls)[1:] if b is not object]
        return ClassInfo(doc=doc, init=init, bases=bases, ancestors=ancestors, methods=methods, properties=properties, skipped=skipped, source=_source(cls), doc_names=self.doc_names(doc, cls), annotations=self.attribute_annotations(cls, methods, properties))

    def attribute_annotations(self, cls: type, methods: dict[str, CallableInfo], properties: dict[str, PropertyInfo]) -> dict[str, str]:
        """Public names the bodies of the class and its same-package bases annotate (`message: str`), that are
        neither methods nor properties: the types of instance attributes."""
        root = _root(cls.__module__)
        out: dict[str, str] = {}
        for klass in inspect.getmro(cls):
            if klass is object or _root(klass.__module__) != root or "__annotations__" not in vars(klass):
                continue
            raw = vars(klass).get("__annotations__") or {}
            hints = _hints(klass) if raw else {}
            for name in raw:
                if name in out or name in methods or name in properties or not self.public(name):
                    continue
                text = self.recorder.text(hints.get(name, raw[name]))
                if text:
                    out[name] = text
        return out

    def _member(self, cls: type, name: str, raw: Any, owner: str, methods: dict[str, CallableInfo], properties: dict[str, PropertyInfo]) -> None:
        if isinstance(raw, (property, functools.cached_property)):
            # A cached_property (networkx's Graph.nodes) reads like a property: computed once, then stored.
            fget = raw.fget if isinstance(raw, property) else raw.func
            ret = None
            if fget is not None:
                hints = _hints(fget)
                try:
                    ret = self.recorder.text(hints.get("return", inspect.signature(fget).return_annotation))
                except (ValueError, TypeError, NameError):
                    ret = None
                if ret is None:
                    # A property of an unannotated class: its stub's getter says what it returns.
                    stub = self.stubs.find(fget, cls)
                    ret = self.expand(stub.returns) if stub is not None else None
            readonly = raw.fset is None if isinstance(raw, property) else True
            properties[name] = PropertyInfo(ret, readonly, self.doc(raw), owner)
        elif isinstance(raw, classmethod):
            methods[name] = self.callable_info(getattr(cls, name), "classmethod", defined_in=owner, owner=cls)
        elif isinstance(raw, staticmethod):
            methods[name] = self.callable_info(getattr(cls, name), "staticmethod", defined_in=owner, owner=cls)
        elif inspect.isfunction(raw) or inspect.ismethoddescriptor(raw) or inspect.isbuiltin(raw):
            if isinstance(raw, types.ClassMethodDescriptorType):
                methods[name] = self.callable_info(getattr(cls, name), "classmethod", defined_in=owner, owner=cls)
            elif callable(raw):
                methods[name] = self.callable_info(raw, "method", drop_first=True, defined_in=owner, owner=cls)

    def _model_fields(self, cls: type, methods: dict[str, CallableInfo], properties: dict[str, PropertyInfo]) -> None:
        """A pydantic model's fields are attributes of its instances: properties."""
        fields = getattr(cls, "model_fields", None)
        if not isinstance(fields, dict) or not hasattr(cls, "model_validate"):
            return
        frozen = bool(getattr(cls, "model_config", {}).get("frozen", False))
        for name, info in fields.items():
            if not self.public(name) or name in properties or name in methods:
                continue
            annotation = getattr(info, "annotation", None)
            doc = getattr(info, "description", None)
            properties[name] = PropertyInfo(self.recorder.text(annotation) if annotation is not None else None, frozen, doc if isinstance(doc, str) else None, _class_path(cls))

    def introspect_object(self, path: str, obj: Any) -> MemberInfo:
        if inspect.ismodule(obj):
            return MemberInfo(kind="module", path=path, doc=self.doc(obj))
        if inspect.isclass(obj):
            return MemberInfo(kind="class", path=path, cls=self.class_info(obj), origin=_origin(obj))
        if callable(obj):
            owner = getattr(obj, "__module__", None)
            return MemberInfo(kind="function", path=path, function=self.callable_info(obj), origin=_origin(obj), module=owner if isinstance(owner, str) else None)
        t = type(obj)
        return MemberInfo(kind="object", path=path, cls=self.class_info(t), type_path=_class_path(t), doc=self.class_doc(t))

    def type_fact(self, name: str) -> TypeFact | None:
        """Describe the class at a dotted path (an annotation in a spec names it)."""
        try:
            obj = resolve(name)
        except Exception:
            return None
        if not isinstance(obj, type):
            return None
        self.recorder.text(obj)
        return self.facts.get(_qualified(obj))


def introspect_path(path: str, exclude: list[str] | None = None, facts: dict[str, TypeFact] | None = None) -> MemberInfo:
    """Introspect the object at `path`; raises when it cannot be reached."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = resolve(path)
        return Introspector(exclude, facts).introspect_object(path, obj)


def discover(module_name: str, depth: int = 1, submodules: list[str] | None = None, exclude: list[str] | None = None) -> Introspection:
    """Walk a module (and its submodules down to `depth`) and introspect every public member.

    Members re-exported from the same top-level package are kept (DSPy's
    `dspy.Predict` lives in `dspy.predict.predict`); members of other packages
    (`typing.Any`, `pydantic.BaseModel`) are skipped.
    """
    introspector = Introspector(exclude)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module(module_name)
        result = Introspection(
            python_module=module_name,
            version=installed_version(module),
            python=".".join(str(p) for p in sys.version_info[:3]),
            types=introspector.facts,
        )
        result.members[module_name] = MemberInfo(kind="module", path=module_name, doc=introspector.doc(module))
        seen_modules = {module_name}
        _walk(introspector, module, module_name, 0, depth, result, seen_modules)
        for sub in submodules or []:
            path = sub if sub.startswith(module_name + ".") else f"{module_name}.{sub}"
            if path in seen_modules:
                continue
            try:
                submodule = importlib.import_module(path)
            except Exception as exc:
                result.skipped.append(Skipped(path, f"cannot import: {type(exc).__name__}: {exc}"))
                continue
            seen_modules.add(path)
            result.members[path] = MemberInfo(kind="module", path=path, doc=introspector.doc(submodule))
            _walk(introspector, submodule, path, 1, depth + 1, result, seen_modules)
    return result


def _walk(ins: Introspector, module: Any, path: str, level: int, depth: int, result: Introspection, seen: set[str]) -> None:
    own = _sibling_roots(_root(result.python_module))
    exported = getattr(module, "__all__", None)
    member_names = sorted(set(exported)) if isinstance(exported, (list, tuple)) and all(isinstance(n, str) for n in exported) else sorted(dir(module))
    for name in member_names:
        member_path = f"{path}.{name}"
        if name.startswith("__") or not ins.public(name) or any(fnmatch.fnmatchcase(member_path, p) for p in ins.exclude):
            continue
        try:
            obj = getattr(module, name)
        except Exception as exc:
            result.skipped.append(Skipped(member_path, f"reading it raised {type(exc).__name__}"))
            continue
        try:
            if inspect.ismodule(obj):
                if obj.__name__ == member_path and level < depth and member_path not in seen:
                    seen.add(member_path)
                    result.members[member_path] = MemberInfo(kind="module", path=member_path, doc=ins.doc(obj))
                    _walk(ins, obj, member_path, level + 1, depth, result, seen)
                continue
            owner = _defining_module(obj)
            if inspect.isclass(obj):
                if not isinstance(owner, str) or _root(owner) not in own:
                    result.skipped.append(Skipped(member_path, f"re-exported from {owner}"))
                    continue
                result.members[member_path] = MemberInfo(kind="class", path=member_path, cls=ins.class_info(obj), origin=_origin(obj))
            elif callable(obj):
                if isinstance(owner, str) and _root(owner) not in own | {"builtins"}:
                    result.skipped.append(Skipped(member_path, f"re-exported from {owner}"))
                    continue
                result.members[member_path] = MemberInfo(kind="function", path=member_path, function=ins.callable_info(obj), origin=_origin(obj), module=owner if isinstance(owner, str) else None)
            else:
                t = type(obj)
                if _root(t.__module__) in own and _has_python_methods(t, ins):
                    # An instance with methods of its own, like dspy.settings: a singleton.
                    result.members[member_path] = ins.introspect_object(member_path, obj)
                else:
                    result.skipped.append(Skipped(member_path, f"a constant of type {_class_path(t)}"))
        except Exception as exc:  # whatever inspect trips on: skip the member, keep the module
            result.skipped.append(Skipped(member_path, f"introspection raised {type(exc).__name__}: {str(exc)[:100]}"))


_CONTAINERS = (dict, list, set, frozenset, tuple, str, bytes, int, float)

# Classes the worker sends as values, with the annotation that types them (datetime before date).
_CONVERTED: tuple[tuple[type, str], ...] = (
    (datetime.datetime, "datetime.datetime"),
    (datetime.date, "datetime.date"),
    (datetime.time, "datetime.time"),
    (datetime.timedelta, "datetime.timedelta"),
    (set, "set"),
    (frozenset, "frozenset"),
    (complex, "complex"),
    (decimal.Decimal, "decimal.Decimal"),
)

# Members every class has or gets from Python itself: never worth a line in the report.
_EVERY_CLASS = frozenset({"__init__", "__new__", "__init_subclass__", "__class_getitem__", "__subclasshook__", "__getattr__", "__getattribute__", "__setattr__", "__delattr__", "__post_init__"})


def _origin(obj: Any) -> str | None:
    """Where an object is defined, `module.qualname`: the same origin under two paths means one object
    under two names. Not for what a factory made (`make.<locals>.f`): every function or class a factory
    returns has that one qualified name (mpmath's `sqrt`, `exp`, … are all `_wrap_libmp_function.<locals>.f`)."""
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(module, str) or not isinstance(name, str) or "<locals>" in name or "<lambda>" in name:
        return None
    return f"{module}.{name}"


def _has_python_methods(t: type, ins: Introspector) -> bool:
    return any(inspect.isfunction(v) and ins.public(k) and not k.startswith("__") for k, v in vars(t).items())
