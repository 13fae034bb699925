"""Spec + introspection facts -> the Elixir layer of the model (`Library`).

This is where every name and module of the generated code is decided: one
module per group of functions (split by Python submodule when very large)
and per class, a function per listed function, method and property,
inherited members through `extends` (one-line calls to the class that lists
them), and duplicates reported as spec errors. How a signature is called lives in
`signature`, doc text in `docgen`, smoke tests in `smoke`; the Elixir text
itself is written by the templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from . import names
from .docgen import complete_doc, doc_markdown, inherited, join_doc, summary
from .docstrings import ParsedDoc, parse_docstring, returns_text
from .facts import Facts, default_cache_path
from .introspect import CallableInfo, ClassInfo, PropertyInfo
from .model import (
    CallableSpec,
    ClassSpec,
    ElixirExport,
    ElixirFunction,
    ElixirModule,
    ElixirParam,
    FunctionRef,
    FunctionSpec,
    Library,
    MethodSpec,
    Mode,
    ModuleKind,
    Param,
    ParamKind,
    Prelude,
    PythonCall,
    SkippedMember,
    Spec,
    SpecError,
    SpecErrors,
    Typed,
)
from .signature import GENERIC_PARAMS, HANDLE, RUNTIME_OPTIONS, STREAM_OPTIONS, merge_params, plan_call, position_type, signature_text
from .smoke import attribute_tests, elixir_literal, example_tests
from .types import NIL, TERM, Position, TypeContext, map_annotation
from .versions import installed_version, satisfies

__all__ = ["Builder", "Wrapped", "build_library", "default_cache_path", "elixir_literal"]

# A functions module of more than SPLIT_ABOVE functions is cut into one module per Python
# submodule holding at least SUBMODULE_FUNCTIONS of them (see `Builder._split`). Measured on
# `discover scipy.stats` (285 functions, each with its bang variant): the whole module takes
# 6 s of CPU to compile, a quarter of it 0.7 s, so the time grows about twice as fast as the size.
SPLIT_ABOVE = 100
SUBMODULE_FUNCTIONS = 10


@dataclass
class Wrapped:
    """What one generated function (a function, method or constructor) wraps, and how it reaches it."""

    name: str  # the Elixir function name
    kind: str  # "function", "method", "create"
    target: str  # the dotted Python path
    spec: CallableSpec
    info: CallableInfo | None
    ctx: TypeContext
    python_name: str
    mode: Mode = Mode.SYNC
    runtime: str = "call"  # "call", "create" or "method" (on `receiver`)
    receiver: str | None = None
    cache_ttl_ms: int | None = None
    transforms: tuple[FunctionRef | None, FunctionRef | None] = (None, None)
    value: Typed | None = None  # the result's type when the generated code decides it
    default_doc: str = ""
    session_aware: bool = False
    extra_param_docs: dict[str, Any] = field(default_factory=dict)  # argument docs found elsewhere (a class docstring)
    operator: str | None = None  # a Python operator function called with the receiver as its first operand


@dataclass
class _Names:
    """The function names taken in one module, to report duplicates with both lines."""

    module: str
    file: str
    taken: dict[str, int] = field(default_factory=dict)

    def claim(self, name: str, line: int, errors: list[SpecError], what: str) -> bool:
        if name in self.taken:
            first = self.taken[name]
            where = f"line {first}" if first else "a generated function"
            errors.append(SpecError(self.file, line, f"duplicate function name '{name}' in module {self.module} ({what}); it is already taken by {where}; expected a unique elixir_name"))
            return False
        self.taken[name] = line
        return True


class Builder:
    def __init__(self, spec: Spec, facts: Facts) -> None:
        self.spec = spec
        self.facts = facts
        self.errors: list[SpecError] = []
        self.warnings: list[str] = []
        self.skipped: list[SkippedMember] = []
        self.main_module = spec.elixir_module or names.derive_module_name(spec.python_module)
        self.class_modules: dict[str, str] = {}
        self.files: set[str] = set()
        self.class_built: dict[str, ElixirModule] = {}  # class modules built so far (parents before children)
        for c in spec.classes:
            self.class_modules[c.python_path] = c.elixir_module or names.derive_module_name(c.python_path)
        wrapped = {p: m for p, m in self.class_modules.items() if not self._is_singleton(p)}
        # A class is often annotated by the path that defines it, not the one the spec uses.
        for c in spec.classes:
            info = facts.data.members.get(c.python_path)
            if info is not None and info.origin and c.python_path in wrapped:
                wrapped.setdefault(info.origin, wrapped[c.python_path])
        self.types = TypeContext(wrapped, facts.data.types, resolve=facts.type_fact)

    def _file_for(self, module: str) -> str:
        """The module's file; two modules whose names read the same (`ReAct`, `React`) fall back to mechanical underscores."""
        file, n = _file_for(module), 2
        if file in self.files:
            file = _file_for(module, names.snake_case)
        while file in self.files:
            file, n = f"{_file_for(module)[: -len('.ex')]}_{n}.ex", n + 1
        self.files.add(file)
        return file

    def _is_singleton(self, path: str) -> bool:
        return any(c.singleton for c in self.spec.classes if c.python_path == path)

    def error(self, line: int, message: str) -> None:
        self.errors.append(SpecError(self.spec.file, line, message))

    # ------------------------------------------------------------ library

    def build(self) -> Library:
        self._check_version()
        modules: dict[str, ElixirModule] = {}
        module_lines: dict[str, int] = {}

        def add_module(m: ElixirModule, line: int) -> None:
            if m.name in modules:
                self.error(line, f"duplicate module {m.name} (first defined at {self.spec.file}:{module_lines[m.name]}); expected a unique elixir_module")
                return
            modules[m.name] = m
            module_lines[m.name] = line

        by_module: dict[str, list[FunctionSpec]] = {}
        for f in self.spec.functions:
            by_module.setdefault(f.elixir_module or self.main_module, []).append(f)
        if self.spec.exports and self.main_module not in by_module:
            by_module[self.main_module] = []
        for module_name, functions in by_module.items():
            line = functions[0].line if functions else self.spec.exports[0].line
            for m in self._split(self._functions_module(module_name, functions), set(self.class_modules.values()) | set(by_module)):
                add_module(m, line)
        for c in self._classes_in_inheritance_order():
            add_module(self._class_module(c), c.elixir_module_line or c.line)
        for m in modules.values():
            m.kernel_excludes = _kernel_excludes(m.functions)
        version = self.facts.data.version
        return Library(self.spec, list(modules.values()), self.warnings, self.skipped, version)

    def _check_version(self) -> None:
        spec = self.spec
        if spec.version is None:
            return
        installed = installed_version(self.facts.module) if self.facts.module is not None else self.facts.data.version
        if installed is None:
            self.warnings.append(f"cannot tell which version of {spec.python_module} is installed; version {spec.version} not checked")
        elif not satisfies(installed, spec.version):
            self.error(spec.version_line, f"version: the spec expects {spec.python_module} {spec.version}, found {installed} installed; update the spec (see `python -m elixir_gen check`)")

    def _classes_in_inheritance_order(self) -> list[ClassSpec]:
        by_key: dict[str, ClassSpec] = {}
        for c in self.spec.classes:
            by_key[c.python_path] = c
            by_key[self.class_modules[c.python_path]] = c
        ordered: list[ClassSpec] = []
        state: dict[str, str] = {}

        def visit(c: ClassSpec, chain: list[str]) -> None:
            if state.get(c.python_path) == "done":
                return
            if state.get(c.python_path) == "visiting":
                cycle = " -> ".join(chain + [self.class_modules[c.python_path]])
                self.error(c.extends_line or c.line, f"extends: found a cycle ({cycle}), expected a chain that ends")
                return
            state[c.python_path] = "visiting"
            if c.extends is not None:
                parent = by_key.get(c.extends)
                if parent is None:
                    known = ", ".join(sorted(self.class_modules.values())) or "none"
                    self.error(c.extends_line, f"extends: found '{c.extends}', expected the Elixir module or Python path of a class of this spec (classes: {known})")
                elif parent.singleton or c.singleton:
                    self.error(c.extends_line, f"extends: found {parent.python_path} and {c.python_path}, expected two classes that are not singletons (a singleton's functions call its own object)")
                else:
                    visit(parent, chain + [self.class_modules[c.python_path]])
            state[c.python_path] = "done"
            ordered.append(c)

        for c in self.spec.classes:
            visit(c, [])
        return ordered

    # ----------------------------------------------------------- modules

    def _functions_module(self, name: str, functions: list[FunctionSpec]) -> ElixirModule:
        is_main = name == self.main_module
        python_path = self.spec.python_module if is_main else (_common_prefix([f.python_path for f in functions]) or self.spec.python_module)
        info, _ = self.facts.get(python_path)
        if is_main and self.spec.description:
            doc = self.spec.description
        else:
            doc = doc_markdown(parse_docstring(info.doc)) if info and info.kind == "module" else ""
        moduledoc = join_doc(doc, f"Wraps the Python module `{python_path}`.")
        module = ElixirModule(name=name, kind=ModuleKind.FUNCTIONS, python_path=python_path, file=self._file_for(name), moduledoc=moduledoc)
        taken = _Names(name, self.spec.file, {"__python_path__": 0})
        for f in functions:
            fn = self._function(f)
            if fn is None:
                continue
            self._add(module, fn, taken, "function", f.elixir_name_line or f.line)
            module.tests.extend(example_tests(self.spec.file, module, fn, f.examples, self.error))
        if is_main and self.spec.exports:
            taken.claim("__exports__", 0, self.errors, "exports")
            for e in self.spec.exports:
                mod, fun = e.function.rsplit(".", 1)
                module.exports.append(ElixirExport(e.name, f"{{{mod}, {names.atom_literal(fun)}, {e.arity}, {names.string_literal(e.name)}}}", e.description))
        return module

    def _split(self, module: ElixirModule, taken_modules: set[str]) -> list[ElixirModule]:
        """A module of more than SPLIT_ABOVE functions, cut by the Python submodule that defines them.

        Elixir compiles a module in one process, and the time grows faster than
        the module (docs/SPEC.md, "File names and size"): each group of at least
        SUBMODULE_FUNCTIONS functions defined under one submodule (`scipy.stats._stats_py`,
        `sympy.polys`) gets its own module with the full functions; the parent keeps a
        one-line function calling each (same name, @spec, summary) so the API does not
        change. Functions of smaller groups, or whose definition is unknown, stay whole.
        """
        if len(module.functions) <= SPLIT_ABOVE:
            return [module]
        groups: dict[str, list[ElixirFunction]] = {}
        for fn in module.functions:
            group = self._defining_submodule(fn.python_target, module.python_path)
            if group is not None:
                groups.setdefault(group, []).append(fn)
        subs: dict[str, ElixirModule] = {}  # function name -> its submodule
        out = [module]
        for group, functions in sorted(groups.items()):
            if len(functions) < SUBMODULE_FUNCTIONS:
                continue
            name = f"{module.name}.{names.derive_module_name(group.lstrip('_'))}"
            if name in taken_modules:
                name += "Functions"
            taken_modules.add(name)
            python_path = f"{module.python_path}.{group}"
            doc = f"The functions of `{module.name}` that Python defines in `{python_path}`, with their full docs; `{module.name}` has each of them too."
            sub = ElixirModule(name=name, kind=ModuleKind.FUNCTIONS, python_path=python_path, file=self._file_for(name), moduledoc=join_doc(doc, f"Wraps functions of the Python module `{python_path}`."))
            sub.functions = functions
            out.append(sub)
            subs.update({fn.name: sub for fn in functions})
        module.functions = [self._forward(fn, subs[fn.name]) if fn.name in subs else fn for fn in module.functions]
        if len(out) > 1:
            listed = ", ".join(f"`{sub.name}`" for sub in out[1:])
            module.moduledoc = join_doc(module.moduledoc, f"Its functions are all here; the full docs of most of them are in the modules of the Python submodules that define them: {listed}.")
        return out

    def _defining_submodule(self, python_path: str, under: str) -> str | None:
        """The first segment below `under` of the module that defines the function at `python_path`."""
        member = self.facts.data.members.get(python_path) if self.facts.enabled else None
        origin = (member.module or (member.origin.rsplit(".", 1)[0] if member.origin else "")) if member is not None else ""
        if not origin.startswith(under + "."):
            return None
        return origin[len(under) + 1 :].split(".", 1)[0]

    @staticmethod
    def _forward(fn: ElixirFunction, sub: ElixirModule) -> ElixirFunction:
        """The parent's one-line function calling `fn` in the submodule it moved to."""
        target = f"{sub.name}.{fn.name}/{fn.arities[-1]}"
        return replace(fn, delegate_to=sub.name, doc=join_doc(summary(fn.doc), f"Defined in `{sub.name}`: see `{target}` for its full docs."))

    def _add(self, module: ElixirModule, fn: ElixirFunction, taken: _Names, what: str, line: int) -> None:
        fn.doc = complete_doc(fn)
        ok = taken.claim(fn.name, line, self.errors, what)
        if ok and fn.bang and fn.mode is Mode.SYNC:
            bang = fn.name + "!"
            if bang in taken.taken or fn.name.endswith("?"):
                fn.bang = False
            else:
                taken.taken[bang] = line
        if ok:
            module.functions.append(fn)

    def _function(self, f: FunctionSpec) -> ElixirFunction | None:
        info, problem = self.facts.get(f.python_path)
        if problem:
            self.error(f.line, f"python_path: {f.python_path} was not found in the installed {self.spec.python_module} ({problem}); expected an existing function")
            return None
        if info is not None and info.kind not in ("function",):
            self.error(f.line, f"python_path: {f.python_path} is a {info.kind}, expected a function (list classes under classes:)")
            return None
        fi = info.function if info else None
        last = f.python_path.rsplit(".", 1)[-1]
        name = f.elixir_name or names.derive_function_name(last)
        mode = _mode(f)
        cache_ttl = None
        c = self.spec.caching
        if c.enabled and mode is Mode.SYNC and (f.cacheable or (f.pure and c.cache_pure_functions)):
            cache_ttl = c.ttl * 1000
        elif f.cacheable and not c.enabled:
            self.warnings.append(f"{self.spec.file}:{f.line}: {f.python_path} is cacheable but caching.enabled is false; not cached")
        transforms = (f.result_transform or self.spec.result_transform, f.error_handler or self.spec.error_handler)
        return self._callable(Wrapped(name, "function", f.python_path, f, fi, self.types, last, mode, cache_ttl_ms=cache_ttl, transforms=transforms))

    def _class_module(self, c: ClassSpec) -> ElixirModule:
        module_name = self.class_modules[c.python_path]
        info, problem = self.facts.get(c.python_path)
        cls_info: ClassInfo | None = None
        if problem:
            self.error(c.line, f"python_path: {c.python_path} was not found in the installed {self.spec.python_module} ({problem}); expected an existing {'object' if c.singleton else 'class'}")
        elif info is not None:
            if c.singleton and info.kind == "class":
                self.error(c.line, f"python_path: {c.python_path} is a class, expected an existing object for singleton: true (or drop singleton)")
            elif not c.singleton and info.kind != "class":
                self.error(c.line, f"python_path: {c.python_path} is a {info.kind}, expected a class (or set singleton: true for an existing object)")
            cls_info = info.cls
        kind = ModuleKind.SINGLETON if c.singleton else ModuleKind.CLASS
        class_doc = parse_docstring(cls_info.doc) if cls_info else ParsedDoc()
        if c.description is not None:
            doc = c.description
        elif class_doc.body or class_doc.params:
            doc = class_doc.body
            if class_doc.params and not c.singleton and c.creatable:
                doc = join_doc(doc, "The constructor's arguments are described at `create/" + "N`.")
        else:
            doc = ""
        sig = ""
        if not c.singleton:
            sig = f"{c.python_path}{signature_text(self._constructor_params(c, cls_info))}"
        where = f" (defined at `{cls_info.source}`)" if cls_info and cls_info.source and not doc else ""
        header = f"Wraps the Python {'object' if c.singleton else 'class'} `{c.python_path}`{where}."
        moduledoc = join_doc(doc, header + (f"\n\n```python\n{sig}\n```" if sig else ""))
        module = ElixirModule(name=module_name, kind=kind, python_path=c.python_path, file=self._file_for(module_name), moduledoc=moduledoc)
        taken = _Names(module_name, self.spec.file, {"__python_path__": 0})
        transforms = (c.result_transform or self.spec.result_transform, c.error_handler or self.spec.error_handler)
        receiver = None if c.singleton else "ref"
        if not c.singleton and c.creatable:
            create = self._create(c, cls_info, module_name, class_doc)
            self._add(module, create, taken, "the constructor", c.line)
            module.moduledoc = module.moduledoc.replace("`create/" + "N`", f"`create/{create.arities[-1]}`")
            module.tests.extend(example_tests(self.spec.file, module, create, c.examples, self.error, session=bool(c.constructor and c.constructor.session_aware)))
        ctx = self.types.with_owner(c.python_path).with_doc_names(cls_info.doc_names if cls_info else {})
        lineage: list[tuple[ClassSpec, str | None]] = [(c, None)] + [(a, self.class_modules[a.python_path]) for a in self._ancestors(c)]
        listed: set[str] = set()
        for owner, inherited_from in lineage:
            for m in owner.methods:
                listed.add(m.name)
                name = m.elixir_name or names.derive_function_name(m.name)
                if inherited_from and (name in taken.taken or (cls_info is not None and m.name not in cls_info.methods)):
                    continue  # overridden (by a method, or by a member that is no method here, like a property)
                fn = self._method(c, m, cls_info, receiver, transforms, ctx)
                if fn is None:
                    continue
                fn.inherited_from = inherited_from
                self._add(module, fn, taken, f"method {m.name}", (m.elixir_name_line or m.line) if not inherited_from else c.extends_line)
                self._delegate(fn)
                if not inherited_from:
                    ctor = self._find(module, "create")
                    module.tests.extend(example_tests(self.spec.file, module, fn, m.examples, self.error, ctor, c.examples, session=bool(c.constructor and c.constructor.session_aware)))
            for p in owner.properties:
                if inherited_from and cls_info is not None and p.name in cls_info.methods:
                    continue  # overridden by a method
                listed.add(p.name)
                for fn in self._property(c, p, cls_info, receiver, ctx):
                    if inherited_from and fn.name in taken.taken:
                        continue
                    fn.inherited_from = inherited_from
                    self._add(module, fn, taken, f"property {p.name}", (p.elixir_name_line or p.line) if not inherited_from else c.extends_line)
                    self._delegate(fn)
        module.tests.extend(attribute_tests(self.spec.file, module, c))
        self._record_skipped(c, cls_info, listed)
        self.class_built[module_name] = module
        return module

    def _delegate(self, fn: ElixirFunction) -> None:
        """An inherited function delegates to the class that lists it when its function there does the same.

        Not one that calls the class itself (a static or class method, called on
        this class), or whose arguments, types or transforms differ here. Its
        doc becomes its summary and a pointer there, unless this class's Python
        member is another one with other docs: a class of a hundred inherited
        methods then costs a few lines per method, not their full docs again.
        """
        origin_module = self.class_built.get(fn.inherited_from or "")
        origin = self._find(origin_module, fn.name) if origin_module else None
        if origin_module is None or origin is None or _behaviour(origin) != _behaviour(fn):
            return
        fn.delegate_to = origin_module.name
        same_python = fn.defined_in is not None and fn.defined_in == origin.defined_in
        if same_python or fn.doc == join_doc(origin.doc, inherited(origin_module.name)):
            target = f"{origin_module.name}.{fn.name}/{fn.arities[-1]}"
            fn.doc = join_doc(summary(origin.doc), f"Inherited from `{origin_module.name}`: see `{target}`.")

    def _record_skipped(self, c: ClassSpec, cls_info: ClassInfo | None, listed: set[str]) -> None:
        """The members of a wrapped class that got no function, with why (for the quality report)."""
        if cls_info is None:
            return
        for name, reason in sorted(cls_info.skipped.items()):
            if name not in listed:
                self.skipped.append(SkippedMember(f"{c.python_path}.{name}", reason))
        for name in sorted(set(cls_info.methods) | set(cls_info.properties)):
            if name not in listed:
                self.skipped.append(SkippedMember(f"{c.python_path}.{name}", "not listed in the spec"))

    def _ancestors(self, c: ClassSpec) -> list[ClassSpec]:
        """The classes `c` extends, nearest first (a cycle was reported when ordering)."""
        by_key = {k: x for x in self.spec.classes for k in (x.python_path, self.class_modules[x.python_path])}
        out: list[ClassSpec] = []
        current = c
        while current.extends is not None and current.extends in by_key:
            parent = by_key[current.extends]
            if parent is c or parent in out:
                break
            out.append(parent)
            current = parent
        return out

    @staticmethod
    def _find(module: ElixirModule, name: str) -> ElixirFunction | None:
        return next((f for f in module.functions if f.name == name), None)

    def _constructor_params(self, c: ClassSpec, cls_info: ClassInfo | None) -> list[Param] | None:
        spec_params = c.constructor.params if c.constructor else None
        return merge_params(spec_params, cls_info.init if cls_info else None)

    def _create(self, c: ClassSpec, cls_info: ClassInfo | None, module_name: str, class_doc: ParsedDoc) -> ElixirFunction:
        ctor = c.constructor
        cs = CallableSpec(line=ctor.line if ctor else c.line, description=ctor.description if ctor else None, params=ctor.params if ctor else None, timeout=ctor.timeout if ctor else None)
        init = cls_info.init if cls_info else None
        # The class docstring documents the constructor's arguments as often as __init__ does.
        extra = class_doc.params
        return self._callable(
            Wrapped(
                "create",
                "create",
                c.python_path,
                cs,
                init,
                self.types.with_owner(c.python_path).with_doc_names(cls_info.doc_names if cls_info else {}),
                "__init__",
                runtime="create",
                value=Typed(HANDLE, "wrapper"),
                default_doc=f"Creates a `{c.python_path}` and returns a handle to it.",
                session_aware=bool(ctor and ctor.session_aware),
                extra_param_docs=extra,
            )
        )

    def _method(self, c: ClassSpec, m: MethodSpec, cls_info: ClassInfo | None, receiver: str | None, transforms: tuple[FunctionRef | None, FunctionRef | None], ctx: TypeContext) -> ElixirFunction | None:
        mi: CallableInfo | None = None
        if cls_info is not None:
            mi = cls_info.methods.get(m.name)
            if mi is None and m.name.startswith("_"):
                # Dunders and private methods are generated only when a spec names them: read it now.
                mi = self.facts.method(c.python_path, m.name)
            if mi is None and self.facts.enabled:
                self.error(m.line, f"methods: {c.python_path} has no public method '{m.name}' in the installed {self.spec.python_module}; expected one of: {_some(cls_info.methods)}")
                return None
        # The spec wins: `static: false` calls a classmethod on the handle (which may be a class itself).
        static = m.static if m.static is not None else (mi is not None and mi.binding in ("classmethod", "staticmethod"))
        name = m.elixir_name or names.derive_function_name(m.name)
        mode = _mode(m)
        path = f"{c.python_path}.{m.name}"
        on_class = receiver is None or static
        own = (m.result_transform or transforms[0], m.error_handler or transforms[1]) if mode is Mode.SYNC else (None, None)
        wrapped = Wrapped(name, "method", path, m, mi, ctx, m.name, mode, runtime="call" if on_class else "method", receiver=None if on_class else receiver, transforms=own)
        if m.name in names.OPERATORS and not on_class:
            # `a + b` is `operator.add(a, b)`: the object is the first operand.
            op = names.OPERATORS[m.name]
            wrapped.runtime, wrapped.operator = "call", f"operator.{op}"
            # Most operators have no docstring: say what Python computes, with the object as `a`.
            binary = len(names.OPERATOR_SYNTAX[op].split()) == 3
            wrapped.default_doc = f"`{names.OPERATOR_SYNTAX[op]}` in Python, with this object as `a`" + (
                f" (`operator.{op}(a, b)`: when `a` does not handle `b`, Python tries `b`'s reflected operator)." if binary else f" (`operator.{op}(a)`)."
            )
        elif m.name in names.BUILTIN_DUNDERS and not on_class and mode is Mode.SYNC:
            builtin, result = names.BUILTIN_DUNDERS[m.name]
            wrapped.runtime, wrapped.operator = "call", builtin
            if not m.returns and own == (None, None):
                wrapped.value = Typed(map_annotation(result).type, "wrapper")
        return self._callable(wrapped)

    def _property(self, c: ClassSpec, p: Any, cls_info: ClassInfo | None, receiver: str | None, ctx: TypeContext) -> list[ElixirFunction]:
        pi: PropertyInfo | None = cls_info.properties.get(p.name) if cls_info else None
        # An instance attribute (set in __init__ or by a method) cannot be seen on the class; the class
        # docstring's Attributes section may describe it.
        documented = parse_docstring(cls_info.doc).attributes.get(p.name) if cls_info is not None and pi is None else None
        # An instance attribute the class body annotates (`message: str`) has that type.
        declared = cls_info.annotations.get(p.name) if cls_info is not None and pi is None else None
        if cls_info is not None and pi is None and p.type is None and not declared and not (documented and documented.type):
            self.warnings.append(f"{self.spec.file}:{p.line}: {c.python_path}.{p.name} is not a property of the class (an instance attribute?); its type is term()")
        annotation = p.type or (pi.annotation if pi else None) or declared
        source = "spec" if p.type else "annotation"
        doc_type = documented.type if documented else None
        if doc_type is None and pi is not None and pi.doc:
            # A property documented like a function: its Returns section.
            returns = parse_docstring(pi.doc).returns
            doc_type = returns.type if returns else None
        get_type = position_type(annotation, source, None, doc_type, None, Position.RESULT, ctx)
        set_type = position_type(annotation, source, None, doc_type, None, Position.ARG, ctx)
        readonly = p.readonly or bool(pi and pi.readonly)
        name = p.elixir_name or names.derive_function_name(p.name)
        described = p.description is not None or bool(pi and pi.doc) or bool(documented and documented.description)
        if p.description is not None:
            doc = p.description
        elif documented is not None:
            doc = documented.description
        else:
            doc = doc_markdown(parse_docstring(pi.doc if pi else None))
        path_text = f"{c.python_path}.{p.name}"
        params = [ElixirParam("ref", Typed(HANDLE, "wrapper"), "self")] if receiver else []
        # With a handle the attribute is the handle's; a singleton's is the object's at its path.
        owner = p.name if receiver else c.python_path
        get_call = PythonCall("attr", owner, receiver, attribute=p.name)
        set_call = PythonCall("set_attr", owner, receiver, attribute=p.name)
        tele = self.spec.telemetry
        prefix = list(tele.event_prefix) if tele.enabled else None
        getter = ElixirFunction(
            name=name,
            kind="getter",
            python_target=path_text,
            python_signature=f"{p.name}" + (f": {annotation}" if annotation else ""),
            doc=join_doc(doc, f"Reads the Python attribute `{p.name}`."),
            params=params,
            options=[],
            accepts_any_keyword=False,
            prelude=Prelude(),
            call=get_call,
            value=get_type,
            telemetry_prefix=prefix,
            line=p.line,
            python_name=p.name,
            defined_in=pi.defined_in if pi else None,
            described=described,
        )
        out = [getter]
        if not readonly:
            setter_name = "set_" + name.rstrip("?!")
            out.append(
                ElixirFunction(
                    name=setter_name,
                    kind="setter",
                    python_target=path_text,
                    python_signature=f"{p.name} = value",
                    doc=f"Sets the Python attribute `{p.name}`.",
                    params=params + [ElixirParam("value", set_type, "value")],
                    options=[],
                    accepts_any_keyword=False,
                    prelude=Prelude(),
                    call=set_call,
                    value=Typed(NIL, "wrapper"),
                    telemetry_prefix=prefix,
                    line=p.line,
                    python_name=p.name,
                    defined_in=pi.defined_in if pi else None,
                )
            )
        return out

    # --------------------------------------------------------- callables

    def _callable(self, w: Wrapped) -> ElixirFunction:
        """The generated function for a function, method or constructor."""
        cs, info = w.spec, w.info
        if info is not None and info.doc_names:
            w.ctx = w.ctx.with_doc_names(info.doc_names)
        params = merge_params(cs.params, info)
        known = params is not None
        plist = params if params is not None else GENERIC_PARAMS
        parsed = parse_docstring(info.doc if info else None)
        param_docs = {**w.extra_param_docs, **parsed.params}
        plan = plan_call(plist, w.ctx, w.receiver, STREAM_OPTIONS if w.mode is Mode.STREAM else RUNTIME_OPTIONS, param_docs)
        transform, handler = w.transforms
        returns = cs.returns or (info.returns if info else None)
        value = w.value
        if value is None:
            if transform:
                value = Typed(TERM, "transform")
            else:
                source = "spec" if cs.returns else "annotation"
                stub = info.returns_stub if info and not cs.returns else None
                doc_type = parsed.returns.type if parsed.returns and not cs.returns else None
                code = info.returns_code if info and not cs.returns else None
                value = position_type(returns, source, stub, doc_type, None, Position.RESULT, w.ctx, streaming=w.mode is Mode.STREAM, code=code)
        # The signature as Python would print it, with the annotations resolved.
        signature = signature_text(params) if params is not None else (names.without_addresses(info.signature) if info and info.signature else "(*args, **kwargs)")
        short = w.target.rsplit(".", 1)[-1]
        py_sig = f"{short}{signature}" + (f" -> {returns}" if returns and w.kind != "create" else "")
        described = cs.description is not None or bool(parsed.body.strip())
        description = cs.description if cs.description is not None else parsed.body
        doc = description or w.default_doc
        if not described and not w.default_doc:
            where = f", defined at `{info.source}`" if info and info.source else ""
            doc = f"Calls `{w.target}` (it has no Python docstring{where})."
        if not known:
            doc = join_doc(doc, "The Python signature could not be read: pass the positional arguments as one list, keywords in `opts`.")
        prelude = plan.prelude
        if plan.positional_options:
            # Python takes them by position too; here they are keywords: say so instead of a FunctionClauseError.
            first = plan.positional_options[0]
            example = ", ".join([p.var for p in plan.params] + [f"{first}: ..."])
            taken = ", ".join(plan.positional_options)
            prelude.keywords_only = f"{w.name}: the optional Python arguments ({taken}) go in the keyword list, as in {w.name}({example}); found: "
        if plan.args.splat:
            # `[x] ++ not_a_list` is an improper list that fails deep in the runtime: say how to call it instead.
            splat = next(p for p in plan.params if p.var == plan.args.splat)
            example = ", ".join(p.var if p.var != splat.var else "[...]" for p in plan.params)
            prelude.list_only = (splat.var, f"{w.name}: the Python positional arguments ({splat.python_name}) go in one list, as in {w.name}({example}); found: ")
        prelude.timeout = cs.timeout
        prelude.session_for = w.target if w.session_aware else None
        # A method on a handle is named by its attribute name; everything else by its dotted path.
        call_target = w.python_name if w.runtime == "method" else w.operator or w.target
        runtime = "stream" if w.mode is Mode.STREAM else w.runtime
        call = PythonCall(runtime, call_target, w.receiver, plan.args, plan.kwargs, async_=w.mode is Mode.ASYNC)
        if w.operator and w.receiver:
            call.receiver, call.args.vars = None, [w.receiver, *call.args.vars]
        tele = self.spec.telemetry
        return ElixirFunction(
            name=w.name,
            kind=w.kind,
            python_target=w.target,
            python_signature=py_sig,
            doc=doc,
            params=plan.params,
            options=plan.options,
            accepts_any_keyword=plan.any_keyword,
            prelude=prelude,
            call=call,
            value=value,
            mode=w.mode,
            cache_ttl_ms=w.cache_ttl_ms,
            result_transform=str(transform) if transform else None,
            error_handler=str(handler) if handler else None,
            telemetry_prefix=list(tele.event_prefix) if tele.enabled and w.mode is Mode.SYNC else None,
            line=cs.line,
            python_name=w.python_name,
            defined_in=info.defined_in if info else None,
            described=described,
            returns_doc=returns_text(None, parsed.returns.description) if parsed.returns and parsed.returns.description else None,
            raises_doc=[(r.name, r.description) for r in parsed.raises],
            extra_docs=[(k, d.description) for k, d in param_docs.items() if k not in {p.name for p in plist} and d.description],
            any_keyword_doc=next((param_docs[p.name].description for p in plist if p.kind is ParamKind.VAR_KEYWORD and p.name in param_docs and param_docs[p.name].description), None),
        )


