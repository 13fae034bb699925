"""Result types read from a function's code, when nothing else gives one.

The weakest source of types, used only when the annotation, a stub and the
docstring say nothing about a result. It reads the function's `return`
statements with `ast` and answers only when every one of them is plainly
typed: a literal, an f-string, a comparison, `self`, a dict/list/tuple
display, a call of `str`/`len`/`bool`/…. A function that never returns a
value returns `None`. Falling off the end of the body adds `None`.

It refuses (returns None) whenever the code may say something else at run
time: a generator, a body that only raises or passes (an abstract method, or
one meant to be overridden), a method a subclass of the same package
overrides, or a return it cannot read.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
from typing import Any

_CALLS = {
    "str": "str", "repr": "str", "format": "str",
    "len": "int", "int": "int", "hash": "int", "id": "int", "round": "int",
    "float": "float", "bool": "bool", "isinstance": "bool", "issubclass": "bool", "callable": "bool", "hasattr": "bool", "all": "bool", "any": "bool",
    "dict": "dict", "list": "list", "sorted": "list", "tuple": "tuple",
}


def inferred_returns(fn: Any, owner: type | None = None, name: str | None = None, depth: int = 0) -> str | None:
    """An annotation (text) for what `fn` returns, read from its code; None when unsure.

    A callable object is read through its class's `__call__`. `depth` counts
    the calls followed into other functions (at most `_MAX_DEPTH`).
    """
    try:
        if not inspect.isroutine(fn) and not inspect.isclass(fn) and callable(fn) and inspect.isfunction(getattr(type(fn), "__call__", None)):
            owner, name, fn = type(fn), "__call__", type(fn).__call__
        target = inspect.unwrap(fn)
        target = getattr(target, "__func__", target)
        if not inspect.isfunction(target) or inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
            return None
        if getattr(target, "__isabstractmethod__", False):
            return None
        if owner is not None and name is not None and _overridden(owner, name, target):
            return None
        tree = ast.parse(textwrap.dedent(inspect.getsource(target)))
    except Exception:  # no source (C code, a lambda in a REPL), or code ast cannot read
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    if _only_placeholder(node.body):
        return None
    returns = _Returns(_Scope(target, owner, node, depth))
    for stmt in node.body:
        returns.visit(stmt)
    if returns.unknown:
        return None
    types = list(returns.types)
    if _falls_through(node.body) and "None" not in types:
        types.append("None")
    if not types:
        return "None"
    return types[0] if len(types) == 1 else f"Union[{', '.join(types)}]"


def _overridden(owner: type, name: str, target: Any) -> bool:
    """A subclass of the same package defines its own `name`: the base's code says nothing about it."""
    root = owner.__module__.split(".")[0]
    seen: set[type] = set()
    stack: list[type] = list(owner.__subclasses__())
    while stack:
        sub = stack.pop()
        if sub in seen:
            continue
        seen.add(sub)
        if sub.__module__.split(".")[0] == root and name in vars(sub):
            own = vars(sub)[name]
            if getattr(own, "__func__", own) is not target:
                return True
        try:
            stack.extend(sub.__subclasses__())
        except TypeError:
            continue
    return False


def _only_placeholder(body: list[ast.stmt]) -> bool:
    """`pass`, `...`, a docstring, `raise NotImplementedError`: a body meant to be replaced."""
    for stmt in body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and (stmt.value.value is Ellipsis or isinstance(stmt.value.value, str)):
            continue
        if isinstance(stmt, ast.Raise):
            continue
        return False
    return True


def _falls_through(body: list[ast.stmt]) -> bool:
    """Whether control may reach the end of the body (a conservative yes unless it ends in return or raise)."""
    if not body:
        return True
    last = body[-1]
    if isinstance(last, (ast.Return, ast.Raise)):
        return False
    if isinstance(last, ast.If):
        return _falls_through(last.body) or _falls_through(last.orelse)
    if isinstance(last, ast.Try):
        return (_falls_through(last.body) and _falls_through(last.orelse)) or any(_falls_through(h.body) for h in last.handlers)
    if isinstance(last, (ast.With, ast.AsyncWith)):
        return _falls_through(last.body)
    if isinstance(last, ast.While) and isinstance(last.test, ast.Constant) and last.test.value is True:
        return False
    return True


_MAX_DEPTH = 2


