"""Spec (+ introspection) -> the Elixir layer of the model.

This is where every name, type and literal of the generated code is decided:
Elixir names are derived or checked, Python signatures become positional
parameters plus keyword options, annotations become typespecs, and
duplicates across a module are reported as spec errors.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from . import names
from .docstrings import ParsedDoc, doc_type_annotation, item_line, parse_docstring, returns_text
from .introspect import CallableInfo, ClassInfo, Introspection, Introspector, MemberInfo, PropertyInfo, introspect_path, load_cache, save_cache
from .model import (
    CallableSpec,
    ClassSpec,
    ElixirCode,
    ElixirExport,
    ElixirFunction,
    ElixirModule,
    ElixirOption,
    ElixirParam,
    ElixirTest,
    Example,
    FunctionRef,
    FunctionSpec,
    Library,
    MethodSpec,
    Mode,
    ModuleKind,
    Param,
    ParamKind,
    Spec,
    SkippedMember,
    SpecError,
    SpecErrors,
    Typed,
)
from .types import ANY_LIST, NIL, REF, TERM, ListOf, Mapped, Named, Position, StreamOf, TypeContext, TypeFact, default_type, is_none_default, map_annotation, union
from .versions import installed_version, satisfies

# Options every generated function hands to the runtime rather than to Python.
RUNTIME_OPTIONS = ("pool", "session", "timeout")
STREAM_OPTIONS = ("pool", "session", "timeout", "window")
# Variables the generated bodies use themselves; parameters get other names.
INTERNAL_VARIABLES = frozenset({"opts", "kwargs", "positional", "ref", "value", "error", "result"})

_KINDS = {
    "POSITIONAL_ONLY": ParamKind.POSITIONAL_ONLY,
    "POSITIONAL_OR_KEYWORD": ParamKind.POSITIONAL,
    "KEYWORD_ONLY": ParamKind.KEYWORD_ONLY,
    "VAR_POSITIONAL": ParamKind.VAR_POSITIONAL,
    "VAR_KEYWORD": ParamKind.VAR_KEYWORD,
}
_GENERIC_PARAMS = [Param("args", ParamKind.VAR_POSITIONAL), Param("kwargs", ParamKind.VAR_KEYWORD, required=False)]


def default_cache_path(spec: Spec) -> Path:
    """Where a spec's introspection cache lives (relative paths are against the spec's folder)."""
    return Path(spec.base_dir) / (spec.introspection.cache or f".cache/{spec.python_module}.introspection.json")


class Facts:
    """Introspection facts for the paths a spec names: from the cache, else from the live library."""

    def __init__(self, spec: Spec, refresh: bool = False) -> None:
        self.spec = spec
        self.enabled = spec.introspection.enabled
        self.path = default_cache_path(spec)
        cached = None if refresh or not self.enabled else load_cache(self.path)
        if cached is not None and cached.python_module != spec.python_module:
            cached = None
        self.data = cached or Introspection(spec.python_module, None, "")
        self.dirty = False
        self._missing: set[str] = set()
        self.module: Any = None
        self.import_error: str | None = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.module = importlib.import_module(spec.python_module)
            except Exception as exc:  # the cache may still be enough
                self.import_error = f"{type(exc).__name__}: {exc}"
        if self.module is not None and (cached is None or not self.data.version):
            import sys

            self.data.version = installed_version(self.module)
            self.data.python = ".".join(str(p) for p in sys.version_info[:3])
            self.dirty = self.enabled

    def get(self, path: str) -> tuple[MemberInfo | None, str | None]:
        """(facts, None), or (None, why not) — (None, None) when introspection is off."""
        if not self.enabled:
            return None, None
        if path in self.data.members:
            return self.data.members[path], None
        if self.module is None:
            return None, f"{self.spec.python_module} cannot be imported ({self.import_error}) and the cache has no entry"
        try:
            info = introspect_path(path, self.spec.introspection.exclude, self.data.types)
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"
        self.data.members[path] = info
        self.dirty = True
        return info, None

    def type_fact(self, name: str) -> TypeFact | None:
        """What is known about a class an annotation names: from the cache, else read from the library."""
        if name in self.data.types:
            return self.data.types[name]
        if self.module is None or not self.enabled or "." not in name or name in self._missing:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fact = Introspector(self.spec.introspection.exclude, self.data.types).type_fact(name)
        if fact is None:
            self._missing.add(name)
        else:
            self.data.types.setdefault(name, fact)
            self.dirty = True
        return fact

    def save(self) -> None:
        if self.enabled and self.dirty:
            save_cache(self.path, self.data)
            self.dirty = False


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
            add_module(self._functions_module(module_name, functions), line)
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
            doc = _doc_markdown(parse_docstring(info.doc)) if info and info.kind == "module" else ""
        moduledoc = _join_doc(doc, f"Wraps the Python module `{python_path}`.")
        module = ElixirModule(name=name, kind=ModuleKind.FUNCTIONS, python_path=python_path, file=_file_for(name), moduledoc=moduledoc)
        taken = _Names(name, self.spec.file, {"__python_path__": 0})
        for f in functions:
            fn = self._function(f)
            if fn is None:
                continue
            self._add(module, fn, taken, "function", f.elixir_name_line or f.line)
            module.tests.extend(self._tests(module, fn, f.examples, []))
        if is_main and self.spec.exports:
            taken.claim("__exports__", 0, self.errors, "exports")
            for e in self.spec.exports:
                mod, fun = e.function.rsplit(".", 1)
                module.exports.append(ElixirExport(e.name, f"{{{mod}, {names.atom_literal(fun)}, {e.arity}, {names.string_literal(e.name)}}}", e.description))
        return module

    def _add(self, module: ElixirModule, fn: ElixirFunction, taken: _Names, what: str, line: int) -> None:
        fn.doc = _complete_doc(fn)
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
        return self._callable(
            name=name,
            kind="function",
            target=f.python_path,
            target_literal=names.string_literal(f.python_path),
            cs=f,
            info=fi,
            mode=mode,
            receiver=None,
            runtime="call",
            cache_ttl_ms=cache_ttl,
            transforms=(f.result_transform or self.spec.result_transform, f.error_handler or self.spec.error_handler),
            python_name=last,
            ctx=self.types,
        )

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
                doc = _join_doc(doc, "The constructor's arguments are described at `create/" + "N`.")
        else:
            doc = ""
        sig = ""
        if not c.singleton:
            sig = f"{c.python_path}{_signature_text(self._constructor_params(c, cls_info))}"
        where = f" (defined at `{cls_info.source}`)" if cls_info and cls_info.source and not doc else ""
        header = f"Wraps the Python {'object' if c.singleton else 'class'} `{c.python_path}`{where}."
        moduledoc = _join_doc(doc, header + (f"\n\n```python\n{sig}\n```" if sig else ""))
        module = ElixirModule(name=module_name, kind=kind, python_path=c.python_path, file=_file_for(module_name), moduledoc=moduledoc)
        taken = _Names(module_name, self.spec.file, {"__python_path__": 0})
        transforms = (c.result_transform or self.spec.result_transform, c.error_handler or self.spec.error_handler)
        receiver = None if c.singleton else "ref"
        if not c.singleton and c.creatable:
            create = self._create(c, cls_info, module_name, class_doc)
            self._add(module, create, taken, "the constructor", c.line)
            module.moduledoc = module.moduledoc.replace("`create/" + "N`", f"`create/{create.arities[-1]}`")
            module.tests.extend(self._tests(module, create, c.examples, [], session=bool(c.constructor and c.constructor.session_aware)))
        ctx = self.types.with_owner(c.python_path)
        lineage: list[tuple[ClassSpec, str | None]] = [(c, None)] + [(a, self.class_modules[a.python_path]) for a in self._ancestors(c)]
        listed: set[str] = set()
        for owner, inherited_from in lineage:
            for m in owner.methods:
                listed.add(m.name)
                name = m.elixir_name or names.derive_function_name(m.name)
                if inherited_from and name in taken.taken:
                    continue  # overridden
                fn = self._method(c, m, cls_info, receiver, transforms, ctx)
                if fn is None:
                    continue
                fn.inherited_from = inherited_from
                self._add(module, fn, taken, f"method {m.name}", (m.elixir_name_line or m.line) if not inherited_from else c.extends_line)
                self._delegate(fn)
                if not inherited_from:
                    ctor = self._find(module, "create")
                    module.tests.extend(self._tests(module, fn, m.examples, [ctor] if ctor else [], c.examples, session=bool(c.constructor and c.constructor.session_aware)))
            for p in owner.properties:
                listed.add(p.name)
                for fn in self._property(c, p, cls_info, receiver, ctx):
                    if inherited_from and fn.name in taken.taken:
                        continue
                    fn.inherited_from = inherited_from
                    self._add(module, fn, taken, f"property {p.name}", (p.elixir_name_line or p.line) if not inherited_from else c.extends_line)
                    self._delegate(fn)
        module.tests.extend(self._attribute_tests(module, c))
        self._record_skipped(c, cls_info, listed)
        self.class_built[module_name] = module
        return module

    def _delegate(self, fn: ElixirFunction) -> None:
        """An inherited function delegates to the class that lists it when its function there does the same.

        Not one that calls the class itself (a static or class method, called on
        this class), or whose arguments, types or transforms differ here. Its
        doc becomes a pointer there, unless this class's Python docs differ.
        """
        origin_module = self.class_built.get(fn.inherited_from or "")
        origin = self._find(origin_module, fn.name) if origin_module else None
        if origin_module is None or origin is None or _behaviour(origin) != _behaviour(fn):
            return
        fn.delegate_to = origin_module.name
        if fn.doc == _join_doc(origin.doc, _inherited(origin_module.name)):
            target = f"{origin_module.name}.{fn.name}/{fn.arities[-1]}"
            fn.doc = _join_doc(_summary(origin.doc), f"Inherited from `{origin_module.name}`: see `{target}`.")

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
        return _merge_params(spec_params, cls_info.init if cls_info else None)

    def _create(self, c: ClassSpec, cls_info: ClassInfo | None, module_name: str, class_doc: ParsedDoc) -> ElixirFunction:
        ctor = c.constructor
        cs = CallableSpec(line=ctor.line if ctor else c.line, description=ctor.description if ctor else None, params=ctor.params if ctor else None, timeout=ctor.timeout if ctor else None)
        init = cls_info.init if cls_info else None
        # The class docstring documents the constructor's arguments as often as __init__ does.
        extra = class_doc.params
        fn = self._callable(
            name="create",
            kind="create",
            target=c.python_path,
            target_literal=names.string_literal(c.python_path),
            cs=cs,
            info=init,
            mode=Mode.SYNC,
            receiver=None,
            runtime="create",
            cache_ttl_ms=None,
            transforms=(None, None),
            value=Typed(_T, "wrapper"),
            default_doc=f"Creates a `{c.python_path}` and returns a handle to it.",
            session_aware=bool(ctor and ctor.session_aware),
            python_name="__init__",
            ctx=self.types.with_owner(c.python_path),
            extra_param_docs=extra,
        )
        return fn

    def _method(self, c: ClassSpec, m: MethodSpec, cls_info: ClassInfo | None, receiver: str | None, transforms: tuple[FunctionRef | None, FunctionRef | None], ctx: TypeContext) -> ElixirFunction | None:
        mi: CallableInfo | None = None
        if cls_info is not None:
            mi = cls_info.methods.get(m.name)
            if mi is None and self.facts.enabled:
                self.error(m.line, f"methods: {c.python_path} has no public method '{m.name}' in the installed {self.spec.python_module}; expected one of: {_some(cls_info.methods)}")
                return None
        # The spec wins: `static: false` calls a classmethod on the handle (which may be a class itself).
        static = m.static if m.static is not None else (mi is not None and mi.binding in ("classmethod", "staticmethod"))
        name = m.elixir_name or names.derive_function_name(m.name)
        mode = _mode(m)
        path = f"{c.python_path}.{m.name}"
        if receiver is None or static:
            target_literal, runtime, recv = names.string_literal(path), "call", None
        else:
            target_literal, runtime, recv = names.string_literal(m.name), "method", receiver
        return self._callable(
            name=name,
            kind="method",
            target=path,
            target_literal=target_literal,
            cs=m,
            info=mi,
            mode=mode,
            receiver=recv,
            runtime=runtime,
            cache_ttl_ms=None,
            transforms=(m.result_transform or transforms[0], m.error_handler or transforms[1]) if mode is Mode.SYNC else (None, None),
            python_name=m.name,
            ctx=ctx,
        )

    def _property(self, c: ClassSpec, p: Any, cls_info: ClassInfo | None, receiver: str | None, ctx: TypeContext) -> list[ElixirFunction]:
        pi: PropertyInfo | None = cls_info.properties.get(p.name) if cls_info else None
        if cls_info is not None and pi is None and p.type is None:
            # Instance attributes set in __init__ cannot be seen on the class; trust the spec.
            self.warnings.append(f"{self.spec.file}:{p.line}: {c.python_path}.{p.name} is not a property of the class (an instance attribute?); its type is term()")
        annotation = p.type or (pi.annotation if pi else None)
        source = "spec" if p.type else "annotation"
        get_type = self._typed(annotation, source, None, None, None, Position.RESULT, ctx)
        set_type = self._typed(annotation, source, None, None, None, Position.ARG, ctx)
        readonly = p.readonly or bool(pi and pi.readonly)
        name = p.elixir_name or names.derive_function_name(p.name)
        described = p.description is not None or bool(pi and pi.doc)
        doc = p.description if p.description is not None else _doc_markdown(parse_docstring(pi.doc if pi else None))
        path_text = f"{c.python_path}.{p.name}"
        if receiver:
            params = [ElixirParam("ref", Typed(_T, "wrapper"), "self")]
            get_call = f"PyBridge.attr(ref, {names.string_literal(p.name)}, opts)"
            set_call = f"PyBridge.set_attr(ref, {names.string_literal(p.name)}, value, opts)"
        else:
            params = []
            get_call = f"PyBridge.attr({names.string_literal(c.python_path)}, {names.string_literal(p.name)}, opts)"
            parent, _, last = c.python_path.rpartition(".")
            set_call = (
                f"with {{:ok, ref}} <- PyBridge.attr({names.string_literal(parent)}, {names.string_literal(last)}, opts) do\n"
                f"PyBridge.set_attr(ref, {names.string_literal(p.name)}, value, opts)\nend"
            )
        tele = self.spec.telemetry
        prefix = "[" + ", ".join(names.atom_literal(x) for x in tele.event_prefix) + "]" if tele.enabled else None
        getter = ElixirFunction(
            name=name,
            kind="getter",
            python_target=path_text,
            python_signature=f"{p.name}" + (f": {annotation}" if annotation else ""),
            doc=_join_doc(doc, f"Reads the Python attribute `{p.name}`."),
            params=params,
            options=[],
            accepts_any_keyword=False,
            prelude=[],
            call=get_call,
            value=get_type,
            telemetry_prefix=prefix,
            telemetry_metadata=f"%{{python: {names.string_literal(path_text)}, module: __MODULE__, function: {names.atom_literal(name)}}}",
            line=p.line,
            python_name=p.name,
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
                    prelude=[],
                    call=set_call,
                    value=Typed(NIL, "wrapper"),
                    telemetry_prefix=prefix,
                    telemetry_metadata=f"%{{python: {names.string_literal(path_text)}, module: __MODULE__, function: {names.atom_literal(setter_name)}}}",
                    line=p.line,
                    python_name=p.name,
                )
            )
        return out

    # ------------------------------------------------------------- types

    def _typed(
        self,
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
        candidates = [(annotation, source), (stub, "stub"), (doc_type_annotation(doc_type), "docstring"), (code, "code")]
        for text, src in candidates:
            if not text:
                continue
            m: Mapped = map_annotation(text, ctx, pos, streaming)
            says_nothing = m.type.is_term or (isinstance(m.type, StreamOf) and m.type.elem.is_term)
            if not says_nothing or src == "spec" or (m.lost is None and src in ("annotation", "stub")):
                t = m.type
                if pos is Position.ARG and is_none_default(default):
                    t = union(t, NIL)
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

    # --------------------------------------------------------- callables

    def _callable(
        self,
        *,
        name: str,
        kind: str,
        target: str,
        target_literal: str,
        cs: CallableSpec,
        info: CallableInfo | None,
        mode: Mode,
        receiver: str | None,
        runtime: str,
        cache_ttl_ms: int | None,
        transforms: tuple[FunctionRef | None, FunctionRef | None],
        python_name: str,
        ctx: TypeContext,
        value: Typed | None = None,
        default_doc: str = "",
        session_aware: bool = False,
        extra_param_docs: dict[str, Any] | None = None,
    ) -> ElixirFunction:
        params = _merge_params(cs.params, info)
        known = params is not None
        plist = params if params is not None else _GENERIC_PARAMS
        parsed = parse_docstring(info.doc if info else None)
        param_docs = {**(extra_param_docs or {}), **parsed.params}
        plan = self._plan(plist, ctx, receiver, STREAM_OPTIONS if mode is Mode.STREAM else RUNTIME_OPTIONS, param_docs)
        transform, handler = transforms
        returns = cs.returns or (info.returns if info else None)
        if value is None:
            if transform:
                value = Typed(TERM, "transform")
            else:
                source = "spec" if cs.returns else "annotation"
                stub = info.returns_stub if info and not cs.returns else None
                doc_type = parsed.returns.type if parsed.returns and not cs.returns else None
                code = info.returns_code if info and not cs.returns else None
                value = self._typed(returns, source, stub, doc_type, None, Position.RESULT, ctx, streaming=mode is Mode.STREAM, code=code)
        # The signature as Python would print it, with the annotations resolved.
        signature = _signature_text(params) if params is not None else (info.signature if info and info.signature else "(*args, **kwargs)")
        short = target.rsplit(".", 1)[-1]
        py_sig = f"{short}{signature}" + (f" -> {returns}" if returns and kind != "create" else "")
        described = cs.description is not None or bool(parsed.body.strip())
        description = cs.description if cs.description is not None else parsed.body
        doc = description or default_doc
        if not described and not default_doc:
            where = f", defined at `{info.source}`" if info and info.source else ""
            doc = f"Calls `{target}` (it has no Python docstring{where})."
        if not known:
            doc = _join_doc(doc, "The Python signature could not be read: pass the positional arguments as one list, keywords in `opts`.")
        prelude = list(plan.prelude)
        if cs.timeout:
            prelude.append(f"opts = Keyword.put_new(opts, :timeout, {cs.timeout:_})")
        if session_aware:
            prelude.append(
                "unless Keyword.has_key?(opts, :session) do\n"
                f'raise ArgumentError, "{_escape_in_string(target)} objects live in a session: pass session: session (see PyBridge.with_session/2)"\nend'
            )
        runtime_opts = "Keyword.put(opts, :async, true)" if mode is Mode.ASYNC else "opts"
        if mode is Mode.STREAM:
            stream_target = f"{{{receiver}, {target_literal}}}" if receiver else target_literal
            call = f"PyBridge.stream({stream_target}, {plan.args}, {plan.kwargs}, opts)"
        elif runtime == "method":
            call = f"PyBridge.method({receiver}, {target_literal}, {plan.args}, {plan.kwargs}, {runtime_opts})"
        else:
            call = f"PyBridge.{runtime}({target_literal}, {plan.args}, {plan.kwargs}, {runtime_opts})"
        tele = self.spec.telemetry
        return ElixirFunction(
            name=name,
            kind=kind,
            python_target=target,
            python_signature=py_sig,
            doc=doc,
            params=plan.params,
            options=plan.options,
            accepts_any_keyword=plan.any_keyword,
            prelude=prelude,
            call=call,
            value=value,
            mode=mode,
            cache_ttl_ms=cache_ttl_ms,
            cache_key=f"{{{names.string_literal(target)}, {plan.args}, {plan.kwargs}}}",
            result_transform=str(transform) if transform else None,
            error_handler=str(handler) if handler else None,
            telemetry_prefix="[" + ", ".join(names.atom_literal(p) for p in tele.event_prefix) + "]" if tele.enabled and mode is Mode.SYNC else None,
            telemetry_metadata=f"%{{python: {names.string_literal(target)}, module: __MODULE__, function: {names.atom_literal(name)}}}",
            line=cs.line,
            python_name=python_name,
            described=described,
            returns_doc=returns_text(None, parsed.returns.description) if parsed.returns and parsed.returns.description else None,
            raises_doc=[(r.name, r.description) for r in parsed.raises],
            extra_docs=[(k, d.description) for k, d in param_docs.items() if k not in {p.name for p in plist} and d.description],
            any_keyword_doc=next((param_docs[p.name].description for p in plist if p.kind is ParamKind.VAR_KEYWORD and p.name in param_docs and param_docs[p.name].description), None),
        )

    def _plan(self, params: list[Param], ctx: TypeContext, receiver: str | None, runtime_options: tuple[str, ...], docs: dict[str, Any]) -> _Plan:
        """How a Python signature is called from Elixir.

        Required positional (and required keyword-only) parameters become Elixir
        parameters; optional ones are keywords in `opts`, next to the runtime's
        own options; `*args` is one list parameter; `**kwargs` lets any other
        keyword through.
        """
        out = _Plan([], [], False, [], "[]", "[]")
        taken = set(INTERNAL_VARIABLES)
        if receiver:
            out.params.append(ElixirParam(receiver, Typed(_T, "wrapper"), "self"))
        positional: list[str] = []
        splat: str | None = None
        posonly_optional: list[ElixirOption] = []
        kw_required: list[tuple[str, str]] = []

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
            typed = self._typed(p.annotation, p.source, p.stub, doc_type, p.default if not p.required else None, Position.ARG, ctx)
            if p.kind is ParamKind.VAR_KEYWORD:
                out.any_keyword = True
            elif p.kind is ParamKind.VAR_POSITIONAL:
                splat = var_for(p.name)
                element = typed.etype
                out.params.append(ElixirParam(splat, Typed(ANY_LIST if element.is_term else ListOf(element), typed.source, typed.python_typed, typed.lost), "*" + p.name, description))
            elif p.required:
                var = var_for(p.name)
                out.params.append(ElixirParam(var, typed, p.name, description))
                if p.kind is ParamKind.KEYWORD_ONLY:
                    kw_required.append((p.name, var))
                else:
                    positional.append(var)
            else:
                option = ElixirOption(names.atom_literal(p.name), p.name, typed, p.default, description)
                (posonly_optional if p.kind is ParamKind.POSITIONAL_ONLY else out.options).append(option)
        if posonly_optional:
            keys = "[" + ", ".join(o.key for o in posonly_optional) + "]"
            out.prelude.append(f"{{positional, opts}} = Keyword.split(opts, {keys})")
        named = [o.python_name for o in out.options]
        if out.any_keyword:
            runtime = [names.atom_literal(r) for r in runtime_options if r not in named]
            out.prelude.append(f"{{opts, kwargs}} = Keyword.split(opts, [{', '.join(runtime)}])")
            kwargs = "kwargs"
        elif out.options:
            out.prelude.append(f"{{kwargs, opts}} = Keyword.split(opts, [{', '.join(o.key for o in out.options)}])")
            kwargs = "kwargs"
        else:
            kwargs = "[]"
        if kw_required:
            literal = "[" + ", ".join(f"{_keyword_key(k)} {v}" for k, v in kw_required) + "]"
            kwargs = literal if kwargs == "[]" else f"{literal} ++ {kwargs}"
        parts: list[str] = []
        if positional or not (posonly_optional or splat):
            parts.append("[" + ", ".join(positional) + "]")
        if posonly_optional:
            keys = "[" + ", ".join(o.key for o in posonly_optional) + "]"
            parts.append(f"Enum.map(Enum.take_while({keys}, &Keyword.has_key?(positional, &1)), &Keyword.fetch!(positional, &1))")
        if splat:
            parts.append(splat)
        out.args = " ++ ".join(parts)
        out.kwargs = kwargs
        out.options = posonly_optional + out.options
        return out

    # ------------------------------------------------------------- tests

    def _tests(self, module: ElixirModule, fn: ElixirFunction, examples: list[Example], setup_fns: list[ElixirFunction], class_examples: list[Example] | None = None, session: bool = False) -> list[ElixirTest]:
        """One smoke test per example; `session`: the class's objects live in a session, so the test opens one."""
        out: list[ElixirTest] = []
        user_params = [p for p in fn.params if not p.is_receiver]
        for n, ex in enumerate(examples, 1):
            if fn.kind == "create":
                # A class's own examples describe the constructor call.
                ex = replace(ex, args=ex.constructor_args or ex.args, kwargs=ex.constructor_kwargs or ex.kwargs, constructor_args=[], constructor_kwargs={})
            if len(ex.args) != len(user_params):
                expected = ", ".join(p.var for p in user_params) or "none"
                self.error(ex.line, f"examples: found {len(ex.args)} args, expected {len(user_params)} ({expected}); optional Python arguments go in kwargs")
                continue
            unknown = [k for k in ex.kwargs if not fn.accepts_any_keyword and k not in {o.python_name for o in fn.options}]
            if unknown:
                self.error(ex.line, f"examples: found unknown keyword {unknown[0]!r} for {fn.name}, expected one of: {', '.join(o.python_name for o in fn.options) or 'none'}")
                continue
            setup: list[str] = []
            if fn.params and fn.params[0].is_receiver:
                ctor = setup_fns[0] if setup_fns else None
                if ctor is None:
                    continue
                ctor_args, ctor_kwargs = ex.constructor_args, ex.constructor_kwargs
                if not ctor_args and not ctor_kwargs and class_examples:
                    # No constructor call given: the class's first example makes the object.
                    ctor_args, ctor_kwargs = class_examples[0].constructor_args or class_examples[0].args, class_examples[0].constructor_kwargs or class_examples[0].kwargs
                setup.append(f"{{:ok, ref}} = {module.name}.create({_call_args(ctor_args, ctor_kwargs, session)})")
                call_args = _call_args(ex.args, ex.kwargs, False, ["ref"])
            else:
                call_args = _call_args(ex.args, ex.kwargs, session and fn.kind == "create")
            call = f"{module.name}.{fn.name}({call_args})"
            label = ex.description or f"example {n}"
            out.append(ElixirTest(f"{fn.name}/{fn.arities[-1]} {label} ({Path(self.spec.file).name}:{ex.line})", setup, call, elixir_literal(ex.returns) if ex.has_returns else None, fn.mode, _result_check(fn), session))
        return out

    def _attribute_tests(self, module: ElixirModule, c: ClassSpec) -> list[ElixirTest]:
        """Every getter of an object the spec can make (a singleton, or a class with an example) is read,
        its value checked against the declared type, and written back through the setter."""
        if not c.singleton and not (c.examples and c.creatable):
            return []
        session = bool(c.constructor and c.constructor.session_aware)
        setup: list[str] = []
        recv: list[str] = []
        if not c.singleton:
            ex = c.examples[0]
            setup.append(f"{{:ok, ref}} = {module.name}.create({_call_args(ex.constructor_args or ex.args, ex.constructor_kwargs or ex.kwargs, session)})")
            recv = ["ref"]
        out: list[ElixirTest] = []
        setters = {f.python_target: f for f in module.functions if f.kind == "setter"}
        for getter in [f for f in module.functions if f.kind == "getter"]:
            call = f"{module.name}.{getter.name}({', '.join(recv)})"
            steps = list(setup)
            setter = setters.get(getter.python_target)
            label = f"{getter.name}/{getter.arities[-1]} reads a value of its type"
            if setter is not None:
                label += f", {setter.name}/{setter.arities[-1]} writes it back"
                steps.append(f"{{:ok, value}} = {call}")
                steps.append(f"assert {module.name}.{setter.name}({', '.join(recv + ['value'])}) == {{:ok, nil}}")
            out.append(ElixirTest(f"{label} ({Path(self.spec.file).name}:{c.line})", steps, call, None, Mode.SYNC, _result_check(getter), session))
        return out


