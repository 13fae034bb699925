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
import inspect
import textwrap
from typing import Any

_CALLS = {
    "str": "str", "repr": "str", "format": "str",
    "len": "int", "int": "int", "hash": "int", "id": "int", "round": "int",
    "float": "float", "bool": "bool", "isinstance": "bool", "issubclass": "bool", "callable": "bool", "hasattr": "bool", "all": "bool", "any": "bool",
    "dict": "dict", "list": "list", "sorted": "list", "tuple": "tuple",
}


def inferred_returns(fn: Any, owner: type | None = None, name: str | None = None) -> str | None:
    """An annotation (text) for what `fn` returns, read from its code; None when unsure."""
    try:
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
    returns = _Returns()
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


class _Returns(ast.NodeVisitor):
    """The types of every `return` of one function (nested functions and classes are not its own)."""

    def __init__(self) -> None:
        self.types: list[str] = []
        self.unknown = False

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
        t = _expr_type(node.value)
        if t is None:
            self.unknown = True
        elif t not in self.types:
            self.types.append(t)


def _expr_type(v: ast.expr | None) -> str | None:
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
        items = [_expr_type(e) for e in v.elts]
        return f"tuple[{', '.join(i or 'Any' for i in items)}]" if v.elts and not any(isinstance(e, ast.Starred) for e in v.elts) else "tuple"
    if isinstance(v, ast.Compare) or (isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.Not)):
        return "bool"
    if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id in _CALLS:
        return _CALLS[v.func.id]
    if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr == "format" and isinstance(v.func.value, ast.Constant) and isinstance(v.func.value.value, str):
        return "str"
    if isinstance(v, ast.IfExp):
        a, b = _expr_type(v.body), _expr_type(v.orelse)
        if a is None or b is None:
            return None
        return a if a == b else f"Union[{a}, {b}]"
    return None
