"""Reading a YAML spec: nodes with line numbers -> validated `Spec` dataclasses.

Every problem becomes a `SpecError` with the file, the line, what was found
and what was expected; reading goes on after a problem so that one run reports
all of them. Names checked here are the ones the spec *writes*; names derived
from Python names are made valid later, in `build`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

from . import names
from .model import (
    CachingSettings,
    ClassSpec,
    ElixirCode,
    ConstructorSpec,
    Example,
    ExportSpec,
    FunctionRef,
    FunctionSpec,
    IntrospectionSettings,
    MethodSpec,
    Param,
    ParamKind,
    PropertySpec,
    Spec,
    SpecError,
    SpecErrors,
    TelemetrySettings,
)

T = TypeVar("T")

# Keys of every mapping in a spec, with a short description used in "missing"
# errors. Required keys are marked with a leading "!".
_CALLABLE_KEYS = {
    "description": "Markdown documentation (default: the Python docstring)",
    "args": "the Python parameters",
    "returns": "the Python return annotation, e.g. list[str]",
    "timeout": "milliseconds",
    "streaming": "true to return a Stream",
    "async": "true to return a Task",
    "result_transform": "Module.function applied to every result",
    "error_handler": "Module.function applied to every error",
    "examples": "calls with expected results, for --tests",
}
SCHEMAS: dict[str, dict[str, str]] = {
    "spec": {
        "!python_module": "the Python module the spec wraps, e.g. json",
        "elixir_module": "the Elixir module for its functions, e.g. Json",
        "version": "the library version the spec was written for, e.g. '>=2.0' or '3.4.1'",
        "description": "Markdown documentation of the library module",
        "introspection": "introspection settings",
        "classes": "the classes to wrap",
        "functions": "the functions to wrap",
        "bidirectional_tools": "Elixir functions Python may call",
        "caching": "caching settings",
        "telemetry": "telemetry settings",
        "result_transform": "Module.function applied to every result",
        "error_handler": "Module.function applied to every error",
    },
    "introspection": {
        "enabled": "true to fill docs, arguments and types from the installed library",
        "cache": "where the raw introspection result is stored, relative to the spec",
        "depth": "how many levels of submodules discovery walks",
        "submodules": "submodules to walk besides the attributes of the module",
        "exclude": "fnmatch patterns of names to leave out",
    },
    "class": {
        "!python_path": "the dotted path of the class, e.g. collections.Counter",
        "elixir_module": "the Elixir module, e.g. Collections.Counter",
        "extends": "the Elixir module (or Python path) of a class of this spec to inherit functions from",
        "singleton": "true when python_path names one existing object rather than a class",
        "description": "Markdown documentation (default: the Python docstring)",
        "constructor": "how create/N calls the class, or false for no create/N",
        "methods": "the methods to wrap",
        "properties": "the attributes to wrap",
        "result_transform": "Module.function applied to every result",
        "error_handler": "Module.function applied to every error",
        "examples": "calls with expected results, for --tests",
    },
    "constructor": {
        "args": "the constructor parameters",
        "session_aware": "true when instances must be created in a session",
        "timeout": "milliseconds",
        "description": "Markdown documentation of create",
    },
    "method": {"!name": "the Python method name", "elixir_name": "the Elixir function name", "static": "true for class and static methods (called on the class); false to call one on the object (detected when introspecting)", **_CALLABLE_KEYS},
    "property": {
        "!name": "the Python attribute name",
        "elixir_name": "the Elixir getter name",
        "type": "the Python annotation, e.g. int",
        "readonly": "true for no setter",
        "description": "Markdown documentation",
    },
    "function": {
        "!python_path": "the dotted path of the function, e.g. json.dumps",
        "elixir_name": "the Elixir function name",
        "elixir_module": "the Elixir module to put it in (default: the spec's)",
        "pure": "true when the result depends on the arguments only",
        "cacheable": "true to cache results (needs caching.enabled)",
        **_CALLABLE_KEYS,
    },
    "arg": {
        "!name": "the Python parameter name",
        "type": "the Python annotation, e.g. Optional[int]",
        "default": "the default value; an argument with one is optional",
        "required": "false for an optional argument without a documented default",
        "kind": "positional, positional_only, keyword_only, var_positional or var_keyword",
        "description": "Markdown documentation",
    },
    "bidirectional_tools": {"export_to_python": "Elixir functions Python may call by name"},
    "export": {
        "!name": "the name Python calls it by",
        "!function": "the Elixir function, as Module.function/arity",
        "description": "what it does, for Python callers",
    },
    "caching": {
        "enabled": "true to cache results of cacheable functions in ETS",
        "ttl": "seconds a cached result lives",
        "cache_pure_functions": "true to cache every pure function too",
    },
    "telemetry": {"enabled": "true to emit :telemetry events", "event_prefix": "a list of atoms, e.g. [my_app, json]"},
    "example": {
        "args": "positional arguments",
        "kwargs": "keyword arguments",
        "returns": "the expected value inside {:ok, _}",
        "constructor_args": "arguments of create, for methods",
        "constructor_kwargs": "keyword arguments of create, for methods",
        "description": "what the example shows",
    },
}

_FUNCTION_REF = re.compile(r"^([A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*)\.([a-z_][A-Za-z0-9_]*[?!]?)$")
_EXPORT_REF = re.compile(r"^([A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*)\.([a-z_][A-Za-z0-9_]*[?!]?)/(\d+)$")


def _describe(node: yaml.Node) -> str:
    """What a node holds, for "found …" in messages."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.ScalarNode):
        tag = node.tag.rsplit(":", 1)[-1]
        kind = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean", "null": "nothing (null)"}.get(tag, tag)
        if tag == "null":
            return kind
        return f"{kind} {node.value!r}" if len(node.value) < 60 else kind
    return "something else"


