"""Introspection facts for the paths a spec names, kept in the spec's cache.

The cache (`.cache/<module>.introspection.json` next to the spec unless the
spec says otherwise) is read first; what it lacks is read from the live
library and written back, so a spec generates without the library installed
once its cache is complete.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path
from typing import Any

from .introspect import CallableInfo, Introspection, Introspector, MemberInfo, introspect_path, load_cache, resolve, save_cache
from .model import Spec
from .types import TypeFact
from .versions import installed_version


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

    def method(self, class_path: str, name: str) -> CallableInfo | None:
        """A method the class's facts leave out (a dunder, a private or built-in one) that a spec names:
        read from the live class, and kept in the cache with the class."""
        member = self.data.members.get(class_path)
        cls_info = member.cls if member is not None else None
        if cls_info is None:
            return None
        if name in cls_info.methods:
            return cls_info.methods[name]
        if self.module is None:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                cls = resolve(class_path)
                raw = getattr(cls, name)
            except Exception:
                return None
            if not callable(raw):
                return None
            info = Introspector(self.spec.introspection.exclude, self.data.types).callable_info(raw, "method", drop_first=True, owner=cls)
        cls_info.methods[name] = info
        cls_info.skipped.pop(name, None)
        self.dirty = True
        return info

    def save(self) -> None:
        """Write what was read from the library to the cache."""
        if self.enabled and self.dirty:
            save_cache(self.path, self.data)
            self.dirty = False
