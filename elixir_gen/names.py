"""Elixir identifiers: checking names a spec gives, deriving names from Python ones.

A name written in a spec is *checked* (an invalid one is a spec error, so the
user sees it); a name derived from a Python name is *made valid* (escaped), so
introspection of any library yields compilable code.
"""

from __future__ import annotations

import keyword
import re

# Words the Elixir parser reserves: they can name neither a variable nor a
# function that is called without a module.
RESERVED_WORDS = frozenset(
    "true false nil when and or not in fn do end catch rescue after else".split()
)

# Kernel.SpecialForms cannot be excluded by `import Kernel, except: …`, and the
# generated code itself uses a few Kernel macros; a function with one of these
# names would shadow or break them.
SPECIAL_FORMS = frozenset(
    "alias case cond for import quote receive require super try unquote "
    "unquote_splicing with".split()
)
USED_BY_GENERATED_CODE = frozenset(
    "def defp defmodule defdelegate raise if unless use".split()
)
UNAVAILABLE_NAMES = RESERVED_WORDS | SPECIAL_FORMS | USED_BY_GENERATED_CODE

# Kernel functions and macros of Elixir 1.14 (name, arity): a generated
# function with one of these names and arities must exclude the Kernel import,
# or a local call to it does not compile ("imported Kernel.max/2 conflicts with
# local function").
KERNEL_IMPORTS: frozenset[tuple[str, int]] = frozenset(
    (name, int(arity))
    for item in (
        "abs/1 apply/2 apply/3 binary_part/3 binary_slice/2 binary_slice/3 "
        "bit_size/1 byte_size/1 ceil/1 div/2 elem/2 exit/1 floor/1 "
        "function_exported?/3 get_and_update_in/3 get_in/2 hd/1 inspect/1 "
        "inspect/2 is_atom/1 is_binary/1 is_bitstring/1 is_boolean/1 is_float/1 "
        "is_function/1 is_function/2 is_integer/1 is_list/1 is_map/1 "
        "is_map_key/2 is_number/1 is_pid/1 is_port/1 is_reference/1 is_tuple/1 "
        "length/1 macro_exported?/3 make_ref/0 map_size/1 max/2 min/2 node/0 "
        "node/1 not/1 pop_in/2 put_elem/3 put_in/3 rem/2 round/1 self/0 send/2 "
        "spawn/1 spawn/3 spawn_link/1 spawn_link/3 spawn_monitor/1 "
        "spawn_monitor/3 struct/1 struct/2 struct!/1 struct!/2 throw/1 tl/1 "
        "trunc/1 tuple_size/1 update_in/3 alias!/1 binding/0 binding/1 dbg/0 "
        "dbg/1 dbg/2 defexception/1 defguard/1 defguardp/1 defimpl/2 defimpl/3 "
        "defmacro/1 defmacro/2 defmacrop/1 defmacrop/2 defoverridable/1 "
        "defprotocol/2 defstruct/1 destructure/2 get_and_update_in/2 "
        "is_exception/1 is_exception/2 is_nil/1 is_struct/1 is_struct/2 "
        "match?/2 pop_in/1 put_in/2 reraise/2 reraise/3 sigil_C/2 sigil_D/2 "
        "sigil_N/2 sigil_R/2 sigil_S/2 sigil_T/2 sigil_U/2 sigil_W/2 sigil_c/2 "
        "sigil_r/2 sigil_s/2 sigil_w/2 tap/2 then/2 to_char_list/1 "
        "to_charlist/1 to_string/1 update_in/2 use/1 use/2 var!/1 var!/2"
    ).split()
    for name, arity in [item.rsplit("/", 1)]
)

# Dunder methods with an Elixir meaning, and the names they get (the first
# free one of each list: a class with its own `get` keeps it, and its
# `__getitem__` becomes `get_item`). Other dunders are not generated unless a
# spec names them.
DUNDERS: dict[str, tuple[str, ...]] = {
    "__call__": ("call",),
    "__len__": ("len", "length"),
    "__getitem__": ("get", "get_item"),
    "__setitem__": ("put", "set_item"),
    "__delitem__": ("delete", "delete_item"),
    "__contains__": ("contains", "has_item"),
    "__iter__": ("stream", "iterate"),
    "__str__": ("to_string", "str"),
    "__repr__": ("repr", "python_repr"),
}

