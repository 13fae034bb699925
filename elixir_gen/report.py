"""The quality report of a generation: how much of what Python says the Elixir output keeps.

Counted over the primary generated functions (a bang variant repeats its
function's types): every `@spec` position but the receiver and the `opts`
list itself — the Elixir arguments, each Python keyword option (typed in the
function's `*_option` type) and the result (a stream's items, a task's
value). A position is *concrete* when its type is not `term()`. A position is
*lost* when Python gave a type (an annotation or a stub) that the output
could not keep; each is listed with why. `python_typed` counts the positions
Python annotated or gave a non-None default, the ceiling to compare with.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field

from . import names
from .introspect import BOILERPLATE_DOCS
from .model import ElixirFunction, Library

_TERM = re.compile(r"\b(term|any)\(\)")


@dataclass
class Lost:
    function: str  # Module.function/arity
    position: str  # an argument, option or "result"
    reason: str


@dataclass
class Report:
    spec: str
    library: str
    library_version: str | None
    modules: int = 0
    functions: int = 0  # primary functions (bang variants not counted)
    bang_variants: int = 0
    specs_without_term: int = 0
    positions: int = 0
    concrete: int = 0
    python_typed: int = 0
    sources: dict[str, int] = field(default_factory=dict)  # where concrete types came from
    lost: list[Lost] = field(default_factory=list)
    private_members: list[str] = field(default_factory=list)
    boilerplate_docs: list[str] = field(default_factory=list)
    docs_missing: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> member paths

    @property
    def specs_without_term_share(self) -> float:
        return self.specs_without_term / self.functions if self.functions else 1.0

    @property
    def concrete_share(self) -> float:
        return self.concrete / self.positions if self.positions else 1.0

    def to_json(self) -> str:
        data = asdict(self)
        data["specs_without_term_share"] = round(self.specs_without_term_share, 4)
        data["concrete_share"] = round(self.concrete_share, 4)
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    def summary(self) -> str:
        """A few lines, printed after every generation."""
        skipped = sum(len(v) for v in self.skipped.values())
        return "\n".join(
            [
                f"{self.spec}: {self.modules} modules, {self.functions} functions (+{self.bang_variants} bang variants) for {self.library} {self.library_version or '(version unknown)'}",
                f"  @specs without term(): {self.specs_without_term}/{self.functions} ({_pct(self.specs_without_term_share)})",
                f"  concrete positions: {self.concrete}/{self.positions} ({_pct(self.concrete_share)}); Python typed {self.python_typed}; lost {len(self.lost)}",
                f"  private members: {len(self.private_members)}, boilerplate docs: {len(self.boilerplate_docs)}, functions without docs: {len(self.docs_missing)}",
                f"  members skipped: {skipped}" + (f" ({', '.join(f'{len(v)} {k}' for k, v in sorted(self.skipped.items(), key=lambda kv: -len(kv[1])))})" if skipped else ""),
            ]
        )

    def text(self) -> str:
        """The full report: the summary, then every lost position, private member, missing doc and skipped member."""
        out = [self.summary()]
        if self.sources:
            out.append("\nWhere the concrete types come from: " + ", ".join(f"{k} {v}" for k, v in sorted(self.sources.items(), key=lambda kv: -kv[1])))
        if self.lost:
            out.append(f"\nPositions Python types that the output leaves as term() ({len(self.lost)}):")
            out.extend(f"  {item.function} {item.position}: {item.reason}" for item in self.lost)
        if self.private_members:
            out.append(f"\nPrivate members the spec names ({len(self.private_members)}):")
            out.extend(f"  {p}" for p in self.private_members)
        if self.boilerplate_docs:
            out.append(f"\nDocs that only repeat object's ({len(self.boilerplate_docs)}):")
            out.extend(f"  {p}" for p in self.boilerplate_docs)
        if self.docs_missing:
            out.append(f"\nFunctions whose Python member has no docstring ({len(self.docs_missing)}; their docs give the signature and where it is defined):")
            out.extend(f"  {p}" for p in self.docs_missing)
        for reason, members in sorted(self.skipped.items()):
            out.append(f"\nSkipped, {reason} ({len(members)}):")
            out.extend(f"  {m}" for m in members)
        return "\n".join(out) + "\n"


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _boilerplate(doc: str) -> bool:
    """A paragraph of the doc only repeats `object`'s docstring of some member."""
    return any(" ".join(p.split()) in BOILERPLATE_DOCS for p in doc.split("\n\n"))


def report(library: Library) -> Report:
    """The quality report of a built library."""
    spec = library.spec
    r = Report(spec=spec.file, library=spec.python_module, library_version=library.library_version)
    sources: Counter[str] = Counter()
    for module in library.modules:
        r.modules += 1
        if _boilerplate(module.moduledoc):
            r.boilerplate_docs.append(module.name)
        for fn in module.functions:
            if fn.delegate_to and not fn.inherited_from:
                continue  # a large module's call to the function it moved to a submodule: counted there
            label = f"{module.name}.{fn.name}/{fn.arities[-1]}"
            r.functions += 1
            if fn.bang and fn.mode.value == "sync":
                r.bang_variants += 1
            spec_text = " ".join([*(p.type for p in fn.params), fn.option_type_spec if fn.option_type else "", fn.return_spec])
            if not _TERM.search(spec_text):
                r.specs_without_term += 1
            positions = [(p.python_name if not p.python_name.startswith("*") else p.python_name, p.typed) for p in fn.params if not p.is_receiver]
            positions += [(o.key, o.typed) for o in fn.options]
            positions.append(("result", fn.value))
            for where, typed in positions:
                r.positions += 1
                r.python_typed += typed.python_typed
                if typed.concrete:
                    r.concrete += 1
                    sources[typed.source] += 1
                elif typed.lost:
                    r.lost.append(Lost(label, where, typed.lost))
            if fn.python_name and names.is_private(fn.python_name) and fn.python_name != "__init__":
                r.private_members.append(f"{label} ({fn.python_target})")
            if _boilerplate(fn.doc):
                r.boilerplate_docs.append(label)
            if not fn.described and fn.kind not in ("setter",) and not _generated_doc(fn):
                r.docs_missing.append(label)
    r.sources = dict(sources)
    for s in library.skipped:
        r.skipped.setdefault(s.reason, []).append(s.path)
    return r


def _generated_doc(fn: ElixirFunction) -> bool:
    """`create` of a class without an `__init__` docstring has a doc the generator writes (the class's is the module's),
    and so has an operator (`a + b` ...)."""
    return fn.kind == "create" or fn.python_name in names.OPERATORS
