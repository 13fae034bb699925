"""Introspection of installed Python code with `inspect`, and its cache.

The result is plain data (`MemberInfo` and friends, JSON in the cache file),
so that generation, `check` and `discover` read the same facts and a cache
can stand in for a library that is not importable. Nothing here may crash on
a strange member: whatever cannot be read is recorded as skipped, with why.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import inspect
import json
import sys
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .versions import installed_version

CACHE_FORMAT = 1


@dataclass
class ParamInfo:
    name: str
    kind: str  # inspect.Parameter kind name, e.g. "KEYWORD_ONLY"
    default: str | None = None  # repr of the default; None: required
    annotation: str | None = None


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
    methods: dict[str, CallableInfo] = field(default_factory=dict)
    properties: dict[str, PropertyInfo] = field(default_factory=dict)


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

    def to_json(self) -> str:
        return json.dumps({"format": CACHE_FORMAT, **dataclasses.asdict(self)}, indent=1, sort_keys=True) + "\n"

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
        )


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
            methods={k: c for k, v in cls["methods"].items() if (c := _callable_from(v))},
            properties={k: PropertyInfo(**v) for k, v in cls["properties"].items()},
        )
    return MemberInfo(function=fn, cls=info, **d)


def load_cache(path: Path) -> Introspection | None:
    """The cached introspection at `path`, or None when absent or unreadable."""
    try:
        return Introspection.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_cache(path: Path, data: Introspection) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data.to_json(), encoding="utf-8")


# ------------------------------------------------------------- annotations


def annotation_text(annotation: Any) -> str | None:
    """Readable text for a runtime annotation (`list[str]`, `Union[int, None]`), None when absent."""
    if annotation is inspect.Parameter.empty or annotation is inspect.Signature.empty:
        return None
    try:
        return _annotation_text(annotation)
    except Exception:  # an exotic annotation object: leave it out
        return None


def _annotation_text(a: Any) -> str:
    if isinstance(a, str):
        return a
    if a is None or a is type(None):
        return "None"
    if a is Ellipsis:
        return "..."
    if isinstance(a, typing.ForwardRef):
        return a.__forward_arg__
    if isinstance(a, typing.TypeVar):
        return a.__name__
    if isinstance(a, list):
        return "[" + ", ".join(_annotation_text(x) for x in a) + "]"
    origin = typing.get_origin(a)
    if origin is not None:
        args = typing.get_args(a)
        if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
            name = "Union"
        elif origin is typing.Literal:
            return "Literal[" + ", ".join(repr(x) for x in args) + "]"
        else:
            name = _qualified(origin)
        return f"{name}[{', '.join(_annotation_text(x) for x in args)}]" if args else name
    if isinstance(a, type):
        return _qualified(a)
    text = repr(a)
    return text if text.isidentifier() or "." in text and all(p.isidentifier() for p in text.split(".")) else "Any"


def _qualified(t: Any) -> str:
    module = getattr(t, "__module__", None)
    name = getattr(t, "__qualname__", None) or getattr(t, "__name__", None) or repr(t)
    if module in (None, "builtins", "typing", "collections.abc"):
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


def _doc(obj: Any) -> str | None:
    try:
        doc = inspect.getdoc(obj)
    except Exception:
        return None
    return doc if isinstance(doc, str) else None


def callable_info(obj: Any, binding: str = "function", drop_first: bool = False, defined_in: str | None = None) -> CallableInfo:
    """What `inspect` can say about a callable; an unreadable signature gives params=None."""
    params: list[ParamInfo] | None = None
    returns = signature = None
    try:
        sig = inspect.signature(obj)
    except (ValueError, TypeError, RuntimeError, AttributeError, NameError):
        sig = None
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
                annotation=annotation_text(p.annotation),
            )
            for p in plist
        ]
        returns = annotation_text(sig.return_annotation)
        try:
            signature = str(sig.replace(return_annotation=inspect.Signature.empty))
        except Exception:
            signature = None
    target = inspect.unwrap(obj) if callable(obj) else obj
    fn = getattr(target, "__func__", target)
    return CallableInfo(
        params=params,
        returns=returns,
        doc=_doc(obj),
        signature=signature,
        binding=binding,
        is_generator=inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn),
        is_async=inspect.iscoroutinefunction(fn),
        defined_in=defined_in,
    )


def _root(name: str) -> str:
    return name.split(".")[0]


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _public(name: str, exclude: list[str]) -> bool:
    if name == "__call__":
        return True
    return not name.startswith("_") and not any(fnmatch.fnmatchcase(name, p) for p in exclude)


def class_info(cls: type, exclude: list[str] | None = None) -> ClassInfo:
    """Constructor, public methods and properties of a class.

    Methods come from every class of the MRO that belongs to the same package
    or to `builtins` (so `Counter` keeps `dict.get`), never from `object`, and
    never from third-party bases (pydantic's dozens of model_* methods would
    drown a DSPy signature).
    """
    exclude = exclude if exclude is not None else ["_*"]
    root = _root(cls.__module__)
    init = callable_info(cls)
    methods: dict[str, CallableInfo] = {}
    properties: dict[str, PropertyInfo] = {}
    for klass in inspect.getmro(cls):
        if klass is object or _root(klass.__module__) not in (root, "builtins"):
            continue
        owner = _class_path(klass)
        for name, raw in list(vars(klass).items()):
            if name in methods or name in properties or not _public(name, exclude):
                continue
            try:
                if isinstance(raw, property):
                    fget = raw.fget
                    ret = None
                    if fget is not None:
                        try:
                            ret = annotation_text(inspect.signature(fget).return_annotation)
                        except (ValueError, TypeError, NameError):
                            ret = None
                    properties[name] = PropertyInfo(ret, raw.fset is None, _doc(raw), owner)
                elif isinstance(raw, classmethod):
                    methods[name] = callable_info(getattr(cls, name), "classmethod", defined_in=owner)
                elif isinstance(raw, staticmethod):
                    methods[name] = callable_info(getattr(cls, name), "staticmethod", defined_in=owner)
                elif inspect.isfunction(raw) or inspect.ismethoddescriptor(raw) or inspect.isbuiltin(raw):
                    if isinstance(raw, types.ClassMethodDescriptorType):
                        methods[name] = callable_info(getattr(cls, name), "classmethod", defined_in=owner)
                    elif callable(raw):
                        methods[name] = callable_info(raw, "method", drop_first=True, defined_in=owner)
            except Exception:  # one odd member must not cost the class
                continue
        if dataclasses.is_dataclass(klass):
            frozen = getattr(getattr(klass, "__dataclass_params__", None), "frozen", False)
            for f in dataclasses.fields(klass):
                if _public(f.name, exclude) and f.name not in properties and f.name not in methods:
                    properties[f.name] = PropertyInfo(annotation_text(f.type), bool(frozen), None, owner)
    bases = [_class_path(b) for b in cls.__bases__ if b is not object]
    return ClassInfo(doc=_doc(cls), init=init, bases=bases, methods=methods, properties=properties)


def introspect_path(path: str, exclude: list[str] | None = None) -> MemberInfo:
    """Introspect the object at `path`; raises when it cannot be reached."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = resolve(path)
        return introspect_object(path, obj, exclude)


