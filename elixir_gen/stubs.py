"""Annotations from `.pyi` stubs shipped with a package.

A C extension (or code written before annotations) says nothing to
`inspect`; its stub does. `StubIndex.find(obj)` returns the parameter and
return annotations the stub gives for a function or method, as text with
every name qualified through the stub's imports (`np.ndarray` ->
`numpy.ndarray`), overloads joined into unions. Stubs are looked up next to
the module (`mod.pyi` beside `mod.py` or an extension module), in a
`<package>-stubs` distribution, and for the standard library in typeshed
(as the `typeshed_client` package ships it); a name re-exported by a stub
(`from ._impl import f as f`) is followed one level.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StubEntry:
    """What a stub says about one callable."""

    params: dict[str, str] = field(default_factory=dict)
    returns: str | None = None


@dataclass
class _Stub:
    module: str
    functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]]  # qualname -> defs (overloads)
    reexports: dict[str, tuple[str, str]]  # local name -> (module, name)
    names: dict[str, str]  # local name -> qualified name, for annotations
    aliases: dict[str, ast.expr] = field(default_factory=dict)  # a stub-only alias or TypeVar -> what it stands for


class StubIndex:
    """Parsed stubs, by module name (parsed once, on first use)."""

    def __init__(self) -> None:
        self._stubs: dict[str, _Stub | None] = {}

    def find(self, obj: Any, owner: type | None = None) -> StubEntry | None:
        """The stub's annotations for `obj` (a method of `owner` when given), or None."""
        try:
            for module, qualname in _places(obj, owner):
                if isinstance(module, str) and isinstance(qualname, str):
                    entry = self._lookup(module, qualname, 2)
                    if entry is not None:
                        return entry
            return None
        except Exception:  # a stub that cannot be read must not stop introspection
            return None

    def _lookup(self, module: str, qualname: str, hops: int) -> StubEntry | None:
        stub = self._stub(module)
        if stub is None:
            return None
        defs = stub.functions.get(qualname)
        if defs:
            return _entry(defs, stub)
        head = qualname.split(".", 1)
        if hops > 0 and head[0] in stub.reexports:
            target_module, target_name = stub.reexports[head[0]]
            rest = target_name + ("." + head[1] if len(head) > 1 else "")
            return self._lookup(target_module, rest, hops - 1)
        return None

    def _stub(self, module: str) -> _Stub | None:
        if module not in self._stubs:
            path = _stub_path(module)
            self._stubs[module] = _parse(module, path) if path else None
        return self._stubs[module]


def _places(obj: Any, owner: type | None) -> list[tuple[Any, Any]]:
    """Where a stub may describe `obj`: as a method of `owner`, of the class of `owner`'s MRO that
    defines it (an inherited method is in its defining class's stub), then under its own name."""
    places: list[tuple[Any, Any]] = []
    if isinstance(obj, type):
        # A class's stub describes its constructor as __init__ (or __new__), in the class that defines it.
        for klass in obj.__mro__:
            if klass is object:
                break
            defined = [m for m in ("__init__", "__new__") if m in vars(klass)]
            places += [(klass.__module__, f"{klass.__qualname__}.{m}") for m in defined]
            if defined:
                break  # the constructor is this class's: a base's stub would describe another signature
        return places
    name = getattr(obj, "__name__", "")
    if owner is not None:
        places.append((owner.__module__, f"{owner.__qualname__}.{name}"))
        definer = next((k for k in getattr(owner, "__mro__", ())[1:] if name in vars(k)), None)
        if definer is not None and definer is not object:
            places.append((definer.__module__, f"{definer.__qualname__}.{name}"))
    places.append((getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)))
    return places


def _stub_path(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except Exception:
        spec = None
    candidates: list[Path] = []
    if spec is not None and spec.origin and spec.origin not in ("built-in", "frozen"):
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            candidates.append(origin.with_name("__init__.pyi"))
        elif origin.suffix == ".py":
            candidates.append(origin.with_suffix(".pyi"))
        else:  # an extension module: name.cpython-311-x86_64-linux-gnu.so
            candidates.append(origin.with_name(origin.name.split(".")[0] + ".pyi"))
    parts = module.split(".")
    for entry in sys.path:
        base = Path(entry or ".") / f"{parts[0]}-stubs"
        if base.is_dir():
            candidates += [base.joinpath(*parts[1:], "__init__.pyi"), base.joinpath(*parts[1:]).with_suffix(".pyi") if len(parts) > 1 else base / "__init__.pyi"]
    if parts[0] in sys.stdlib_module_names:
        # The standard library's stubs are typeshed's, as typeshed_client ships them.
        typeshed = _typeshed_stub(module)
        if typeshed is not None:
            candidates.append(typeshed)
    return next((c for c in candidates if c.is_file()), None)


def _typeshed_stub(module: str) -> Path | None:
    try:
        import typeshed_client
    except ImportError:  # an optional source of types: without it, the standard library has none
        return None
    try:
        found = typeshed_client.get_stub_file(module)
    except Exception:
        return None
    return Path(found) if found is not None else None


def _parse(module: str, path: Path) -> _Stub | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    package = module if path.name == "__init__.pyi" else module.rpartition(".")[0]
    stub = _Stub(module, {}, {}, {})
    body = _this_python(tree.body)
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                stub.names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node.module or "", node.level, package)
            for alias in node.names:
                local = alias.asname or alias.name
                stub.names[local] = f"{source}.{alias.name}"
                stub.reexports[local] = (source, alias.name)
        elif isinstance(node, ast.ClassDef):
            stub.names[node.name] = f"{module}.{node.name}"
            _collect(node.body, node.name + ".", stub)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    stub.names[t.id] = f"{module}.{t.id}"
                    alias_expr = _alias(node)
                    if alias_expr is not None and t.id.startswith("_"):
                        # A stub-only alias or type variable (`_Number: TypeAlias = float | Decimal`):
                        # nothing at run time has its name, so it is spelt out.
                        stub.aliases[t.id] = alias_expr
    _collect(body, "", stub)
    return stub


