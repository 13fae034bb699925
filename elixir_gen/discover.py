"""`discover`: an introspected module -> a spec a user can read and edit.

The spec lists *what* to wrap (paths, names, streaming/async flags); the
arguments, types and docs stay in the introspection cache it points to, so
the spec remains short and `check` can later tell what changed. Every name
written is already unique in its module, so the spec generates as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import names
from .docstrings import parse_docstring
from .introspect import CallableInfo, ClassInfo, Introspection, MemberInfo, PropertyInfo, discover, save_cache

_RESERVED_IN_CLASS = {"create", "__python_path__"}


def discover_spec(
    module: str,
    depth: int = 1,
    submodules: list[str] | None = None,
    exclude: list[str] | None = None,
    namespace: str | None = None,
    cache: str | None = None,
    spec_dir: Path | None = None,
) -> str:
    """Introspect `module`, save the cache next to the spec, and return the spec's YAML text."""
    exclude = exclude if exclude is not None else ["_*"]
    data = discover(module, depth, submodules or [], exclude)
    cache = cache or f".cache/{module}.introspection.json"
    save_cache((spec_dir or Path.cwd()) / cache, data)
    return SpecWriter(data, namespace or names.derive_module_name(module), depth, submodules or [], exclude, cache).text()


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 20).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