# Operators a spec may name as dunder methods: called as Python's operator (`operator.add(a, b)`),
# so `__add__` falls back to the other operand's `__radd__` as `a + b` does.
OPERATORS: dict[str, str] = {
    "__add__": "add",
    "__sub__": "sub",
    "__mul__": "mul",
    "__matmul__": "matmul",
    "__truediv__": "truediv",
    "__floordiv__": "floordiv",
    "__mod__": "mod",
    "__pow__": "pow",
    "__lshift__": "lshift",
    "__rshift__": "rshift",
    "__and__": "and_",
    "__or__": "or_",
    "__xor__": "xor",
    "__neg__": "neg",
    "__pos__": "pos",
    "__abs__": "abs",
    "__invert__": "invert",
    "__eq__": "eq",
    "__ne__": "ne",
    "__lt__": "lt",
    "__le__": "le",
    "__gt__": "gt",
    "__ge__": "ge",
}

# Dunders generated as a call of the built-in that Python's own syntax uses (`len(x)`, `str(x)`,
# `repr(x)`, `item in x`), with the result type that built-in guarantees: it refuses a method that
# returns anything else, so the @spec holds even for a class that breaks the data model.
BUILTIN_DUNDERS: dict[str, tuple[str, str]] = {
    "__len__": ("builtins.len", "int"),
    "__str__": ("builtins.str", "str"),
    "__repr__": ("builtins.repr", "str"),
    "__contains__": ("operator.contains", "bool"),
}

# How Python writes each operator, for the docs of one without a docstring (`a + b`).
OPERATOR_SYNTAX: dict[str, str] = {
    "add": "a + b", "sub": "a - b", "mul": "a * b", "matmul": "a @ b", "truediv": "a / b", "floordiv": "a // b",
    "mod": "a % b", "pow": "a ** b", "lshift": "a << b", "rshift": "a >> b", "and_": "a & b", "or_": "a | b",
    "xor": "a ^ b", "neg": "-a", "pos": "+a", "abs": "abs(a)", "invert": "~a", "eq": "a == b", "ne": "a != b",
    "lt": "a < b", "le": "a <= b", "gt": "a > b", "ge": "a >= b",
}  # fmt: skip

_FUNCTION_NAME = re.compile(r"^[a-z_][a-zA-Z0-9_]*[?!]?$")
_VARIABLE_NAME = re.compile(r"^[a-z_][a-zA-Z0-9_]*$")
_MODULE_SEGMENT = re.compile(r"^[A-Z][a-zA-Z0-9_]*$")
_PLAIN_ATOM = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_@]*[?!]?$")
_PYTHON_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def function_name_problem(name: str) -> str | None:
    """Why `name` cannot name a generated function, or None when it can."""
    if not _FUNCTION_NAME.match(name):
        return "not a valid Elixir function name (expected snake_case: lowercase letters, digits, _, optional ? or ! at the end)"
    if name.startswith("__") and name.endswith("__"):
        return "names like __x__ are reserved for reflection functions"
    if name.rstrip("?!") in UNAVAILABLE_NAMES:
        return f"'{name}' is a reserved word in Elixir"
    return None


def module_name_problem(name: str) -> str | None:
    """Why `name` cannot name an Elixir module, or None when it can."""
    segments = name.split(".")
    if not all(_MODULE_SEGMENT.match(s) for s in segments):
        return "not a valid Elixir module name (expected CamelCase segments separated by dots, like MyApp.Json)"
    if segments[0] in {"Elixir", "Kernel", "PyBridge"}:
        return f"the namespace {segments[0]} belongs to Elixir or to the PyBridge runtime"
    return None


def python_path_problem(path: str) -> str | None:
    """Why `path` is not a dotted Python path, or None when it is."""
    if not _PYTHON_PATH.match(path):
        return "not a dotted Python path (expected something like package.module.name)"
    if any(keyword.iskeyword(part) for part in path.split(".")):
        return "a Python keyword cannot be part of a dotted path"
    return None