def _result_check(fn: ElixirFunction) -> str | None:
    """The check of a test's `value` against the declared result (a stream's items, collected into a list)."""
    checked = ListOf(fn.value.etype.elem) if isinstance(fn.value.etype, StreamOf) else fn.value.etype
    return checked.check("value")


def _call_args(args: list[Any], kwargs: dict[str, Any], session: bool, first: list[str] | None = None) -> str:
    """The arguments of a call in a test: positional literals, then keywords (`session: session` in a session)."""
    keywords = [f"{_keyword_key(k)} {elixir_literal(v)}" for k, v in kwargs.items()] + (["session: session"] if session else [])
    parts = (first or []) + [elixir_literal(a) for a in args] + (["[" + ", ".join(keywords) + "]"] if keywords else [])
    return ", ".join(parts)


# The type of a handle parameter or result in a class module: its own t().
_T = Named("t()", REF.guard)


def _doc_markdown(parsed: ParsedDoc) -> str:
    """A docstring's text and items as Markdown, for a `@moduledoc` or an attribute's doc."""
    parts = [parsed.body] if parsed.body else []
    if parsed.params:
        parts.append("## Arguments\n\n" + "\n".join(item_line(f"`{p.name}`", p.type, None, p.description) for p in parsed.params.values()))
    if parsed.returns and (parsed.returns.type or parsed.returns.description):
        parts.append("## Returns\n\n" + returns_text(parsed.returns.type, parsed.returns.description))
    if parsed.raises:
        parts.append("## Raises\n\n" + "\n".join(item_line(f"`{r.name}`", None, None, r.description) for r in parsed.raises))
    return "\n\n".join(parts)