def _this_python(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of a stub body for the running Python: `if sys.version_info >= (3, 12):` and
    `if sys.platform == ...` blocks decided; a condition it cannot decide keeps both branches (wide)."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            decided = _condition(node.test)
            if decided is None:
                out += _this_python(node.body) + _this_python(node.orelse)
            else:
                out += _this_python(node.body if decided else node.orelse)
        else:
            out.append(node)
    return out


def _condition(test: ast.expr) -> bool | None:
    try:
        if not all(n.id == "sys" for n in ast.walk(test) if isinstance(n, ast.Name)):
            return None
        if not any(isinstance(n, ast.Attribute) and n.attr in ("version_info", "platform") for n in ast.walk(test)):
            return None
        value = eval(compile(ast.Expression(test), "<stub>", "eval"), {"__builtins__": {}}, {"sys": sys})  # noqa: S307 - only sys.version_info/platform comparisons
        return bool(value)
    except Exception:
        return None


def _alias(node: ast.Assign | ast.AnnAssign) -> ast.expr | None:
    """The type a stub alias or TypeVar stands for: `X: TypeAlias = A | B`, `X = TypeVar("X", A, B)` (A | B),
    `X = TypeVar("X", bound=B)` (B); None for anything else."""
    value = node.value
    if value is None:
        return None
    if isinstance(node, ast.AnnAssign):
        return value if isinstance(node.annotation, (ast.Name, ast.Attribute)) and ast.unparse(node.annotation).endswith("TypeAlias") else None
    if isinstance(value, ast.Call) and ast.unparse(value.func).endswith("TypeVar"):
        constraints = value.args[1:]
        bound = next((k.value for k in value.keywords if k.arg == "bound"), None)
        if constraints:
            union: ast.expr = constraints[0]
            for c in constraints[1:]:
                union = ast.BinOp(union, ast.BitOr(), c)
            return union
        return bound if bound is not None else ast.Name("Any", ast.Load())
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr):
        return value
    if isinstance(value, ast.Subscript) and ast.unparse(value.value).split(".")[-1] in ("Union", "Optional"):
        return value
    return None


def _collect(body: list[ast.stmt], prefix: str, stub: _Stub) -> None:
    for node in _this_python(body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stub.functions.setdefault(prefix + node.name, []).append(node)


def _absolute(module: str, level: int, package: str) -> str:
    if level == 0:
        return module
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join(base + ([module] if module else []))


class _Qualify(ast.NodeTransformer):
    """Names in an annotation, qualified through the stub's imports and definitions."""

    def __init__(self, names: dict[str, str], aliases: dict[str, ast.expr] | None = None) -> None:
        self.names = names
        self.aliases = aliases or {}
        self.expanding: set[str] = set()

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.aliases and node.id not in self.expanding:
            self.expanding.add(node.id)
            try:
                expanded: ast.AST = self.visit(copy.deepcopy(self.aliases[node.id]))
            finally:
                self.expanding.discard(node.id)
            return expanded
        qualified = self.names.get(node.id)
        return ast.copy_location(ast.Name(id=qualified, ctx=node.ctx), node) if qualified else node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        dotted = _dotted(node)
        if dotted is not None:
            head, _, rest = dotted.partition(".")
            if head in self.names:
                return ast.copy_location(ast.Name(id=f"{self.names[head]}.{rest}", ctx=node.ctx), node)
            return ast.copy_location(ast.Name(id=dotted, ctx=node.ctx), node)
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        # A quoted forward reference: qualify its names too.
        if isinstance(node.value, str):
            try:
                inner = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return node
            result: ast.AST = self.visit(inner)
            return result
        return node


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _text(node: ast.expr | None, stub: _Stub) -> str | None:
    if node is None:
        return None
    qualified = _Qualify(stub.names, stub.aliases).visit(copy.deepcopy(node))
    return ast.unparse(qualified)


def _entry(defs: list[ast.FunctionDef | ast.AsyncFunctionDef], stub: _Stub) -> StubEntry:
    """One entry for a function and its overloads: per parameter and for the result, the union of what they say."""
    params: dict[str, list[str]] = {}
    returns: list[str] = []
    for d in defs:
        a = d.args
        for arg in a.posonlyargs + a.args + a.kwonlyargs + [x for x in (a.vararg, a.kwarg) if x]:
            text = _text(arg.annotation, stub)
            if text and text not in params.setdefault(arg.arg, []):
                params[arg.arg].append(text)
        r = _text(d.returns, stub)
        if r and r not in returns:
            returns.append(r)
    joined = {k: v[0] if len(v) == 1 else f"Union[{', '.join(v)}]" for k, v in params.items() if v}
    ret = None if not returns else returns[0] if len(returns) == 1 else f"Union[{', '.join(returns)}]"
    return StubEntry(joined, ret)