def snake_case(name: str) -> str:
    """`fooBar` / `FooBar` / `HTTPServer` -> `foo_bar` / `foo_bar` / `http_server`."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def _acronym_boundary(m: re.Match[str]) -> str:
    caps, last, lower, after = m.group(1), m.group(2), m.group(3), m.group(4)
    # `DSPex`, `MIPROv2`, `DSPyError`: a short lowercase tail belongs to the capitals before it; not after a
    # single capital, which is a word's last letter or a word of its own (`NetworkXNoCycle`: the `o` is `No`'s).
    short_tail = (len(lower) <= 2 and (after == "" or after.isdigit() or after == "_")) or (len(lower) == 1 and after.isupper() and len(caps) >= 2)
    return m.group(0) if short_tail else f"{caps}_{last}{lower}"


def file_stem(segment: str) -> str:
    """The file name a person would give a module segment: `DSPex` -> `dspex`, `MIPROv2` -> `miprov2`,
    `ReAct` -> `react`, `ChainOfThought` -> `chain_of_thought`, `HTTPServer` -> `http_server`.

    Like `snake_case`, but a short lowercase tail stays with the capitals before
    it, and a name that starts with two short capitalized words is one word.
    """
    s = re.sub(r"([A-Z]+)([A-Z])([a-z]+)(?=(.?))", _acronym_boundary, segment)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    parts = s.split("_")
    if len(parts) >= 2 and parts[0][:1].isupper() and parts[1][:1].isupper() and len(parts[0]) <= 2 and len(parts[1]) <= 3 and parts[0][1:].islower():
        parts[:2] = [parts[0] + parts[1]]
    return "_".join(parts).lower()


def camel_case(name: str) -> str:
    """`some_module` -> `SomeModule`; an already CamelCase name keeps its case."""
    parts = [p for p in re.split(r"_+", name) if p]
    if not parts:
        return "X"
    out = "".join(p[0].upper() + p[1:] for p in parts)
    if not out[0].isalpha():
        out = "M" + out
    return out


def derive_function_name(python_name: str) -> str:
    """A valid Elixir function name for a Python attribute name (`__call__` -> `call`, `__len__` -> `len`)."""
    if python_name in DUNDERS:
        return DUNDERS[python_name][0]
    base = python_name.strip("_") or "call"
    base = re.sub(r"[^A-Za-z0-9_]", "_", snake_case(base))
    if base[0].isdigit():
        base = "f_" + base
    if base in UNAVAILABLE_NAMES:
        base += "_"
    return base


def is_private(python_name: str) -> bool:
    """A Python member that is not part of the public API: `_x`, or a dunder without an Elixir meaning."""
    return python_name.startswith("_") and python_name not in DUNDERS and python_name not in OPERATORS


def derive_variable_name(python_name: str) -> str:
    """A valid Elixir variable name for a Python parameter name (`X` -> `x`, `fn` -> `fn_`)."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", python_name).lstrip("_").lower() or "arg"
    if base[0].isdigit():
        base = "arg_" + base
    if base in UNAVAILABLE_NAMES or base.startswith("__"):
        base += "_"
    assert _VARIABLE_NAME.match(base), base
    return base


def derive_module_name(python_path: str) -> str:
    """`collections.Counter` -> `Collections.Counter`, `numpy.linalg` -> `Numpy.Linalg`."""
    segments = [camel_case(p) for p in python_path.split(".") if p]
    if segments and segments[0] in {"Elixir", "Kernel", "PyBridge"}:
        segments[0] = "Py" + segments[0]
    return ".".join(segments)


def atom_literal(name: str) -> str:
    """`:name`, quoted when the name needs it (`:"weird-name"`)."""
    if _PLAIN_ATOM.match(name):
        return ":" + name
    return ':"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("#{", "\\#{") + '"'


def string_literal(text: str) -> str:
    """An Elixir double-quoted string literal for `text` (no interpolation)."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("#{", "\\#{")
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return '"' + "".join(c if c.isprintable() or c == " " else f"\\u{{{ord(c):X}}}" for c in out) + '"'


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def without_addresses(python_text: str) -> str:
    """A Python repr without memory addresses (`<function f at 0x7f..>` -> `<function f>`), so output is the same on every run."""
    return _ADDRESS.sub("", python_text)
