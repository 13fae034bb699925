"""A Python signature, seen from Elixir: parameters, options, the call, and each position's type.

Required positional (and required keyword-only) parameters become Elixir
parameters; optional ones are keywords in `opts`, next to the runtime's own
options; `*args` is one list parameter; `**kwargs` lets any other keyword
through. The type of each position comes from the strongest source that
says something (`position_type`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from . import names
from .docstrings import doc_type_annotation
from .introspect import CallableInfo
from .model import CallArgs, CallKwargs, ElixirOption, ElixirParam, Param, ParamKind, Prelude, Typed
from .types import ANY_LIST, NIL as NIL_TYPE, REF, TERM, ListOf, Mapped, Named, Position, StreamOf, TypeContext, default_type, is_none_default, map_annotation, union

# Options every generated function hands to the runtime rather than to Python.
RUNTIME_OPTIONS = ("pool", "session", "timeout")
STREAM_OPTIONS = ("pool", "session", "timeout", "window")
# Variables the generated bodies use themselves; parameters get other names.
INTERNAL_VARIABLES = frozenset({"opts", "kwargs", "positional", "ref", "value", "error", "result"})

# The type of a handle parameter or result in a class module: its own t().
HANDLE = Named("t()", REF.guard)

_KINDS = {
    "POSITIONAL_ONLY": ParamKind.POSITIONAL_ONLY,
    "POSITIONAL_OR_KEYWORD": ParamKind.POSITIONAL,
    "KEYWORD_ONLY": ParamKind.KEYWORD_ONLY,
    "VAR_POSITIONAL": ParamKind.VAR_POSITIONAL,
    "VAR_KEYWORD": ParamKind.VAR_KEYWORD,
}
# What a callable whose signature cannot be read takes.
GENERIC_PARAMS = [Param("args", ParamKind.VAR_POSITIONAL), Param("kwargs", ParamKind.VAR_KEYWORD, required=False)]


@dataclass
class Plan:
    """How one Python signature is called from a generated function."""

    params: list[ElixirParam]
    options: list[ElixirOption]
    any_keyword: bool
    prelude: Prelude
    args: CallArgs
    kwargs: CallKwargs
    positional_options: list[str] = field(default_factory=list)  # optional Python parameters a Python caller may pass by position


def merge_params(spec_params: list[Param] | None, info: CallableInfo | None) -> list[Param] | None:
    """The spec's parameters when given (annotations filled from introspection), else introspection's."""
    live: dict[str, Param] = {}
    if info is not None and info.params is not None:
        for p in info.params:
            # *args is one required list parameter; **kwargs is never required.
            required = p.kind != "VAR_KEYWORD" and p.default is None
            live[p.name] = Param(p.name, _KINDS[p.kind], required, p.annotation, p.default, source="annotation", stub=p.stub)
    if spec_params is not None:
        merged = []
        for sp in spec_params:
            if sp.annotation is None and sp.name in live:
                sp = replace(sp, annotation=live[sp.name].annotation, source="annotation", stub=live[sp.name].stub)
            merged.append(sp)
        return merged
    if info is not None and info.params is not None:
        return list(live.values())
    return None


def signature_text(params: list[Param] | None) -> str:
    """The parameter list as Python would print it, for docs."""
    if params is None:
        return "(*args, **kwargs)"
    parts: list[str] = []
    kinds = [p.kind for p in params]
    for i, p in enumerate(params):
        if p.kind is ParamKind.KEYWORD_ONLY and ParamKind.VAR_POSITIONAL not in kinds and (i == 0 or params[i - 1].kind is not ParamKind.KEYWORD_ONLY):
            parts.append("*")
        text = {"var_positional": "*", "var_keyword": "**"}.get(p.kind.value, "") + p.name
        if p.annotation:
            text += f": {p.annotation}"
        if not p.required and p.kind not in (ParamKind.VAR_KEYWORD,):
            eq = " = " if p.annotation else "="
            text += f"{eq}{names.without_addresses(p.default)}" if p.default is not None else f"{eq}..."
        parts.append(text)
        if p.kind is ParamKind.POSITIONAL_ONLY and (i + 1 == len(params) or params[i + 1].kind is not ParamKind.POSITIONAL_ONLY):
            parts.append("/")
    return "(" + ", ".join(parts) + ")"


def position_type(
    annotation: str | None,
    source: str,
    stub: str | None,
    doc_type: str | None,
    default: str | None,
    pos: Position,
    ctx: TypeContext,
    streaming: bool = False,
    code: str | None = None,
) -> Typed:
    """The type of one position, from the strongest source that says something.

    Sources, strongest first: the spec, the annotation, a stub, the
    docstring, the code's return statements (results), the default
    value (arguments). An annotation meaning "anything"
    (`Any`, `object`) is final: weaker sources do not narrow what Python
    allows. A default of None adds `nil` to an argument's type.
    """
    python_typed = (bool(annotation) and source == "annotation") or bool(stub) or (default is not None and not is_none_default(default))
    lost: str | None = None
    candidates = [(annotation, source), (stub, "stub"), (doc_type_annotation(doc_type, ctx.doc_names), "docstring"), (code, "code")]
    for text, src in candidates:
        if not text:
            continue
        m: Mapped = map_annotation(text, ctx, pos, streaming)
        says_nothing = m.type.is_term or (isinstance(m.type, StreamOf) and m.type.elem.is_term)
        if not says_nothing or src == "spec" or (m.lost is None and src in ("annotation", "stub")):
            t = m.type
            if pos is Position.ARG and is_none_default(default):
                t = union(t, NIL_TYPE)
            elif pos is Position.ARG and src == "docstring" and default is not None and not t.is_term:
                # `n : int, default='auto'`: the default is a value the argument takes too.
                from_default = default_type(default, exact=True)
                t = union(t, from_default) if from_default is not None else t
            return Typed(t, src, python_typed, m.lost if t.is_term and src in ("annotation", "stub") else None)
        if src in ("annotation", "stub"):
            lost = lost or m.lost
    if not streaming and pos is Position.ARG:
        from_default = default_type(default)
        if from_default is not None:
            return Typed(from_default, "default", python_typed, None)
    if streaming:  # a generator: a stream, of items nothing describes
        return Typed(StreamOf(TERM), "wrapper", python_typed, lost)
    return Typed(TERM, "none", python_typed, lost)


def plan_call(params: list[Param], ctx: TypeContext, receiver: str | None, runtime_options: tuple[str, ...], docs: dict[str, Any]) -> Plan:
    """The Elixir parameters and options of a Python signature, and what the call hands to Python."""
    out = Plan([], [], False, Prelude(), CallArgs(), CallKwargs())
    kinds = {p.name: p.kind for p in params}
    taken = set(INTERNAL_VARIABLES)
    if receiver:
        out.params.append(ElixirParam(receiver, Typed(HANDLE, "wrapper"), "self"))
    posonly_optional: list[ElixirOption] = []

    def var_for(python_name: str) -> str:
        base = names.derive_variable_name(python_name)
        if base in taken:
            base = base.rstrip("_") + "_arg"
        var, n = base, 2
        while var in taken:
            var, n = f"{base}{n}", n + 1
        taken.add(var)
        return var

    for p in params:
        doc = docs.get(p.name)
        description = p.description or (doc.description if doc is not None and doc.description else None)
        doc_type = doc.type if doc is not None else None
        typed = position_type(p.annotation, p.source, p.stub, doc_type, p.default if not p.required else None, Position.ARG, ctx)
        if p.kind is ParamKind.VAR_KEYWORD:
            out.any_keyword = True
        elif p.kind is ParamKind.VAR_POSITIONAL:
            out.args.splat = var_for(p.name)
            element = typed.etype
            out.params.append(ElixirParam(out.args.splat, Typed(ANY_LIST if element.is_term else ListOf(element), typed.source, typed.python_typed, typed.lost), "*" + p.name, description))
        elif p.required:
            var = var_for(p.name)
            out.params.append(ElixirParam(var, typed, p.name, description))
            if p.kind is ParamKind.KEYWORD_ONLY:
                out.kwargs.required.append((p.name, var))
            else:
                out.args.vars.append(var)
        else:
            option = ElixirOption(names.atom_literal(p.name), p.name, typed, p.default, description)
            (posonly_optional if p.kind is ParamKind.POSITIONAL_ONLY else out.options).append(option)
    if out.args.splat and out.params[-1].var == out.args.splat:
        # Python's `*args` may be empty: the list may be left out (`create()` for `(*args, **kwargs)`).
        out.params[-1].default = "[]"
    out.prelude.positional_keys = [o.key for o in posonly_optional]
    out.args.optional = [o.key for o in posonly_optional]
    named = [o.python_name for o in out.options]
    if out.any_keyword:
        out.prelude.runtime_keys = [names.atom_literal(r) for r in runtime_options if r not in named]
        out.kwargs.from_opts = True
    elif out.options:
        out.prelude.option_keys = [o.key for o in out.options]
        out.kwargs.from_opts = True
    out.positional_options = [o.python_name for o in posonly_optional] + [o.python_name for o in out.options if kinds[o.python_name] is ParamKind.POSITIONAL]
    out.options = posonly_optional + out.options
    return out