def _complete_doc(fn: ElixirFunction) -> str:
    """The full `@doc`: description, arguments, options, result, errors, and the Python signature."""
    parts = [fn.doc.strip()] if fn.doc.strip() else []
    if fn.kind in ("getter", "setter"):
        parts.append(f"## Python\n\n```python\n{fn.python_signature}\n```")
        if fn.inherited_from:
            parts.append(_inherited(fn.inherited_from))
        return "\n\n".join(parts)
    arguments = [item_line(f"`{p.var}`", p.type, None, p.description or "") for p in fn.params if not p.is_receiver]
    if any(p.description for p in fn.params):
        parts.append("## Arguments\n\n" + "\n".join(arguments))
    lines = [item_line(f"`{o.key}`", o.type, o.default, o.description or "") for o in fn.options]
    if fn.accepts_any_keyword:
        lines.append("* any other keyword is passed to Python as a keyword argument" + (f" - {_indent(fn.any_keyword_doc)}" if fn.any_keyword_doc else ""))
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
        parts.append(_inherited(fn.inherited_from))
    return "\n\n".join(parts)


def _inherited(module: str) -> str:
    return f"Inherited from `{module}`."


def _behaviour(fn: ElixirFunction) -> tuple[Any, ...]:
    """What a function does and its @spec says: all but its doc and telemetry metadata (which name its own module)."""
    return (
        fn.kind,
        fn.mode,
        fn.bang,
        fn.has_opts,
        fn.accepts_any_keyword,
        fn.call,
        tuple(fn.prelude),
        tuple((p.var, p.type) for p in fn.params),
        tuple((o.key, o.type) for o in fn.options),
        fn.value_type,
        fn.result_transform,
        fn.error_handler,
        fn.telemetry_prefix,
        (fn.cache_ttl_ms, fn.cache_key) if fn.cache_ttl_ms else None,
    )


