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


@dataclass(frozen=True)
class FunctionRef:
    """An Elixir function named in a spec as `Module.function` (result transforms, error handlers)."""

    module: str
    function: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.module}.{self.function}"


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
    static: bool = False


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


@dataclass
class ElixirParam:
    """A positional parameter of a generated function."""

    var: str  # Elixir variable name
    type: str  # typespec
    python_name: str


@dataclass
class ElixirOption:
    """A Python keyword argument a generated function takes through `opts`."""

    key: str  # atom literal, e.g. ":indent"
    python_name: str
    type: str
    default: str | None
    description: str | None


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
    prelude: list[str]  # Elixir statements before the call (opts splitting)
    call: str  # the PyBridge call expression
    value_type: str  # typespec of the value inside {:ok, _}
    mode: Mode = Mode.SYNC
    bang: bool = True
    cache_ttl_ms: int | None = None
    cache_key: str = ""
    result_transform: str | None = None  # "Module.function"
    error_handler: str | None = None
    telemetry_prefix: str | None = None  # Elixir list literal
    telemetry_metadata: str = ""
    has_opts: bool = True
    inherited_from: str | None = None
    line: int = 0

    @property
    def return_spec(self) -> str:
        if self.mode is Mode.STREAM:
            return "Enumerable.t()"
        if self.mode is Mode.ASYNC:
            return "Task.t()"
        return f"{{:ok, {self.value_type}}} | {{:error, PyBridge.Error.t()}}"

    @property
    def arities(self) -> list[int]:
        n = len(self.params)
        return [n, n + 1] if self.has_opts else [n]


@dataclass
class ElixirExport:
    name: str  # the name Python calls it by
    capture: str  # "&MyApp.Tools.lookup/1"
    description: str | None


@dataclass
class ElixirTest:
    """A generated ExUnit smoke test."""

    name: str
    setup: list[str]  # statements, e.g. creating an instance
    call: str
    expected: str | None  # Elixir literal; None: only `{:ok, _}` is asserted
    mode: Mode = Mode.SYNC


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
class Library:
    """Everything one spec generates."""

    spec: Spec
    modules: list[ElixirModule]
    warnings: list[str] = field(default_factory=list)
