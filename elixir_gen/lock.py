"""The lock next to a spec: what its last generation was made from.

`specs/dspy.yaml` gets `specs/dspy.lock` with the spec's hash, the library
and version that were installed, the generator's version, and the hash of
every file written. `check` compares it with what is installed now (a new
library or generator means the output is stale); the Mix compiler
(`Mix.Tasks.Compile.Pybridge`) compares the spec's and the outputs' hashes
without starting Python. The format is `key: value` lines, so Elixir reads it
with `String.split/2`; paths are relative to the lock's folder.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__

HEADER = (
    "# Written by elixir_gen when it generated from the spec next to this file: do not edit.\n"
    "# `python -m elixir_gen check` (mix pybridge.check) fails when the library or the generator\n"
    "# changed since; `mix compile` with the :pybridge compiler regenerates when a hash differs.\n"
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def generator_version() -> str:
    """`elixir_gen 0.2.0+<hash of its code and templates>`: any change to the generator changes it."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted([*root.glob("*.py"), *root.glob("templates/*.j2")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"elixir_gen {__version__}+{digest.hexdigest()[:12]}"


def lock_path(spec_path: Path) -> Path:
    return spec_path.with_suffix(".lock")


@dataclass
class Lock:
    spec: str  # the spec's file name
    spec_sha256: str
    library: str
    library_version: str | None
    generator: str
    python: str
    outputs: dict[str, str] = field(default_factory=dict)  # path relative to the lock -> sha256

    def text(self) -> str:
        lines = [
            f"spec: {self.spec}",
            f"spec_sha256: {self.spec_sha256}",
            f"library: {self.library}",
            f"library_version: {self.library_version or 'unknown'}",
            f"generator: {self.generator}",
            f"python: {self.python}",
        ]
        lines += [f"output: {digest} {path}" for path, digest in sorted(self.outputs.items())]
        return HEADER + "\n".join(lines) + "\n"


def read_lock(path: Path) -> Lock | None:
    """The lock at `path`, or None when there is none (or it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    values: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or ": " not in line:
            continue
        key, value = line.split(": ", 1)
        if key == "output":
            digest, _, rel = value.partition(" ")
            outputs[rel] = digest
        else:
            values[key] = value
    try:
        return Lock(values["spec"], values["spec_sha256"], values["library"], None if values["library_version"] == "unknown" else values["library_version"], values["generator"], values["python"], outputs)
    except KeyError:
        return None


def write_lock(spec_path: Path, library: str, library_version: str | None, python: str, written: list[Path]) -> Path:
    """Record a generation of `spec_path` that wrote `written`; returns the lock's path."""
    path = lock_path(spec_path)
    base = path.parent.resolve()
    outputs = {os.path.relpath(p.resolve(), base): sha256(p.read_bytes()) for p in written}
    lock = Lock(spec_path.name, sha256(spec_path.read_bytes()), library, library_version, generator_version(), python, outputs)
    path.write_text(lock.text(), encoding="utf-8")
    return path


def lock_problems(spec_path: Path, installed: str | None) -> tuple[list[str], list[str]]:
    """(what makes the generated output stale, notes) for the spec's lock."""
    path = lock_path(spec_path)
    lock = read_lock(path)
    if lock is None:
        return [], [f"no lock at {path}: the spec was not generated with this generator yet (generating writes it)"]
    problems: list[str] = []
    if installed != lock.library_version:
        problems.append(f"the library changed since the lock: {lock.library} {lock.library_version or 'unknown'} then, {installed or 'unknown'} installed now; regenerate")
    current = generator_version()
    if current != lock.generator:
        problems.append(f"the generator changed since the lock: {lock.generator} then, {current} now; regenerate")
    if sha256(spec_path.read_bytes()) != lock.spec_sha256:
        problems.append(f"the spec changed since the lock ({path.name}); regenerate")
    base = path.parent
    for rel, digest in sorted(lock.outputs.items()):
        target = base / rel
        if not target.is_file():
            problems.append(f"generated file {rel} is missing; regenerate")
        elif sha256(target.read_bytes()) != digest:
            problems.append(f"generated file {rel} was edited since it was generated; regenerate")
    return problems, []
