"""The generator's intermediate model: every dataclass in one place.

Two layers. The *spec layer* (`Spec`, `ClassSpec`, …) is what a YAML spec
says, with the line each part came from, after validation. The *Elixir layer*
(`ElixirModule`, `ElixirFunction`, …) is what gets rendered: every name is a
checked identifier, every type an Elixir typespec, every literal already
escaped. Templates read the Elixir layer only and decide nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .types import EType


@dataclass(frozen=True)
class SpecError:
    """One problem in a spec: where it is and what is wrong."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class SpecErrors(Exception):
    """Raised with every problem found, so the CLI can print them all at once."""

    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


# ---------------------------------------------------------------- spec layer


class ParamKind(str, enum.Enum):
    """How a Python parameter is passed (the names of `inspect.Parameter` kinds, shortened)."""

    POSITIONAL_ONLY = "positional_only"
    POSITIONAL = "positional"  # positional or keyword
    KEYWORD_ONLY = "keyword_only"
    VAR_POSITIONAL = "var_positional"
    VAR_KEYWORD = "var_keyword"


@dataclass(frozen=True)
class Param:
    """A Python parameter, from a spec's `args` or from introspection."""

    name: str
    kind: ParamKind = ParamKind.POSITIONAL
    required: bool = True
    annotation: str | None = None
    default: str | None = None  # Python source of the default, for docs
    description: str | None = None
    source: str = "spec"  # where `annotation` comes from: spec, annotation (introspected)
    stub: str | None = None  # the annotation a .pyi stub gives


@dataclass(frozen=True)
class FunctionRef:
    """An Elixir function named in a spec as `Module.function` (result transforms, error handlers)."""

    module: str
    function: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.module}.{self.function}"


@dataclass(frozen=True)
class ElixirCode:
    """An Elixir expression an example writes as it is (`!elixir "&String.upcase/1"`)."""

    code: str


@dataclass(frozen=True)
class Example:
    """A call with its expected result, for the generated ExUnit smoke tests."""

    args: list[Any]
    kwargs: dict[str, Any]
    returns: Any
    has_returns: bool
    constructor_args: list[Any] = field(default_factory=list)
    constructor_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    line: int = 0


@dataclass
class CallableSpec:
    """What functions, methods and constructors have in common."""

    line: int
    description: str | None = None
    params: list[Param] | None = None  # None: not given in the spec
    returns: str | None = None
    timeout: int | None = None
    streaming: bool = False
    async_: bool = False
    result_transform: FunctionRef | None = None
    error_handler: FunctionRef | None = None
    examples: list[Example] = field(default_factory=list)


@dataclass
class FunctionSpec(CallableSpec):
    python_path: str = ""
    elixir_name: str | None = None
    elixir_name_line: int = 0
    elixir_module: str | None = None
    pure: bool = False
    cacheable: bool = False


@dataclass
class MethodSpec(CallableSpec):
    name: str = ""
    elixir_name: str | None = None
    elixir_name_line: int = 0
    static: bool | None = None  # None: as introspection finds it


@dataclass
class ConstructorSpec(CallableSpec):
    session_aware: bool = False


@dataclass
class PropertySpec:
    line: int
    name: str
    elixir_name: str | None = None
    elixir_name_line: int = 0
    type: str | None = None
    readonly: bool = False
    description: str | None = None


@dataclass
class ClassSpec:
    line: int
    python_path: str
    elixir_module: str | None = None
    elixir_module_line: int = 0
    extends: str | None = None
    extends_line: int = 0
    singleton: bool = False
    description: str | None = None
    constructor: ConstructorSpec | None = None
    creatable: bool = True  # false: no create/N (the objects only come back as results)
    methods: list[MethodSpec] = field(default_factory=list)
    properties: list[PropertySpec] = field(default_factory=list)
    result_transform: FunctionRef | None = None
    error_handler: FunctionRef | None = None
    examples: list[Example] = field(default_factory=list)