class _Scope:
    """What a return expression may refer to: the function's globals, its class, its own local names."""

    def __init__(self, fn: Any, owner: type | None, node: ast.FunctionDef | ast.AsyncFunctionDef, depth: int) -> None:
        self.fn, self.owner, self.node, self.depth = fn, owner, node, depth
        self.globals: dict[str, Any] = getattr(fn, "__globals__", {}) or {}
        self.root = (getattr(fn, "__module__", None) or "").split(".")[0]
        args = node.args
        self.params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, *(x for x in (args.vararg, args.kwarg) if x)]}
        self._locals: dict[str, list[ast.expr] | None] | None = None
        self._busy: set[str] = set()

    def local_type(self, name: str) -> str | None:
        """The type of a local variable when every binding of it is an assignment of a typed value."""
        if name in self.params:
            return None
        if self._locals is None:
            self._locals = _bindings(self.node)
        values = self._locals.get(name)
        if name in self._busy:
            return None
        if values is None:
            return None
        self._busy.add(name)  # `rv = rv + [x]`: the type of rv does not depend on itself
        try:
            types = [_expr_type(v, self) for v in values]
        finally:
            self._busy.discard(name)
        known = [t for t in types if t is not None]
        if len(known) != len(types):
            return None
        unique = list(dict.fromkeys(known))
        return unique[0] if len(unique) == 1 else f"Union[{', '.join(unique)}]"

    def called(self, func: ast.expr) -> str | None:
        """What a call of `func` returns: a class of the package (its instance), or a function's annotation or code."""
        obj: Any = None
        if isinstance(func, ast.Name):
            if func.id in self.params or (self._locals or _bindings(self.node)).get(func.id, 0) != 0:
                return None  # a local name shadows the global
            obj = self.globals.get(func.id, getattr(builtins, func.id, None) if func.id in _CLASS_CALLS else None)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self" and self.owner is not None:
            obj = inspect.getattr_static(self.owner, func.attr, None)
            if isinstance(obj, (staticmethod, classmethod)):
                obj = obj.__func__
            if not inspect.isfunction(obj):
                return None
            return inferred_returns(obj, self.owner, func.attr, self.depth + 1) if self.depth < _MAX_DEPTH else None
        if obj is None:
            return None
        if isinstance(obj, type):
            return _instance_type(obj)
        if inspect.isfunction(obj) and (getattr(obj, "__module__", "") or "").split(".")[0] == self.root:
            annotation = obj.__annotations__.get("return")
            if isinstance(annotation, type):
                return annotation.__name__ if annotation.__module__ == "builtins" else f"{annotation.__module__}.{annotation.__qualname__}"
            if annotation is None and self.depth < _MAX_DEPTH:
                return inferred_returns(obj, None, None, self.depth + 1)
        return None


# Built-in classes whose call is read by _CALLS already, or that build plain data.
_CLASS_CALLS = frozenset({"set", "frozenset", "bytes", "bytearray", "complex"})


def _instance_type(cls: type) -> str | None:
    """The annotation for an instance of `cls` built by calling it: its dotted path, when the call surely
    builds one (no `__new__` of its own that could return something else)."""
    if cls.__module__ == "builtins":
        return cls.__name__ if cls.__name__ in _CLASS_CALLS or cls.__name__ in _CALLS.values() else None
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return f"{cls.__module__}.{cls.__qualname__}"  # a named tuple's generated __new__ builds one
    if type(cls).__call__ is not type.__call__:
        return None  # a metaclass builds the instances (an Enum's lookup, DSPy's modules): it may return anything
    if any("__new__" in vars(k) for k in cls.__mro__ if k is not object and k.__module__ not in ("builtins", "typing")):
        return None  # sympy's Eq(x, x) is S.true: a __new__ may return anything
    if inspect.isabstract(cls):
        return None
    return f"{cls.__module__}.{cls.__qualname__}"


