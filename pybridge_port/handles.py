"""Python objects held for Elixir, by handle id, grouped in scopes.

A scope is a term chosen by Elixir (a session id, or the pid of the process
that owns the handles); freeing a scope frees everything created in it. The
first handle of a scope is announced (``on_new_scope``), so Elixir watches
the scope's owner only once it owns something, and frees a scope again when
a handle lands in one it already closed.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from .errors import StaleHandle


class HandleTable:
    """Thread-safe table of handles of one worker, identified by ``token``."""

    def __init__(self, token: str, *, on_new_scope: Callable[[Hashable], None] = lambda scope: None) -> None:
        self.token = token
        self._on_new_scope = on_new_scope
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._objects: dict[int, Any] = {}
        self._scope_of: dict[int, Hashable] = {}
        self._scopes: dict[Hashable, set[int]] = {}

    def put(self, obj: Any, scope: Hashable) -> int:
        """Store ``obj`` in ``scope`` and return its new handle id."""
        with self._lock:
            handle = next(self._ids)
            self._objects[handle] = obj
            self._scope_of[handle] = scope
            members = self._scopes.get(scope)
            new = members is None
            if new:
                members = self._scopes[scope] = set()
            members.add(handle)  # type: ignore[union-attr]
        if new and scope is not None:
            self._on_new_scope(scope)
        return handle

    def get(self, handle: Any, token: Any) -> Any:
        """The object behind a handle, or StaleHandle saying why there is none."""
        if token != self.token:
            raise StaleHandle(
                f"handle {handle} belongs to worker {token!r}, not to this worker ({self.token!r}); "
                "its worker has exited, so the object is gone"
            )
        try:
            return self._objects[handle]
        except (KeyError, TypeError):
            raise StaleHandle(f"handle {handle!r} was released (or never existed) in worker {self.token!r}") from None

    def release(self, handles: Iterable[int]) -> int:
        """Free handles; returns how many were live."""
        # Objects are dropped after the lock is released: their __del__ may run Python code.
        dropped = []
        with self._lock:
            for handle in handles:
                obj = self._objects.pop(handle, _MISSING)
                if obj is _MISSING:
                    continue
                dropped.append(obj)
                scope = self._scope_of.pop(handle)
                members = self._scopes[scope]
                members.discard(handle)
                if not members:
                    del self._scopes[scope]
        return len(dropped)

    def release_scope(self, scope: Hashable) -> int:
        """Free every handle of ``scope``; returns how many."""
        with self._lock:
            members = self._scopes.pop(scope, set())
            dropped = [self._objects.pop(handle) for handle in members]
            for handle in members:
                del self._scope_of[handle]
        return len(dropped)

    def counts(self) -> tuple[int, int]:
        """``(live handles, scopes)``."""
        with self._lock:
            return len(self._objects), len(self._scopes)


_MISSING = object()