def _summary(doc: str) -> str:
    """A doc's first paragraph when it is prose (what ExDoc lists in a module's summary), else ""."""
    first = doc.strip().split("\n\n", 1)[0]
    return "" if first.startswith(("#", "```", " ", "* ", "- ", ">", "|")) else first


def _indent(text: str) -> str:
    """Continuation lines of a list item's text, indented under the bullet."""
    return "\n".join([text.split("\n")[0]] + [("  " + l if l.strip() else "") for l in text.split("\n")[1:]])


@dataclass
class _Plan:
    params: list[ElixirParam]
    options: list[ElixirOption]
    any_keyword: bool
    prelude: list[str]
    args: str
    kwargs: str


def _merge_params(spec_params: list[Param] | None, info: CallableInfo | None) -> list[Param] | None:
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


def _signature_text(params: list[Param] | None) -> str:
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
            text += f"{eq}{p.default}" if p.default is not None else f"{eq}..."
        parts.append(text)
        if p.kind is ParamKind.POSITIONAL_ONLY and (i + 1 == len(params) or params[i + 1].kind is not ParamKind.POSITIONAL_ONLY):
            parts.append("/")
    return "(" + ", ".join(parts) + ")"


def _mode(c: CallableSpec) -> Mode:
    # Iterating is all `__iter__` does: it is always a stream.
    iterates = isinstance(c, MethodSpec) and c.name == "__iter__"
    return Mode.STREAM if c.streaming or iterates else Mode.ASYNC if c.async_ else Mode.SYNC