def _bindings(node: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, list[ast.expr] | None]:
    """Each local name -> the values assigned to it; None when some binding is not a plain assignment
    (a loop variable, an unpacking, `with ... as`, an import, an augmented assignment)."""
    out: dict[str, list[ast.expr] | None] = {}

    def bind(name: str, value: ast.expr | None) -> None:
        if value is None:
            out[name] = None
        elif out.get(name, []) is not None:
            out.setdefault(name, []).append(value)  # type: ignore[union-attr]

    class Visitor(ast.NodeVisitor):
        def visit_FunctionDef(self, n: ast.FunctionDef) -> None:
            out[n.name] = None

        def visit_AsyncFunctionDef(self, n: ast.AsyncFunctionDef) -> None:
            out[n.name] = None

        def visit_ClassDef(self, n: ast.ClassDef) -> None:
            out[n.name] = None

        def visit_Lambda(self, n: ast.Lambda) -> None:
            return None

        def visit_Assign(self, n: ast.Assign) -> None:
            for t in n.targets:
                if isinstance(t, ast.Name):
                    bind(t.id, n.value)
                else:
                    for sub in ast.walk(t):  # `a, b = ...` binds a and b; `d[k] = v` binds nothing
                        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                            bind(sub.id, None)
            self.generic_visit(n)

        def visit_AnnAssign(self, n: ast.AnnAssign) -> None:
            if isinstance(n.target, ast.Name):
                bind(n.target.id, n.value) if n.value is not None else None
            self.generic_visit(n)

        def visit_Name(self, n: ast.Name) -> None:
            if isinstance(n.ctx, (ast.Store, ast.Del)) and n.id not in out:
                out[n.id] = None  # a binding other than `name = value` (the visitors above handle those)

        def visit_AugAssign(self, n: ast.AugAssign) -> None:
            if isinstance(n.target, ast.Name):
                bind(n.target.id, None)
            self.generic_visit(n)

        def visit_Global(self, n: ast.Global) -> None:
            for name in n.names:
                out[name] = None

        def visit_Nonlocal(self, n: ast.Nonlocal) -> None:
            for name in n.names:
                out[name] = None

        def _other(self, n: ast.AST) -> None:
            for sub in ast.walk(n):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    out[sub.id] = None

        def visit_For(self, n: ast.For) -> None:
            self._other(n.target)
            self.generic_visit(n)

        def visit_AsyncFor(self, n: ast.AsyncFor) -> None:
            self._other(n.target)
            self.generic_visit(n)

        def visit_withitem(self, n: ast.withitem) -> None:
            if n.optional_vars is not None:
                self._other(n.optional_vars)
            self.generic_visit(n)

        def visit_ExceptHandler(self, n: ast.ExceptHandler) -> None:
            if n.name:
                out[n.name] = None
            self.generic_visit(n)

        def visit_NamedExpr(self, n: ast.NamedExpr) -> None:
            out[n.target.id] = None
            self.generic_visit(n)

        def visit_Import(self, n: ast.Import) -> None:
            for a in n.names:
                out[(a.asname or a.name).split(".")[0]] = None

        def visit_ImportFrom(self, n: ast.ImportFrom) -> None:
            for a in n.names:
                out[a.asname or a.name] = None

    v = Visitor()
    for stmt in node.body:
        v.visit(stmt)
    # Names bound inside comprehensions are the comprehension's own; a Store seen there was recorded
    # as None above, which only makes the answer more careful.
    return out


class _Returns(ast.NodeVisitor):
    """The types of every `return` of one function (nested functions and classes are not its own)."""

    def __init__(self, scope: "_Scope | None" = None) -> None:
        self.types: list[str] = []
        self.unknown = False
        self.scope = scope

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        return None

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        return None

    def visit_Lambda(self, node: ast.Lambda) -> None:
        return None

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        return None

    def visit_Yield(self, node: ast.Yield) -> None:
        self.unknown = True

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self.unknown = True

    def visit_Return(self, node: ast.Return) -> None:
        if self.scope is not None and _self_call(node.value, self.scope):
            return  # `return f(x - 1)` inside f: whatever the other returns say
        t = _expr_type(node.value, self.scope)
        if t is None:
            self.unknown = True
        elif t not in self.types:
            self.types.append(t)


def _self_call(v: ast.expr | None, scope: _Scope) -> bool:
    return isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == scope.node.name and scope.globals.get(v.func.id) is scope.fn


def _expr_type(v: ast.expr | None, scope: "_Scope | None" = None) -> str | None:
    if v is None:
        return "None"
    if isinstance(v, ast.Constant):
        if v.value is None:
            return "None"
        if isinstance(v.value, bool):
            return "bool"
        if isinstance(v.value, (str, int, float, bytes)):
            return type(v.value).__name__
        return None
    if isinstance(v, ast.JoinedStr):
        return "str"
    if isinstance(v, ast.Name) and v.id == "self":
        return "Self"
    if isinstance(v, (ast.Dict, ast.DictComp)):
        return "dict"
    if isinstance(v, (ast.List, ast.ListComp)):
        return "list"
    if isinstance(v, ast.Tuple):
        items = [_expr_type(e, scope) for e in v.elts]
        return f"tuple[{', '.join(i or 'Any' for i in items)}]" if v.elts and not any(isinstance(e, ast.Starred) for e in v.elts) else "tuple"
    if isinstance(v, ast.Compare) or (isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.Not)):
        return "bool"
    if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id in _CALLS and (scope is None or v.func.id not in scope.globals):
        return _CALLS[v.func.id]
    if isinstance(v, ast.Name) and scope is not None:
        return scope.local_type(v.id)
    if isinstance(v, ast.BinOp) and isinstance(v.op, ast.Add):
        # `[f] + rest`, `"a" + b`: a list or str display decides what `+` builds.
        for side in (v.left, v.right):
            if isinstance(side, (ast.List, ast.ListComp)):
                return "list"
            if isinstance(side, ast.JoinedStr) or (isinstance(side, ast.Constant) and isinstance(side.value, str)):
                return "str"
        return None
    if isinstance(v, ast.Call) and scope is not None:
        return scope.called(v.func)
    if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr == "format" and isinstance(v.func.value, ast.Constant) and isinstance(v.func.value.value, str):
        return "str"
    if isinstance(v, ast.IfExp):
        a, b = _expr_type(v.body, scope), _expr_type(v.orelse, scope)
        if a is None or b is None:
            return None
        return a if a == b else f"Union[{a}, {b}]"
    return None
