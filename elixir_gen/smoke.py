"""The generated ExUnit smoke tests: one per spec example, and a read (and write-back) of every getter.

Each test calls the real library through the generated function and checks
the value against the function's declared type.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from . import names
from .model import ClassSpec, ElixirCode, ElixirFunction, ElixirModule, ElixirTest, Example, Mode, ExampleArgs
from .types import ListOf, StreamOf

# Reports a problem of the spec at a line.
ErrorAt = Callable[[int, str], None]


def example_tests(
    spec_file: str,
    module: ElixirModule,
    fn: ElixirFunction,
    examples: list[Example],
    error: ErrorAt,
    ctor: ElixirFunction | None = None,
    class_examples: list[Example] | None = None,
    session: bool = False,
) -> list[ElixirTest]:
    """One smoke test per example; `session`: the class's objects live in a session, so the test opens one."""
    out: list[ElixirTest] = []
    user_params = [p for p in fn.params if not p.is_receiver]
    for n, ex in enumerate(examples, 1):
        if fn.kind == "create":
            # A class's own examples describe the constructor call.
            ex = replace(ex, args=ex.constructor_args or ex.args, kwargs=ex.constructor_kwargs or ex.kwargs, constructor_args=[], constructor_kwargs={})
        fewest = len([p for p in user_params if p.default is None])
        if not fewest <= len(ex.args) <= len(user_params):
            expected = ", ".join(p.var for p in user_params) or "none"
            count = str(len(user_params)) if fewest == len(user_params) else f"{fewest} to {len(user_params)}"
            error(ex.line, f"examples: found {len(ex.args)} args, expected {count} ({expected}); optional Python arguments go in kwargs")
            continue
        unknown = [k for k in ex.kwargs if not fn.accepts_any_keyword and k not in {o.python_name for o in fn.options}]
        if unknown:
            error(ex.line, f"examples: found unknown keyword {unknown[0]!r} for {fn.name}, expected one of: {', '.join(o.python_name for o in fn.options) or 'none'}")
            continue
        create: ExampleArgs | None = None
        if fn.params and fn.params[0].is_receiver:
            if ctor is None:
                continue
            ctor_args, ctor_kwargs = ex.constructor_args, ex.constructor_kwargs
            if not ctor_args and not ctor_kwargs and class_examples:
                # No constructor call given: the class's first example makes the object.
                ctor_args, ctor_kwargs = class_examples[0].constructor_args or class_examples[0].args, class_examples[0].constructor_kwargs or class_examples[0].kwargs
            create = literal_args(ctor_args, ctor_kwargs, session)
            args = literal_args(ex.args, ex.kwargs, False, receiver=True)
        else:
            args = literal_args(ex.args, ex.kwargs, session and fn.kind == "create")
        name = f"{fn.name}/{fn.arities[-1]} {ex.description or f'example {n}'} ({Path(spec_file).name}:{ex.line})"
        returns = elixir_literal(ex.returns) if ex.has_returns else None
        out.append(ElixirTest(name, module.name, fn.name, args, returns, fn.mode, result_check(fn), session, create_args=create))
    return out


def attribute_tests(spec_file: str, module: ElixirModule, c: ClassSpec) -> list[ElixirTest]:
    """Every getter of an object the spec can make (a singleton, or a class with an example) is read,
    its value checked against the declared type, and written back through the setter."""
    if not c.singleton and not (c.examples and c.creatable):
        return []
    session = bool(c.constructor and c.constructor.session_aware)
    create: ExampleArgs | None = None
    if not c.singleton:
        ex = c.examples[0]
        create = literal_args(ex.constructor_args or ex.args, ex.constructor_kwargs or ex.kwargs, session)
    out: list[ElixirTest] = []
    setters = {f.python_target: f for f in module.functions if f.kind == "setter"}
    for getter in [f for f in module.functions if f.kind == "getter"]:
        setter = setters.get(getter.python_target)
        label = f"{getter.name}/{getter.arities[-1]} reads a value of its type"
        if setter is not None:
            label += f", {setter.name}/{setter.arities[-1]} writes it back"
        name = f"{label} ({Path(spec_file).name}:{c.line})"
        args = ExampleArgs(receiver=not c.singleton)
        out.append(ElixirTest(name, module.name, getter.name, args, None, Mode.SYNC, result_check(getter), session, create_args=create, write_back=setter.name if setter else None))
    return out


def result_check(fn: ElixirFunction) -> str | None:
    """The check of a test's `value` against the declared result (a stream's items, collected into a list)."""
    checked = ListOf(fn.value.etype.elem) if isinstance(fn.value.etype, StreamOf) else fn.value.etype
    return checked.check("value")


def literal_args(args: list[Any], kwargs: dict[str, Any], session: bool, receiver: bool = False) -> ExampleArgs:
    """The arguments of a call in a test, as Elixir literals (`session: session` in a session)."""
    return ExampleArgs([elixir_literal(a) for a in args], [(k, elixir_literal(v)) for k, v in kwargs.items()], receiver, session)


def elixir_literal(value: Any) -> str:
    """The Elixir term a YAML value stands for, as PyBridge converts Python results."""
    if isinstance(value, ElixirCode):
        return value.code
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ":nan"
        if value in (float("inf"), float("-inf")):
            return ":infinity" if value > 0 else ":neg_infinity"
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            text = text.replace("e", ".0e")
        return text
    if isinstance(value, str):
        return names.string_literal(value)
    if isinstance(value, tuple):
        return "{" + ", ".join(elixir_literal(v) for v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(elixir_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "%{" + ", ".join(f"{elixir_literal(k)} => {elixir_literal(v)}" for k, v in value.items()) + "}"
    return names.string_literal(str(value))