def _join_doc(body: str, footer: str) -> str:
    return f"{body.strip()}\n\n{footer}" if body and body.strip() else footer


def _escape_in_string(text: str) -> str:
    return names.string_literal(text)[1:-1]


def _some(items: Iterable[str]) -> str:
    items = sorted(items)
    return ", ".join(items[:12]) + (", …" if len(items) > 12 else "") if items else "none"


def _common_prefix(paths: list[str]) -> str:
    parents = [p.rsplit(".", 1)[0] for p in paths]
    return parents[0] if parents and all(p == parents[0] for p in parents) else ""


def _file_for(module: str) -> str:
    return "/".join(names.snake_case(part) for part in module.split(".")) + ".ex"


def _kernel_excludes(functions: list[ElixirFunction]) -> list[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for fn in functions:
        for arity in fn.arities:
            for name in [fn.name] + ([fn.name + "!"] if fn.bang and fn.mode is Mode.SYNC else []):
                if (name, arity) in names.KERNEL_IMPORTS:
                    out.add((name, arity))
    return sorted(out)


def _keyword_key(name: str) -> str:
    atom = names.atom_literal(name)
    return f"{atom[1:]}:" if not atom.startswith(':"') else f"{atom[1:]}:"


def _keyword_literal(kwargs: dict[str, Any]) -> str:
    return "[" + ", ".join(f"{_keyword_key(k)} {elixir_literal(v)}" for k, v in kwargs.items()) + "]"


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


def build_library(spec: Spec, refresh: bool = False) -> Library:
    """The Elixir model of a spec; raises `SpecErrors` with every problem found."""
    facts = Facts(spec, refresh)
    builder = Builder(spec, facts)
    library = builder.build()
    if builder.errors:
        raise SpecErrors(sorted(builder.errors, key=lambda e: e.line))
    facts.save()
    return library
