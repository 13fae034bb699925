"""Library versions: reading the installed one, checking it against a spec's requirement.

A requirement is a comma-separated list of clauses (`>=2.0,<3`); a bare
version (`3.4.1`) means `==3.4.1`, where `==3.4` also accepts `3.4.x`.
Versions compare by their leading numeric parts, which is what the PEP 440
versions of real libraries need for this purpose.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from types import ModuleType

_CLAUSE = re.compile(r"^\s*(==|!=|>=|<=|>|<|~=)?\s*v?(\d+(?:\.\d+)*)([A-Za-z0-9.+-]*)\s*$")


def _numbers(version: str) -> tuple[int, ...]:
    m = re.match(r"^v?(\d+(?:\.\d+)*)", version.strip())
    return tuple(int(p) for p in m.group(1).split(".")) if m else ()


def requirement_problem(requirement: str) -> str | None:
    """Why `requirement` cannot be read, or None."""
    for clause in requirement.split(","):
        if not _CLAUSE.match(clause):
            return "expected a version like 3.4.1 or a requirement like >=2.0,<3"
    return None


def satisfies(version: str, requirement: str) -> bool:
    """Whether the installed `version` meets `requirement`."""
    have = _numbers(version)
    for clause in requirement.split(","):
        m = _CLAUSE.match(clause)
        if not m:
            return False
        op, want = m.group(1) or "==", tuple(int(p) for p in m.group(2).split("."))
        width = max(len(have), len(want))
        h, w = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        if op == "==" and have[: len(want)] != want:
            return False
        if op == "!=" and have[: len(want)] == want:
            return False
        if op == ">=" and not h >= w:
            return False
        if op == "<=" and not h <= w:
            return False
        if op == ">" and not h > w:
            return False
        if op == "<" and not h < w:
            return False
        if op == "~=" and not (h >= w and have[: len(want) - 1] == want[:-1]):
            return False
    return True


def installed_version(module: ModuleType) -> str | None:
    """The version of the library a module belongs to (Python's own for the stdlib)."""
    top = module.__name__.split(".")[0]
    version = getattr(sys.modules.get(top, module), "__version__", None)
    if isinstance(version, str):
        return version
    try:
        for dist in importlib.metadata.packages_distributions().get(top, []):
            return importlib.metadata.version(dist)
    except Exception:  # broken metadata must not stop generation
        pass
    if top in sys.stdlib_module_names:
        return ".".join(str(p) for p in sys.version_info[:3])
    return None