@dataclass
class IntrospectionSettings:
    enabled: bool = True
    cache: str | None = None  # resolved against the spec's folder
    depth: int = 1
    submodules: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=lambda: ["_*"])


@dataclass
class ExportSpec:
    line: int
    name: str
    function: str  # Module.function
    arity: int
    description: str | None = None


@dataclass
class CachingSettings:
    enabled: bool = False
    ttl: int = 300  # seconds
    cache_pure_functions: bool = False


@dataclass
class TelemetrySettings:
    enabled: bool = False
    event_prefix: list[str] = field(default_factory=lambda: ["pybridge"])


@dataclass
class Spec:
    """A validated spec file."""

    file: str  # the name used in messages
    python_module: str
    base_dir: str = "."  # the spec's folder: relative paths in the spec are against it
    elixir_module: str | None = None
    elixir_module_line: int = 0
    version: str | None = None
    version_line: int = 0
    description: str | None = None
    introspection: IntrospectionSettings = field(default_factory=IntrospectionSettings)
    classes: list[ClassSpec] = field(default_factory=list)
    functions: list[FunctionSpec] = field(default_factory=list)
    exports: list[ExportSpec] = field(default_factory=list)
    caching: CachingSettings = field(default_factory=CachingSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    result_transform: FunctionRef | None = None
    error_handler: FunctionRef | None = None


# -------------------------------------------------------------- Elixir layer


class Mode(str, enum.Enum):
    """What a generated function returns: a result tuple, a Stream, or a Task."""

    SYNC = "sync"
    STREAM = "stream"
    ASYNC = "async"


class ModuleKind(str, enum.Enum):
    FUNCTIONS = "functions"  # wraps module-level functions
    CLASS = "class"  # wraps a class: create/N plus methods on handles
    SINGLETON = "singleton"  # wraps one existing object at a dotted path


# Where the type of a position comes from, strongest first. "wrapper": the
# generated code decides it (a handle, `nil` from a setter); "transform": a
# result transform returns what it likes; "none": nothing said anything.
# "code": read from the function's return statements (see `infer`).
TYPE_SOURCES = ("spec", "annotation", "stub", "docstring", "code", "default", "wrapper", "transform", "none")


@dataclass
class Typed:
    """The type of one position of a generated `@spec`, and where it came from (for the quality report)."""

    etype: EType
    source: str = "none"
    python_typed: bool = False  # Python annotated the position or gave it a non-None default
    lost: str | None = None  # why a type Python gave became term()

    @property
    def spec(self) -> str:
        return self.etype.render()

    @property
    def concrete(self) -> bool:
        """Says more than term(): a type from a source (an untyped `*args` is a list of anything)."""
        return not self.etype.is_term and self.source != "none"


@dataclass
class ElixirParam:
    """A positional parameter of a generated function."""

    var: str  # Elixir variable name
    typed: Typed
    python_name: str
    description: str | None = None
    default: str | None = None  # an Elixir literal: the parameter may be left out (`*args` as the last one)

    @property
    def type(self) -> str:
        return self.typed.spec

    @property
    def head(self) -> str:
        """The parameter in a function head (`args \\\\ []`)."""
        return f"{self.var} \\\\ {self.default}" if self.default is not None else self.var

    @property
    def is_receiver(self) -> bool:
        return self.python_name == "self"


@dataclass
class ElixirOption:
    """A Python keyword argument a generated function takes through `opts`."""

    key: str  # atom literal, e.g. ":indent"
    python_name: str
    typed: Typed
    default: str | None
    description: str | None

    @property
    def type(self) -> str:
        return self.typed.spec


@dataclass
class CallArgs:
    """The positional arguments a generated function hands to Python, in order."""

    vars: list[str] = field(default_factory=list)  # required parameters, by Elixir variable
    optional: list[str] = field(default_factory=list)  # atom keys of optional positional-only parameters taken from opts
    splat: str | None = None  # the list parameter that stands for `*args`


@dataclass
class CallKwargs:
    """The keyword arguments a generated function hands to Python."""

    required: list[tuple[str, str]] = field(default_factory=list)  # (Python name, Elixir variable) of required keyword-only parameters
    from_opts: bool = False  # the keywords split out of opts (`kwargs`)


@dataclass
class PythonCall:
    """What a generated function asks the runtime for; `helpers.j2` writes it as Elixir.

    `runtime` is one of "call", "create", "method" (on `receiver`), "stream",
    "attr", "set_attr" (an attribute of `receiver`, or of the object at the
    dotted `target` when there is none).
    """

    runtime: str
    target: str  # dotted path, or a method or attribute name on the receiver
    receiver: str | None = None
    args: CallArgs = field(default_factory=CallArgs)
    kwargs: CallKwargs = field(default_factory=CallKwargs)
    async_: bool = False
    attribute: str | None = None  # attr/set_attr: the attribute's name

    @property
    def parent(self) -> str:
        return self.target.rpartition(".")[0]

    @property
    def last(self) -> str:
        return self.target.rpartition(".")[2]


@dataclass
class Prelude:
    """The statements a generated function runs before its call (`helpers.j2` writes them)."""

    positional_keys: list[str] = field(default_factory=list)  # optional positional-only keys split out of opts
    runtime_keys: list[str] | None = None  # with **kwargs: the runtime's own options kept in opts, the rest is kwargs
    option_keys: list[str] = field(default_factory=list)  # without **kwargs: the Python keywords split out of opts
    timeout: int | None = None  # the spec's timeout, the default of :timeout
    session_for: str | None = None  # objects of this Python class live in a session: opts must name one
    keywords_only: str | None = None  # how to call it, when opts must be a keyword list (optional Python arguments)
    list_only: tuple[str, str] | None = None  # (variable, how to call it): Python's *args come as one Elixir list


@dataclass
class ElixirFunction:
    """One public function of a generated module (bang variants are derived)."""

    name: str
    kind: str  # "function", "method", "create", "getter", "setter"
    python_target: str  # the dotted path or attribute name it reaches, for docs and telemetry
    python_signature: str  # e.g. "dumps(obj, *, indent=None)" for docs
    doc: str  # Markdown, not yet escaped
    params: list[ElixirParam]  # positional parameters, in order (a handle first for methods)
    options: list[ElixirOption]  # Python keywords taken from opts
    accepts_any_keyword: bool  # the Python callable takes **kwargs
    prelude: Prelude  # what runs before the call (opts splitting)
    call: PythonCall  # what the runtime is asked
    value: Typed  # the value inside {:ok, _} (a stream's items for a streaming call)
    mode: Mode = Mode.SYNC
    bang: bool = True
    cache_ttl_ms: int | None = None
    result_transform: str | None = None  # "Module.function"
    error_handler: str | None = None
    telemetry_prefix: list[str] | None = None  # the event prefix's atoms, when telemetry is on
    has_opts: bool = True
    inherited_from: str | None = None  # the module of the class that lists it, for a function `extends` gives
    delegate_to: str | None = None  # that module, when its function does the same: a one-line call to it
    defined_in: str | None = None  # the Python class whose body defines the member (same one: same docs)
    line: int = 0
    python_name: str = ""  # the Python member it wraps ("" for generated helpers)
    described: bool = True  # the doc has a description (from the spec or a docstring)
    returns_doc: str | None = None  # the docstring's Returns text
    raises_doc: list[tuple[str, str]] = field(default_factory=list)
    extra_docs: list[tuple[str, str]] = field(default_factory=list)  # documented keywords the signature does not name
    any_keyword_doc: str | None = None  # the docstring's text on **kwargs

    @property
    def value_type(self) -> str:
        return self.value.spec

    @property
    def return_spec(self) -> str:
        if self.mode is Mode.STREAM:
            return self.value.spec
        if self.mode is Mode.ASYNC:
            return "Task.t()"
        return f"{{:ok, {self.value_type}}} | {{:error, PyBridge.Error.t()}}"

    @property
    def option_type(self) -> str | None:
        """The name of the module type listing its keyword options, when it takes Python keywords."""
        return f"{self.name.rstrip('?!')}_option" if self.options or self.accepts_any_keyword else None

    @property
    def option_type_spec(self) -> str:
        """The definition of `option_type`: each Python keyword with its type, then the runtime's options."""
        items = [f"{{{o.key}, {o.type}}}" for o in self.options]
        items.append("PyBridge.stream_option()" if self.mode is Mode.STREAM else "PyBridge.call_option()")
        if self.accepts_any_keyword:
            items.append("{atom(), term()}")
        return " | ".join(items)

    @property
    def opts_spec(self) -> str:
        """The typespec of `opts` (a delegate names the option type of the module it delegates to)."""
        if self.option_type:
            return f"[{self.delegate_to + '.' if self.delegate_to else ''}{self.option_type}()]"
        return "[PyBridge.stream_option()]" if self.mode is Mode.STREAM else "[PyBridge.call_option()]"

    @property
    def positions(self) -> list[Typed]:
        """The positions of its `@spec` the quality report counts: arguments but the receiver, options, the result."""
        return [p.typed for p in self.params if not p.is_receiver] + [o.typed for o in self.options] + [self.value]

    @property
    def arities(self) -> list[int]:
        n = len(self.params)
        fewest = len([p for p in self.params if p.default is None])
        return list(range(fewest, n + 2 if self.has_opts else n + 1))


@dataclass
class ElixirExport:
    name: str  # the name Python calls it by
    capture: str  # "&MyApp.Tools.lookup/1"
    description: str | None


@dataclass
class ExampleArgs:
    """The arguments of a call in a generated test (`helpers.j2` writes them)."""

    values: list[str] = field(default_factory=list)  # Elixir literals
    keywords: list[tuple[str, str]] = field(default_factory=list)  # (keyword, Elixir literal)
    receiver: bool = False  # `ref` comes first
    session: bool = False  # `session: session` ends the keywords


@dataclass
class ElixirTest:
    """A generated ExUnit smoke test."""

    name: str
    module: str  # the module under test
    function: str
    args: ExampleArgs
    expected: str | None  # Elixir literal; None: only `{:ok, _}` is asserted
    mode: Mode = Mode.SYNC
    check: str | None = None  # an expression over `value` true when it has the declared type
    session: bool = False  # runs in PyBridge.with_session/2, `session` bound (objects that live in a session)
    create_args: ExampleArgs | None = None  # first `{:ok, ref} = module.create(...)` with these arguments
    write_back: str | None = None  # a setter the read value is written back through


@dataclass
class ElixirModule:
    name: str
    kind: ModuleKind
    python_path: str
    file: str  # relative path of the .ex file
    moduledoc: str  # Markdown, not yet escaped
    functions: list[ElixirFunction] = field(default_factory=list)
    kernel_excludes: list[tuple[str, int]] = field(default_factory=list)
    exports: list[ElixirExport] = field(default_factory=list)
    tests: list[ElixirTest] = field(default_factory=list)

    @property
    def kind_noun(self) -> str:
        return {ModuleKind.FUNCTIONS: "module", ModuleKind.CLASS: "class", ModuleKind.SINGLETON: "object"}[self.kind]

    @property
    def test_file(self) -> str:
        return self.file[: -len(".ex")] + "_test.exs"


@dataclass
class SkippedMember:
    """A member of a wrapped class that got no Elixir function, and why."""

    path: str
    reason: str


@dataclass
class Library:
    """Everything one spec generates."""

    spec: Spec
    modules: list[ElixirModule]
    warnings: list[str] = field(default_factory=list)
    skipped: list[SkippedMember] = field(default_factory=list)
    library_version: str | None = None