def _behaviour(fn: ElixirFunction) -> tuple[Any, ...]:
    """What a function does and its @spec says: all but its doc and telemetry metadata (which name its own module)."""
    return (
        fn.kind,
        fn.mode,
        fn.bang,
        fn.has_opts,
        fn.accepts_any_keyword,
        fn.call,
        fn.prelude,
        tuple((p.var, p.type) for p in fn.params),
        tuple((o.key, o.type) for o in fn.options),
        fn.value_type,
        fn.result_transform,
        fn.error_handler,
        fn.telemetry_prefix,
        (fn.cache_ttl_ms, fn.python_target) if fn.cache_ttl_ms else None,
    )


def _mode(c: CallableSpec) -> Mode:
    # Iterating is all `__iter__` does: it is always a stream.
    iterates = isinstance(c, MethodSpec) and c.name == "__iter__"
    return Mode.STREAM if c.streaming or iterates else Mode.ASYNC if c.async_ else Mode.SYNC


def _some(items: Iterable[str]) -> str:
    items = sorted(items)
    return ", ".join(items[:12]) + (", …" if len(items) > 12 else "") if items else "none"


def _common_prefix(paths: list[str]) -> str:
    parents = [p.rsplit(".", 1)[0] for p in paths]
    return parents[0] if parents and all(p == parents[0] for p in parents) else ""


def _file_for(module: str, stem: Callable[[str], str] = names.file_stem) -> str:
    """`DSPex.MIPROv2` -> `dspex/miprov2.ex`: each segment named as a person would."""
    return "/".join(stem(part) for part in module.split(".")) + ".ex"


def _kernel_excludes(functions: list[ElixirFunction]) -> list[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for fn in functions:
        for arity in fn.arities:
            for name in [fn.name] + ([fn.name + "!"] if fn.bang and fn.mode is Mode.SYNC else []):
                if (name, arity) in names.KERNEL_IMPORTS:
                    out.add((name, arity))
    return sorted(out)


def build_library(spec: Spec, refresh: bool = False) -> Library:
    """The Elixir model of a spec; raises `SpecErrors` with every problem found."""
    facts = Facts(spec, refresh)
    builder = Builder(spec, facts)
    library = builder.build()
    if builder.errors:
        raise SpecErrors(sorted(builder.errors, key=lambda e: e.line))
    facts.save()
    return library