def introspect_object(path: str, obj: Any, exclude: list[str] | None = None) -> MemberInfo:
    if inspect.ismodule(obj):
        return MemberInfo(kind="module", path=path, doc=_doc(obj))
    if inspect.isclass(obj):
        return MemberInfo(kind="class", path=path, cls=class_info(obj, exclude), origin=_origin(obj))
    if callable(obj):
        return MemberInfo(kind="function", path=path, function=callable_info(obj), origin=_origin(obj))
    t = type(obj)
    return MemberInfo(kind="object", path=path, cls=class_info(t, exclude), type_path=_class_path(t), doc=_doc(t))


def discover(module_name: str, depth: int = 1, submodules: list[str] | None = None, exclude: list[str] | None = None) -> Introspection:
    """Walk a module (and its submodules down to `depth`) and introspect every public member.

    Members re-exported from the same top-level package are kept (DSPy's
    `dspy.Predict` lives in `dspy.predict.predict`); members of other packages
    (`typing.Any`, `pydantic.BaseModel`) are skipped.
    """
    exclude = exclude if exclude is not None else ["_*"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module(module_name)
        result = Introspection(
            python_module=module_name,
            version=installed_version(module),
            python=".".join(str(p) for p in sys.version_info[:3]),
        )
        result.members[module_name] = MemberInfo(kind="module", path=module_name, doc=_doc(module))
        seen_modules = {module_name}
        _walk(module, module_name, 0, depth, exclude, result, seen_modules)
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
            result.members[path] = MemberInfo(kind="module", path=path, doc=_doc(submodule))
            _walk(submodule, path, 1, depth + 1, exclude, result, seen_modules)
    return result


def _walk(module: Any, path: str, level: int, depth: int, exclude: list[str], result: Introspection, seen: set[str]) -> None:
    root = _root(result.python_module)
    exported = getattr(module, "__all__", None)
    names = sorted(set(exported)) if isinstance(exported, (list, tuple)) and all(isinstance(n, str) for n in exported) else sorted(dir(module))
    for name in names:
        member_path = f"{path}.{name}"
        if not _public(name, exclude) or name == "__call__" or any(fnmatch.fnmatchcase(member_path, p) for p in exclude):
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
                    result.members[member_path] = MemberInfo(kind="module", path=member_path, doc=_doc(obj))
                    _walk(obj, member_path, level + 1, depth, exclude, result, seen)
                continue
            owner = getattr(obj, "__module__", None)
            if inspect.isclass(obj):
                if not isinstance(owner, str) or _root(owner) != root:
                    result.skipped.append(Skipped(member_path, f"re-exported from {owner}"))
                    continue
                result.members[member_path] = MemberInfo(kind="class", path=member_path, cls=class_info(obj, exclude), origin=_origin(obj))
            elif callable(obj):
                if isinstance(owner, str) and _root(owner) not in (root, "builtins"):
                    result.skipped.append(Skipped(member_path, f"re-exported from {owner}"))
                    continue
                result.members[member_path] = MemberInfo(kind="function", path=member_path, function=callable_info(obj), origin=_origin(obj))
            else:
                t = type(obj)
                if _root(t.__module__) == root and _has_python_methods(t, exclude):
                    # An instance with methods of its own, like dspy.settings: a singleton.
                    result.members[member_path] = introspect_object(member_path, obj, exclude)
                else:
                    result.skipped.append(Skipped(member_path, f"a constant of type {_class_path(t)}"))
        except Exception as exc:  # whatever inspect trips on: skip the member, keep the module
            result.skipped.append(Skipped(member_path, f"introspection raised {type(exc).__name__}: {str(exc)[:100]}"))


def _origin(obj: Any) -> str | None:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    return f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else None


def _has_python_methods(t: type, exclude: list[str]) -> bool:
    return any(inspect.isfunction(v) and _public(k, exclude) and k != "__call__" for k, v in vars(t).items())