@dataclass
class _Reader:
    file: str
    loader: SpecLoader
    errors: list[SpecError]

    def error(self, node: yaml.Node | int, message: str) -> None:
        line = node if isinstance(node, int) else node.start_mark.line + 1
        self.errors.append(SpecError(self.file, line, message))

    # ---- containers

    def mapping(self, node: yaml.Node, where: str, schema: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """The keys of a mapping node, after reporting unknown, duplicate and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{where}: found {_describe(node)}, expected a mapping with keys: {_keys(schema)}")
            return {}
        allowed = {k.lstrip("!"): k.startswith("!") for k in SCHEMAS[schema]}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, f"{where}: found {_describe(key_node)} as a key, expected one of: {_keys(schema)}")
                continue
            if key not in allowed:
                hint = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.error(key_node, f"{_join(where, key)}: unknown key '{key}'{suggestion}; expected one of: {_keys(schema)}")
                continue
            if key in out:
                first = out[key][0].start_mark.line + 1
                self.error(key_node, f"{_join(where, key)}: duplicate key '{key}' (first given at line {first})")
                continue
            out[key] = (key_node, value_node)
        for key, required in allowed.items():
            if required and key not in out:
                self.error(node, f"{where}: missing required field '{key}' ({SCHEMAS[schema]['!' + key]})")
        return out

    def items(self, node: yaml.Node, where: str, what: str) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{where}: found {_describe(node)}, expected a list of {what}")
            return []
        return list(node.value)

    # ---- scalars

    def value(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self.error(node, f"found a value YAML cannot read: {exc.problem}")
            return None

    def scalar(self, node: yaml.Node, where: str, expected: str, check: Callable[[Any], bool]) -> Any:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(node, yaml.ScalarNode) or not check(value):
            self.error(node, f"{where}: found {_describe(node)}, expected {expected}")
            return None
        return value

    def string(self, node: yaml.Node, where: str, expected: str = "a string") -> str | None:
        value = self.scalar(node, where, expected, lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool))
        return None if value is None else str(value)

    def boolean(self, node: yaml.Node, where: str) -> bool | None:
        value = self.scalar(node, where, "true or false", lambda v: isinstance(v, bool))
        return value if isinstance(value, bool) else None

    def positive_int(self, node: yaml.Node, where: str, unit: str) -> int | None:
        value = self.scalar(node, where, f"a positive integer ({unit})", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0)
        return value if isinstance(value, int) else None

    def natural(self, node: yaml.Node, where: str) -> int | None:
        value = self.scalar(node, where, "an integer >= 0", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)
        return value if isinstance(value, int) else None

    def strings(self, node: yaml.Node, where: str) -> list[str]:
        out = []
        for i, item in enumerate(self.items(node, where, "strings")):
            value = self.string(item, f"{where}[{i}]")
            if value is not None:
                out.append(value)
        return out

    # ---- checked names

    def python_path(self, node: yaml.Node, where: str) -> str | None:
        value = self.string(node, where, "a dotted Python path")
        if value is None:
            return None
        problem = names.python_path_problem(value)
        if problem:
            self.error(node, f"{where}: found '{value}', {problem}")
            return None
        return value

    def python_name(self, node: yaml.Node, where: str) -> str | None:
        return self._name(
            node, where, "a Python identifier", lambda v: None if v.isidentifier() else "expected a Python identifier"
        )

    def module_name(self, node: yaml.Node, where: str) -> str | None:
        return self._name(node, where, "an Elixir module name", names.module_name_problem)

    def function_name(self, node: yaml.Node, where: str) -> str | None:
        return self._name(node, where, "an Elixir function name", names.function_name_problem)

    def _name(self, node: yaml.Node, where: str, expected: str, problem_of: Callable[[str], str | None]) -> str | None:
        """A string that ``problem_of`` accepts; otherwise the problem is recorded."""
        value = self.string(node, where, expected)
        if value is None:
            return None
        problem = problem_of(value)
        if problem:
            self.error(node, f"{where}: found '{value}', {problem}")
            return None
        return value

    def function_ref(self, node: yaml.Node, where: str) -> FunctionRef | None:
        value = self.string(node, where, "an Elixir function as Module.function")
        if value is None:
            return None
        m = _FUNCTION_REF.match(value)
        if not m or names.function_name_problem(m.group(2)):
            self.error(node, f"{where}: found '{value}', expected an Elixir function as Module.function, e.g. MyApp.Results.decode")
            return None
        return FunctionRef(m.group(1), m.group(2), node.start_mark.line + 1)


def _keys(schema: str) -> str:
    return ", ".join(k.lstrip("!") for k in SCHEMAS[schema])


def _join(where: str, key: str) -> str:
    return key if where == "spec" else f"{where}.{key}"


class SpecLoader(yaml.SafeLoader):
    """YAML with two extra tags for examples: `!tuple [a, 1]` is a tuple (Elixir `{"a", 1}`),
    `!elixir "fn x -> x * 2 end"` an Elixir expression written as it is (a callback, say)."""


def _construct_tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple[Any, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(None, None, f"!tuple needs a list, found {_describe(node)}", node.start_mark)
    return tuple(loader.construct_sequence(node, deep=True))


def _construct_elixir(loader: yaml.SafeLoader, node: yaml.Node) -> ElixirCode:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(None, None, f"!elixir needs a string of Elixir code, found {_describe(node)}", node.start_mark)
    return ElixirCode(str(node.value))


SpecLoader.add_constructor("!tuple", _construct_tuple)
SpecLoader.add_constructor("!elixir", _construct_elixir)


def load_spec(path: str | Path, display_name: str | None = None) -> Spec:
    """Read and validate a spec file; raises `SpecErrors` listing every problem."""
    path = Path(path)
    file = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecErrors([SpecError(file, 0, f"cannot read the spec: {exc.strerror}")]) from None
    return parse_spec(text, file, str(path.resolve().parent))


def parse_spec(text: str, file: str, base_dir: str = ".") -> Spec:
    """Validate spec text; `file` is the name used in messages."""
    loader = SpecLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        context = f" ({exc.context} at line {exc.context_mark.line + 1})" if exc.context and exc.context_mark else ""
        raise SpecErrors([SpecError(file, line, f"not valid YAML: {exc.problem or exc}{context}")]) from None
    finally:
        loader.dispose()
    if root is None:
        raise SpecErrors([SpecError(file, 1, "the spec is empty; expected a mapping with at least python_module")])
    r = _Reader(file, loader, [])
    spec = _read_spec(r, root)
    if spec is not None:
        spec.base_dir = base_dir
    if r.errors:
        raise SpecErrors(sorted(r.errors, key=lambda e: e.line))
    assert spec is not None
    return spec


def _read_spec(r: _Reader, root: yaml.Node) -> Spec | None:
    keys = r.mapping(root, "spec", "spec")
    if not isinstance(root, yaml.MappingNode):
        return None
    spec = Spec(file=r.file, python_module="")
    for key, (_, node) in keys.items():
        if key == "python_module":
            spec.python_module = r.python_path(node, key) or ""
        elif key == "elixir_module":
            spec.elixir_module = r.module_name(node, key)
            spec.elixir_module_line = node.start_mark.line + 1
        elif key == "version":
            spec.version = r.string(node, key, "a version or a requirement, e.g. '3.4.1' or '>=2.0,<3'")
            spec.version_line = node.start_mark.line + 1
            if spec.version is not None:
                from .versions import requirement_problem

                problem = requirement_problem(spec.version)
                if problem:
                    r.error(node, f"version: found '{spec.version}', {problem}")
        elif key == "description":
            spec.description = r.string(node, key)
        elif key == "introspection":
            spec.introspection = _read_introspection(r, node)
        elif key == "classes":
            spec.classes = [c for i, item in enumerate(r.items(node, key, "classes")) if (c := _read_class(r, item, f"classes[{i}]"))]
        elif key == "functions":
            spec.functions = [f for i, item in enumerate(r.items(node, key, "functions")) if (f := _read_function(r, item, f"functions[{i}]"))]
        elif key == "bidirectional_tools":
            spec.exports = _read_bidirectional(r, node)
        elif key == "caching":
            spec.caching = _read_caching(r, node)
        elif key == "telemetry":
            spec.telemetry = _read_telemetry(r, node)
        elif key == "result_transform":
            spec.result_transform = r.function_ref(node, key)
        elif key == "error_handler":
            spec.error_handler = r.function_ref(node, key)
    return spec


def _read_introspection(r: _Reader, node: yaml.Node) -> IntrospectionSettings:
    s = IntrospectionSettings()
    for key, (_, value) in r.mapping(node, "introspection", "introspection").items():
        where = f"introspection.{key}"
        if key == "enabled":
            s.enabled = _or(r.boolean(value, where), s.enabled)
        elif key == "cache":
            s.cache = r.string(value, where, "a file path")
        elif key == "depth":
            s.depth = _or(r.natural(value, where), s.depth)
        elif key == "submodules":
            s.submodules = r.strings(value, where)
        elif key == "exclude":
            s.exclude = r.strings(value, where)
    return s


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def _read_callable(r: _Reader, key: str, value: yaml.Node, where: str, c: Any) -> bool:
    """Keys shared by functions and methods; False when `key` is not one of them."""
    w = f"{where}.{key}"
    if key == "description":
        c.description = r.string(value, w)
    elif key == "args":
        c.params = _read_args(r, value, w)
    elif key == "returns":
        c.returns = _annotation(r, value, w)
    elif key == "timeout":
        c.timeout = r.positive_int(value, w, "milliseconds")
    elif key == "streaming":
        c.streaming = _or(r.boolean(value, w), False)
    elif key == "async":
        c.async_ = _or(r.boolean(value, w), False)
    elif key == "result_transform":
        c.result_transform = r.function_ref(value, w)
    elif key == "error_handler":
        c.error_handler = r.function_ref(value, w)
    elif key == "examples":
        c.examples = [e for i, item in enumerate(r.items(value, w, "examples")) if (e := _read_example(r, item, f"{w}[{i}]"))]
    else:
        return False
    return True


def _check_modes(r: _Reader, c: Any, where: str, line: int) -> None:
    if c.streaming and c.async_:
        r.error(line, f"{where}: found streaming: true and async: true, expected at most one of them (a Stream is already lazy)")
    if (c.streaming or c.async_) and (c.result_transform or c.error_handler):
        r.error(line, f"{where}: found result_transform/error_handler on a streaming or async call, expected them on synchronous calls only")


def _annotation(r: _Reader, node: yaml.Node, where: str) -> str | None:
    from .types import AnnotationSyntaxError, parse_annotation

    text = r.string(node, where, "a Python annotation, e.g. Optional[list[str]]")
    if text is None:
        return None
    try:
        parse_annotation(text)
    except AnnotationSyntaxError as exc:
        r.error(node, f"{where}: found '{text}', expected a Python annotation ({exc})")
        return None
    return text


def _read_args(r: _Reader, node: yaml.Node, where: str) -> list[Param]:
    params: list[Param] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(r.items(node, where, "arguments")):
        w = f"{where}[{i}]"
        if isinstance(item, yaml.ScalarNode):
            # Shorthand: just the name of a required positional argument.
            name = r.python_name(item, w)
            param = Param(name) if name else None
        else:
            param = _read_arg(r, item, w)
        if param is None:
            continue
        if param.name in seen:
            r.error(item, f"{w}: duplicate argument '{param.name}' (first given at line {seen[param.name]})")
            continue
        seen[param.name] = item.start_mark.line + 1
        params.append(param)
    _check_param_order(r, params, node, where)
    return params


def _read_arg(r: _Reader, node: yaml.Node, where: str) -> Param | None:
    keys = r.mapping(node, where, "arg")
    if "name" not in keys:
        return None
    name = r.python_name(keys["name"][1], f"{where}.name")
    if name is None:
        return None
    kind = ParamKind.POSITIONAL
    required = True
    annotation = default = description = None
    for key, (_, value) in keys.items():
        w = f"{where}.{key}"
        if key == "type":
            annotation = _annotation(r, value, w)
        elif key == "default":
            default = _python_literal(r.value(value))
            required = False
        elif key == "required":
            required = _or(r.boolean(value, w), True)
        elif key == "kind":
            text = r.string(value, w)
            kinds = [k.value for k in ParamKind]
            if text is not None and text not in kinds:
                hint = difflib.get_close_matches(text, kinds, n=1)
                r.error(value, f"{w}: found '{text}'" + (f" (did you mean '{hint[0]}'?)" if hint else "") + f", expected one of: {', '.join(kinds)}")
            elif text is not None:
                kind = ParamKind(text)
        elif key == "description":
            description = r.string(value, w)
    if kind in (ParamKind.VAR_POSITIONAL, ParamKind.VAR_KEYWORD):
        required = kind is ParamKind.VAR_POSITIONAL
    return Param(name, kind, required, annotation, default, description)


def _check_param_order(r: _Reader, params: list[Param], node: yaml.Node, where: str) -> None:
    order = [ParamKind.POSITIONAL_ONLY, ParamKind.POSITIONAL, ParamKind.VAR_POSITIONAL, ParamKind.KEYWORD_ONLY, ParamKind.VAR_KEYWORD]
    last = 0
    for p in params:
        rank = order.index(p.kind)
        if rank < last:
            r.error(node, f"{where}: found argument '{p.name}' of kind {p.kind.value} after a later kind, expected Python's order: {', '.join(k.value for k in order)}")
            return
        last = rank
    for kind in (ParamKind.VAR_POSITIONAL, ParamKind.VAR_KEYWORD):
        if sum(p.kind is kind for p in params) > 1:
            r.error(node, f"{where}: found more than one {kind.value} argument, expected at most one")


def _python_literal(value: Any) -> str:
    if value is None:
        return "None"
    return repr(value)


def _read_example(r: _Reader, node: yaml.Node, where: str) -> Example | None:
    keys = r.mapping(node, where, "example")
    if not isinstance(node, yaml.MappingNode):
        return None
    values: dict[str, Any] = {}
    for key, (_, value) in keys.items():
        w = f"{where}.{key}"
        v = r.value(value)
        if key in ("args", "constructor_args") and not isinstance(v, list):
            r.error(value, f"{w}: found {_describe(value)}, expected a list")
            continue
        if key in ("kwargs", "constructor_kwargs") and not (isinstance(v, dict) and all(isinstance(k, str) and k.isidentifier() for k in v)):
            r.error(value, f"{w}: found {_describe(value)}, expected a mapping from Python parameter names to values")
            continue
        values[key] = v
    return Example(
        args=values.get("args", []),
        kwargs=values.get("kwargs", {}),
        returns=values.get("returns"),
        has_returns="returns" in values,
        constructor_args=values.get("constructor_args", []),
        constructor_kwargs=values.get("constructor_kwargs", {}),
        description=values.get("description"),
        line=node.start_mark.line + 1,
    )


def _read_function(r: _Reader, node: yaml.Node, where: str) -> FunctionSpec | None:
    keys = r.mapping(node, where, "function")
    if not isinstance(node, yaml.MappingNode):
        return None
    f = FunctionSpec(line=node.start_mark.line + 1)
    for key, (_, value) in keys.items():
        w = f"{where}.{key}"
        if _read_callable(r, key, value, where, f):
            continue
        if key == "python_path":
            f.python_path = r.python_path(value, w) or ""
        elif key == "elixir_name":
            f.elixir_name = r.function_name(value, w)
            f.elixir_name_line = value.start_mark.line + 1
        elif key == "elixir_module":
            f.elixir_module = r.module_name(value, w)
        elif key == "pure":
            f.pure = _or(r.boolean(value, w), False)
        elif key == "cacheable":
            f.cacheable = _or(r.boolean(value, w), False)
    _check_modes(r, f, where, f.line)
    if f.cacheable and (f.streaming or f.async_):
        r.error(f.line, f"{where}: found cacheable: true on a streaming or async function, expected it on synchronous functions only")
    return f if f.python_path else None


def _read_method(r: _Reader, node: yaml.Node, where: str) -> MethodSpec | None:
    keys = r.mapping(node, where, "method")
    if not isinstance(node, yaml.MappingNode):
        return None
    m = MethodSpec(line=node.start_mark.line + 1)
    for key, (_, value) in keys.items():
        w = f"{where}.{key}"
        if _read_callable(r, key, value, where, m):
            continue
        if key == "name":
            m.name = r.python_name(value, w) or ""
        elif key == "elixir_name":
            m.elixir_name = r.function_name(value, w)
            m.elixir_name_line = value.start_mark.line + 1
        elif key == "static":
            m.static = r.boolean(value, w)
    _check_modes(r, m, where, m.line)
    return m if m.name else None


def _read_property(r: _Reader, node: yaml.Node, where: str) -> PropertySpec | None:
    keys = r.mapping(node, where, "property")
    if "name" not in keys:
        return None
    name = r.python_name(keys["name"][1], f"{where}.name")
    if name is None:
        return None
    p = PropertySpec(line=node.start_mark.line + 1, name=name)
    for key, (_, value) in keys.items():
        w = f"{where}.{key}"
        if key == "elixir_name":
            p.elixir_name = r.function_name(value, w)
            p.elixir_name_line = value.start_mark.line + 1
        elif key == "type":
            p.type = _annotation(r, value, w)
        elif key == "readonly":
            p.readonly = _or(r.boolean(value, w), False)
        elif key == "description":
            p.description = r.string(value, w)
    return p


def _read_constructor(r: _Reader, node: yaml.Node, where: str) -> ConstructorSpec:
    c = ConstructorSpec(line=node.start_mark.line + 1)
    for key, (_, value) in r.mapping(node, where, "constructor").items():
        w = f"{where}.{key}"
        if key == "args":
            c.params = _read_args(r, value, w)
        elif key == "session_aware":
            c.session_aware = _or(r.boolean(value, w), False)
        elif key == "timeout":
            c.timeout = r.positive_int(value, w, "milliseconds")
        elif key == "description":
            c.description = r.string(value, w)
    return c


def _read_class(r: _Reader, node: yaml.Node, where: str) -> ClassSpec | None:
    keys = r.mapping(node, where, "class")
    if not isinstance(node, yaml.MappingNode):
        return None
    c = ClassSpec(line=node.start_mark.line + 1, python_path="")
    for key, (_, value) in keys.items():
        w = f"{where}.{key}"
        if key == "python_path":
            c.python_path = r.python_path(value, w) or ""
        elif key == "elixir_module":
            c.elixir_module = r.module_name(value, w)
            c.elixir_module_line = value.start_mark.line + 1
        elif key == "extends":
            c.extends = r.string(value, w, "the Elixir module or Python path of another class of this spec")
            c.extends_line = value.start_mark.line + 1
        elif key == "singleton":
            c.singleton = _or(r.boolean(value, w), False)
        elif key == "description":
            c.description = r.string(value, w)
        elif key == "constructor":
            if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":bool"):
                if r.boolean(value, w) is False:
                    c.creatable = False
                else:
                    r.error(value, f"{w}: found true, expected a mapping (args, session_aware, timeout, description) or false for no create/N")
            else:
                c.constructor = _read_constructor(r, value, w)
        elif key == "methods":
            c.methods = [m for i, item in enumerate(r.items(value, w, "methods")) if (m := _read_method(r, item, f"{w}[{i}]"))]
        elif key == "properties":
            c.properties = [p for i, item in enumerate(r.items(value, w, "properties")) if (p := _read_property(r, item, f"{w}[{i}]"))]
        elif key == "result_transform":
            c.result_transform = r.function_ref(value, w)
        elif key == "error_handler":
            c.error_handler = r.function_ref(value, w)
        elif key == "examples":
            c.examples = [e for i, item in enumerate(r.items(value, w, "examples")) if (e := _read_example(r, item, f"{w}[{i}]"))]
    if c.singleton and (c.constructor is not None or not c.creatable):
        r.error(c.line, f"{where}: found a constructor on a singleton, expected none (a singleton is an existing object, never created)")
    return c if c.python_path else None


def _read_bidirectional(r: _Reader, node: yaml.Node) -> list[ExportSpec]:
    out: list[ExportSpec] = []
    seen: dict[str, int] = {}
    for key, (_, value) in r.mapping(node, "bidirectional_tools", "bidirectional_tools").items():
        if key != "export_to_python":
            continue
        for i, item in enumerate(r.items(value, "bidirectional_tools.export_to_python", "exported functions")):
            where = f"bidirectional_tools.export_to_python[{i}]"
            keys = r.mapping(item, where, "export")
            if "name" not in keys or "function" not in keys:
                continue
            name = r.python_name(keys["name"][1], f"{where}.name")
            text = r.string(keys["function"][1], f"{where}.function")
            description = r.string(keys["description"][1], f"{where}.description") if "description" in keys else None
            m = _EXPORT_REF.match(text or "")
            if text is not None and not m:
                r.error(keys["function"][1], f"{where}.function: found '{text}', expected Module.function/arity, e.g. MyApp.Tools.lookup/1")
            if name is None or m is None:
                continue
            line = item.start_mark.line + 1
            if name in seen:
                r.error(item, f"{where}.name: duplicate exported name '{name}' (first given at line {seen[name]})")
                continue
            seen[name] = line
            out.append(ExportSpec(line, name, f"{m.group(1)}.{m.group(2)}", int(m.group(3)), description))
    return out


def _read_caching(r: _Reader, node: yaml.Node) -> CachingSettings:
    s = CachingSettings()
    for key, (_, value) in r.mapping(node, "caching", "caching").items():
        w = f"caching.{key}"
        if key == "enabled":
            s.enabled = _or(r.boolean(value, w), False)
        elif key == "ttl":
            s.ttl = _or(r.positive_int(value, w, "seconds"), s.ttl)
        elif key == "cache_pure_functions":
            s.cache_pure_functions = _or(r.boolean(value, w), False)
    return s


def _read_telemetry(r: _Reader, node: yaml.Node) -> TelemetrySettings:
    s = TelemetrySettings()
    for key, (_, value) in r.mapping(node, "telemetry", "telemetry").items():
        w = f"telemetry.{key}"
        if key == "enabled":
            s.enabled = _or(r.boolean(value, w), False)
        elif key == "event_prefix":
            if isinstance(value, yaml.ScalarNode):
                text = r.string(value, w, "a list of atoms, e.g. [my_app, json]")
                items = text.split(".") if text else []
            else:
                items = r.strings(value, w)
            bad = [i for i in items if not re.match(r"^[a-z_][a-zA-Z0-9_]*$", i)]
            if bad or not items:
                r.error(value, f"{w}: found {bad or 'an empty prefix'}, expected a non-empty list of lowercase atoms, e.g. [my_app, json]")
            else:
                s.event_prefix = items
    return s
