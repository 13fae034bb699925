"""The Markdown of generated `@doc`s and `@moduledoc`s, assembled from the model.

A function's doc is its description, then sections in a fixed order:
Arguments, Options, Returns, Errors, the cache note, the Python signature,
and where an inherited function comes from.
"""

from __future__ import annotations

import ast

from . import names
from .docstrings import ParsedDoc, item_line, returns_text
from .model import ElixirFunction, Mode
from .smoke import elixir_literal


def doc_markdown(parsed: ParsedDoc) -> str:
    """A docstring's text and items as Markdown, for a `@moduledoc` or an attribute's doc."""
    parts = [parsed.body] if parsed.body else []
    if parsed.params:
        parts.append("## Arguments\n\n" + "\n".join(item_line(f"`{p.name}`", p.type, None, p.description) for p in parsed.params.values()))
    if parsed.returns and (parsed.returns.type or parsed.returns.description):
        parts.append("## Returns\n\n" + returns_text(parsed.returns.type, parsed.returns.description))
    if parsed.raises:
        parts.append("## Raises\n\n" + "\n".join(item_line(f"`{r.name}`", None, None, r.description) for r in parsed.raises))
    return "\n\n".join(parts)


def complete_doc(fn: ElixirFunction) -> str:
    """The full `@doc`: description, arguments, options, result, errors, and the Python signature."""
    parts = [fn.doc.strip()] if fn.doc.strip() else []
    if fn.kind in ("getter", "setter"):
        parts.append(f"## Python\n\n```python\n{fn.python_signature}\n```")
        if fn.inherited_from:
            parts.append(inherited(fn.inherited_from))
        return "\n\n".join(parts)
    arguments = [item_line(f"`{p.var}`", p.type, None, p.description or "") for p in fn.params if not p.is_receiver]
    if any(p.description for p in fn.params):
        parts.append("## Arguments\n\n" + "\n".join(arguments))
    lines = [item_line(f"`{o.key}`", o.type, elixir_default(o.default), o.description or "") for o in fn.options]
    if fn.accepts_any_keyword:
        lines.append("* any other keyword is passed to Python as a keyword argument" + (f" - {indent(fn.any_keyword_doc)}" if fn.any_keyword_doc else ""))
        lines.extend(item_line(f"`{names.atom_literal(k.lstrip('*'))}`", None, None, d) for k, d in fn.extra_docs if not k.startswith("*"))
    if fn.mode is Mode.STREAM:
        lines.append("* `:pool`, `:session`, `:timeout`, `:window` - runtime options, see `PyBridge.stream/4`")
    else:
        lines.append("* `:pool`, `:session`, `:timeout` - runtime options, see `PyBridge.call/4`")
    parts.append("## Options\n\n" + "\n".join(lines))
    if fn.mode is Mode.STREAM:
        parts.append("## Returns\n\nA lazy `Stream` of the items the Python iterator yields; halting it closes the iterator." + (f" {fn.returns_doc}" if fn.returns_doc else ""))
    elif fn.mode is Mode.ASYNC:
        parts.append(f"## Returns\n\nA `Task`; `Task.await/2` gives `{{:ok, {fn.value_type}}}` or `{{:error, %PyBridge.Error{{}}}}`." + (f" {fn.returns_doc}" if fn.returns_doc else ""))
    elif fn.returns_doc:
        parts.append(f"## Returns\n\n`{{:ok, {fn.value_type}}}`: {fn.returns_doc}")
    if fn.raises_doc:
        raised = "\n".join(item_line(f"`{name}`", None, None, desc) for name, desc in fn.raises_doc)
        parts.append("## Errors\n\nPython exceptions come back as `{:error, %PyBridge.Error{type: ...}}`:\n\n" + raised)
    if fn.cache_ttl_ms:
        parts.append(f"Results are cached for {fn.cache_ttl_ms // 1000} s (see `PyBridge.Cache`).")
    parts.append(f"## Python\n\n```python\n{fn.python_signature}\n```")
    if fn.inherited_from:
        parts.append(inherited(fn.inherited_from))
    return "\n\n".join(parts)


def elixir_default(python_default: str | None) -> str | None:
    """A default as the Elixir value PyBridge would give for it (`False` -> `false`, `None` -> `nil`,
    `'auto'` -> `"auto"`); what is no literal stays Python source, without memory addresses."""
    if python_default is None:
        return None
    try:
        value = ast.literal_eval(python_default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return names.without_addresses(python_default)
    if isinstance(value, (set, frozenset, bytes, complex)):
        return python_default
    return elixir_literal(value)


def inherited(module: str) -> str:
    return f"Inherited from `{module}`."


def summary(doc: str) -> str:
    """A doc's first paragraph when it is prose (what ExDoc lists in a module's summary), else ""."""
    first = doc.strip().split("\n\n", 1)[0]
    return "" if first.startswith(("#", "```", " ", "* ", "- ", ">", "|")) else first


def indent(text: str) -> str:
    """Continuation lines of a list item's text, indented under the bullet."""
    return "\n".join([text.split("\n")[0]] + [("  " + line if line.strip() else "") for line in text.split("\n")[1:]])


def join_doc(body: str, footer: str) -> str:
    """A description, then a footer paragraph (the footer alone when there is no description)."""
    return f"{body.strip()}\n\n{footer}" if body and body.strip() else footer
