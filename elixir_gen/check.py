"""`check`: how far the installed library has drifted from a spec.

Four comparisons: the spec's version requirement against the installed
version; the spec's lock (what the last generation was made from: library
version, generator version, spec and output hashes) against what is there
now; every path the spec names against the live library; and the
arguments — those the spec lists, and those the introspection cache recorded
when the spec was generated — against the live signatures. Renames are
reported as such when a removed argument and an added one sit at the same
position.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field

from .facts import default_cache_path
from pathlib import Path

from .introspect import CallableInfo, MemberInfo, introspect_path, load_cache
from .lock import lock_problems
from .model import Param, Spec
from .versions import installed_version, satisfies


@dataclass
class Drift:
    line: int
    kind: str  # "version", "lock", "missing", "argument", "kind"
    message: str


@dataclass
class DriftReport:
    spec: Spec
    items: list[Drift] = field(default_factory=list)
    checked: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.items

    def text(self) -> str:
        notes = "".join(f"\n  note: {n}" for n in self.notes)
        if self.ok:
            return f"{self.spec.file}: no drift ({self.checked} paths checked against the installed {self.spec.python_module})" + notes
        lines = [f"{self.spec.file}: {len(self.items)} difference{'s' if len(self.items) != 1 else ''} with the installed {self.spec.python_module}:"]
        for d in sorted(self.items, key=lambda d: (d.line, d.message)):
            lines.append(f"  {self.spec.file}:{d.line}: [{d.kind}] {d.message}")
        return "\n".join(lines) + notes


def check_spec(spec: Spec, spec_path: Path | None = None) -> DriftReport:
    """The drift of the installed library (and generator) from `spec`; `spec_path` locates its lock."""
    report = DriftReport(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = importlib.import_module(spec.python_module)
        except Exception as exc:
            report.items.append(Drift(1, "missing", f"{spec.python_module} cannot be imported: {type(exc).__name__}: {exc}"))
            return report
    installed = installed_version(module)
    cache = load_cache(default_cache_path(spec))
    if spec.version is not None:
        if installed is None:
            report.items.append(Drift(spec.version_line, "version", f"the spec expects {spec.version}, but the installed version cannot be read"))
        elif not satisfies(installed, spec.version):
            report.items.append(Drift(spec.version_line, "version", f"the spec expects {spec.python_module} {spec.version}, {installed} is installed"))
    if cache is not None and cache.version and installed and cache.version != installed:
        report.items.append(Drift(spec.version_line or 1, "version", f"the introspection cache was made from {cache.version}, {installed} is installed"))
    if spec_path is not None:
        problems, notes = lock_problems(spec_path, installed)
        report.items.extend(Drift(1, "lock", p) for p in problems)
        report.notes.extend(notes)

    def live(path: str, line: int, expected: str) -> MemberInfo | None:
        report.checked += 1
        try:
            info = introspect_path(path, spec.introspection.exclude)
        except Exception as exc:
            report.items.append(Drift(line, "missing", f"{path} ({expected}) is gone: {type(exc).__name__}: {exc}"))
            return None
        return info

    def compare(path: str, line: int, spec_params: list[Param] | None, now: CallableInfo | None, cached: CallableInfo | None) -> None:
        if now is None or now.params is None:
            return
        live_names = [p.name for p in now.params]
        takes_any = any(p.kind == "VAR_KEYWORD" for p in now.params)
        takes_positional = any(p.kind == "VAR_POSITIONAL" for p in now.params)
        if spec_params is not None:
            for i, p in enumerate(spec_params):
                # A live (*args, **kwargs) takes whatever the spec says it does.
                accepted = (takes_any and p.kind.value != "positional_only" and (p.kind.value in ("keyword_only", "var_keyword") or takes_positional)) or (takes_positional and p.kind.value in ("positional_only", "var_positional"))
                if p.name not in live_names and not accepted:
                    report.items.append(Drift(line, "argument", _missing_arg(path, p.name, i, [x.name for x in spec_params], live_names, "the spec")))
        if cached is not None and cached.params is not None:
            old = [p.name for p in cached.params]
            for i, name in enumerate(old):
                if name not in live_names:
                    report.items.append(Drift(line, "argument", _missing_arg(path, name, i, old, live_names, "the cache")))
            for live_param in now.params:
                if live_param.name not in old and live_param.default is None and live_param.kind not in ("VAR_POSITIONAL", "VAR_KEYWORD"):
                    report.items.append(Drift(line, "argument", f"{path}: new required argument '{live_param.name}'"))

    def cached_member(path: str) -> MemberInfo | None:
        return cache.members.get(path) if cache else None

    for f in spec.functions:
        info = live(f.python_path, f.line, "function")
        if info is None:
            continue
        if info.kind != "function":
            report.items.append(Drift(f.line, "kind", f"{f.python_path} is now a {info.kind}, the spec expects a function"))
            continue
        old = cached_member(f.python_path)
        compare(f.python_path, f.line, f.params, info.function, old.function if old else None)
    for c in spec.classes:
        info = live(c.python_path, c.line, "object" if c.singleton else "class")
        if info is None or info.cls is None:
            continue
        old = cached_member(c.python_path)
        old_cls = old.cls if old else None
        if not c.singleton and c.creatable:
            compare(c.python_path, c.line, c.constructor.params if c.constructor else None, info.cls.init, old_cls.init if old_cls else None)
        for m in c.methods:
            report.checked += 1
            now = info.cls.methods.get(m.name)
            if now is None:
                report.items.append(Drift(m.line, "missing", f"{c.python_path}.{m.name} (method) is gone"))
                continue
            compare(f"{c.python_path}.{m.name}", m.line, m.params, now, old_cls.methods.get(m.name) if old_cls else None)
        for p in c.properties:
            report.checked += 1
            # An instance attribute cannot be seen on the class: gone only when the cache
            # recorded it as a property and the class no longer has it.
            known = p.name in info.cls.properties or old_cls is None or p.name not in old_cls.properties
            if not known:
                report.items.append(Drift(p.line, "missing", f"{c.python_path}.{p.name} (property) is gone"))
    return report


def _missing_arg(path: str, name: str, index: int, old: list[str], live: list[str], source: str) -> str:
    new = [n for n in live if n not in old]
    if index < len(live) and live[index] in new:
        return f"{path}: argument '{name}' (in {source}) was renamed to '{live[index]}'?"
    return f"{path}: argument '{name}' (in {source}) was removed; it now takes ({', '.join(live) or 'nothing'})"