class SpecWriter:
    def __init__(self, data: Introspection, namespace: str, depth: int, submodules: list[str], exclude: list[str], cache: str) -> None:
        self.data = data
        self.namespace = namespace
        self.depth = depth
        self.submodules = submodules
        self.exclude = exclude
        self.cache = cache
        self.lines: list[str] = []
        self.modules_taken: set[str] = set()

    def emit(self, line: str = "") -> None:
        self.lines.append(line)

    def text(self) -> str:
        d = self.data
        argv = " ".join(["python -m elixir_gen discover", d.python_module, f"--depth {self.depth}"])
        self.emit(f"# Written by `{argv}`")
        self.emit(f"# from {d.python_module} {d.version or '(no version)'} on Python {d.python}. Edit freely: remove what you")
        self.emit("# do not need, rename with elixir_name, add args/returns/description to override")
        self.emit("# what introspection found (docs/SPEC.md describes every key).")
        self.emit(f"python_module: {_scalar(d.python_module)}")
        self.emit(f"elixir_module: {_scalar(self.namespace)}")
        if d.version:
            # The standard library's version is Python's: accept its patch releases.
            version = ".".join(d.version.split(".")[:2]) if d.version == d.python else d.version
            self.emit(f"version: {_scalar(version)}")
        self.emit("introspection:")
        self.emit("  enabled: true")
        self.emit(f"  cache: {_scalar(self.cache)}")
        self.emit(f"  depth: {self.depth}")
        self.emit(f"  submodules: {_scalar(self.submodules)}")
        self.emit(f"  exclude: {_scalar(self.exclude)}")

        members = self._unique_members()
        classes = [m for m in members if m.kind in ("class", "object")]
        functions = [m for m in members if m.kind == "function"]
        class_modules = self._class_modules(classes)
        self.modules_taken.update(class_modules.values())
        origin_to_module: dict[str, str] = {m.origin: class_modules[m.path] for m in classes if m.kind == "class" and m.origin}
        origin_to_info: dict[str, ClassInfo] = {m.origin: m.cls for m in classes if m.kind == "class" and m.origin and m.cls}
        if classes:
            self.emit()
            self.emit("classes:")
            for m in classes:
                self._class(m, class_modules[m.path], origin_to_module, origin_to_info)
        if functions:
            self.emit()
            self.emit("functions:")
            self._functions(functions)
        if d.skipped:
            self.emit()
            self.emit("# Skipped by discovery:")
            for s in d.skipped:
                self.emit(f"#   {s.path}: {' '.join(s.reason.split())}")
        return "\n".join(self.lines) + "\n"

    def _unique_members(self) -> list[MemberInfo]:
        """One path per Python object: the shortest (dspy.Predict, not dspy.predict.predict.Predict)."""
        best: dict[str, MemberInfo] = {}
        out: list[MemberInfo] = []
        for m in self.data.members.values():
            if m.kind == "module":
                continue
            key = m.origin or m.path
            if key in best:
                if m.path.count(".") < best[key].path.count("."):
                    best[key] = m
                continue
            best[key] = m
        chosen = {id(m) for m in best.values()}
        for m in self.data.members.values():
            if id(m) in chosen:
                out.append(m)
        return out

    def _relative(self, path: str) -> str:
        prefix = self.data.python_module + "."
        return path[len(prefix):] if path.startswith(prefix) else path

    def _module_for(self, python_path: str) -> str:
        base = self.namespace + "." + names.derive_module_name(self._relative(python_path))
        name, n = base, 2
        while name in self.modules_taken:
            name, n = f"{base}{n}", n + 1
        return name

    def _class_modules(self, classes: list[MemberInfo]) -> dict[str, str]:
        out: dict[str, str] = {}
        taken_lower: set[str] = set()
        for m in classes:
            base = self.namespace + "." + names.derive_module_name(self._relative(m.path))
            name, n = base, 2
            # Keep the file names distinct too (`ReAct` and `React` would both be react.ex).
            while name in out.values() or name.lower() in taken_lower or _file_key(name) in taken_lower:
                name, n = f"{base}{n}", n + 1
            out[m.path] = name
            taken_lower.add(name.lower())
            taken_lower.add(_file_key(name))
        return out

    def _class(self, m: MemberInfo, module: str, origin_to_module: dict[str, str], origin_to_info: dict[str, ClassInfo]) -> None:
        info = m.cls
        assert info is not None
        self.emit(f"  - python_path: {_scalar(m.path)}")
        self.emit(f"    elixir_module: {_scalar(module)}")
        parent_module = parent_info = None
        if m.kind == "object":
            self.emit("    singleton: true")
        else:
            # The nearest wrapped ancestor, however far up: a class whose direct base is not
            # wrapped (sympy's `floor` -> RoundFunction -> Function) still inherits the
            # members of `Function`, `Expr` and `Basic` instead of repeating them all.
            for base in info.ancestors or info.bases:
                if base in origin_to_module and origin_to_module[base] != module:
                    parent_module, parent_info = origin_to_module[base], origin_to_info[base]
                    self.emit(f"    extends: {_scalar(parent_module)}")
                    break
        if m.kind == "class" and info.init.params is None:
            self.emit("    # The constructor's signature could not be read: create/2 takes a list of arguments.")
        taken = set(_RESERVED_IN_CLASS)
        inherited = _inherited_names(parent_info)
        methods = [(n, c) for n, c in info.methods.items() if not (n in inherited and parent_info is not None and _same_definition(c, n, parent_info))]
        # Named methods first: a class's own `get` keeps its name, its `__getitem__` becomes `get_item`.
        methods.sort(key=lambda item: item[0] in names.DUNDERS)
        # A property is inherited only when the parent has it as a property too: one that
        # overrides a parent's method is the class's own, and hides that method.
        props: list[tuple[str, PropertyInfo | None]] = [(n, p) for n, p in info.properties.items() if not (parent_info is not None and n in parent_info.properties)]
        # Attributes the class docstring documents (numpydoc `Attributes`, often set by a method:
        # `coef_` after `fit`) are instance attributes: readable through a getter too.
        documented = parse_docstring(info.doc).attributes
        parent_documented = parse_docstring(parent_info.doc).attributes if parent_info is not None else {}
        for attr in documented:
            if attr.isidentifier() and attr not in info.properties and attr not in info.methods and attr not in parent_documented and not attr.startswith("_"):
                props.append((attr, None))
        if methods:
            self.emit("    methods:")
            for name, c in methods:
                self._callable_entry(name, c, taken, "      - name: ", "        ")
        if props:
            self.emit("    properties:")
            for name, p in props:
                self.emit(f"      - name: {_scalar(name)}")
                elixir = _unique(names.derive_function_name(name), taken)
                if elixir != name:
                    self.emit(f"        elixir_name: {_scalar(elixir)}")
                if p is None:
                    self.emit("        readonly: true  # an instance attribute the class docstring documents")
                elif not p.readonly:
                    setter = "set_" + elixir
                    if setter in taken:
                        self.emit("        readonly: true  # set_ name taken by a method")
                    else:
                        taken.add(setter)
                else:
                    self.emit("        readonly: true")

    def _callable_entry(self, name: str, c: CallableInfo, taken: set[str], first: str, indent: str) -> None:
        self.emit(f"{first}{_scalar(name)}")
        elixir = _unique(names.derive_function_name(name), taken, names.DUNDERS.get(name, ())[1:])
        if elixir != name:
            self.emit(f"{indent}elixir_name: {_scalar(elixir)}")
        if c.is_generator or name == "__iter__":
            self.emit(f"{indent}streaming: true")
        elif c.is_async:
            self.emit(f"{indent}async: true")
        if c.params is None:
            self.emit(f"{indent}# signature not readable: called with a list of arguments")

    def _functions(self, functions: list[MemberInfo]) -> None:
        taken_by_module: dict[str, set[str]] = {}
        submodule_modules: dict[str, str] = {}
        for m in functions:
            parent = m.path.rsplit(".", 1)[0]
            if parent == self.data.python_module:
                module = self.namespace
            else:
                if parent not in submodule_modules:
                    submodule_modules[parent] = self._module_for(parent)
                    self.modules_taken.add(submodule_modules[parent])
                module = submodule_modules[parent]
            taken = taken_by_module.setdefault(module, {"__python_path__", "__exports__"})
            assert m.function is not None
            self.emit(f"  - python_path: {_scalar(m.path)}")
            if module != self.namespace:
                self.emit(f"    elixir_module: {_scalar(module)}")
            elixir = _unique(names.derive_function_name(m.path.rsplit('.', 1)[-1]), taken)
            if elixir != m.path.rsplit(".", 1)[-1]:
                self.emit(f"    elixir_name: {_scalar(elixir)}")
            if m.function.is_generator:
                self.emit("    streaming: true")
            elif m.function.is_async:
                self.emit("    async: true")
            if m.function.params is None:
                self.emit("    # signature not readable: called with a list of arguments")


def _file_key(module: str) -> str:
    return "file:" + "/".join(names.file_stem(part) for part in module.split("."))


def _inherited_names(parent: ClassInfo | None) -> set[str]:
    if parent is None:
        return set()
    return set(parent.methods) | set(parent.properties)


def _same_definition(c: CallableInfo, name: str, parent: ClassInfo) -> bool:
    pc = parent.methods.get(name)
    return pc is not None and pc.defined_in == c.defined_in


def _unique(name: str, taken: set[str], alternatives: tuple[str, ...] = ()) -> str:
    """`name`, or a variant not yet taken (and whose bang variant is free too)."""
    candidates = [name, *alternatives, f"python_{name}"] + [f"{name}_{n}" for n in range(2, 100)]
    for candidate in candidates:
        if candidate not in taken and candidate + "!" not in taken and candidate not in _RESERVED_IN_CLASS:
            taken.add(candidate)
            taken.add(candidate + "!")
            return candidate
    raise RuntimeError(f"no free name for {name}")

