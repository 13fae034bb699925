"""Regenerates the golden test cases: `python -m elixir_gen.golden [CASE ...] [--refresh]`.

A case is a folder `tests/golden/<case>/` with a `spec.yaml` and optionally
`python/` (modules put on sys.path while generating) and `elixir/` (Elixir
support modules the generated code calls). A valid spec's output goes to
`expected/lib` and `expected/test` (the `--tests` smoke tests); a bad spec's
error report goes to `expected/errors.txt`.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from .build import build_library
from .format import format_files
from .model import SpecErrors
from .render import render_library
from .spec import load_spec

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "tests" / "golden"


@contextlib.contextmanager
def python_path(case: Path) -> Iterator[None]:
    """The case's `python/` folder on sys.path (and its modules forgotten afterwards)."""
    folder = case / "python"
    if not folder.is_dir():
        yield
        return
    names = {p.stem for p in folder.glob("*.py")}
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in names:
            sys.modules.pop(name, None)


def render_case(case: Path, out: Path, refresh: bool = False) -> None:
    """Write the case's expected output under `out` (lib/, test/ or errors.txt)."""
    with python_path(case):
        try:
            library = build_library(load_spec(case / "spec.yaml", "spec.yaml"), refresh=refresh)
        except SpecErrors as exc:
            out.mkdir(parents=True, exist_ok=True)
            (out / "errors.txt").write_text("".join(f"{e}\n" for e in exc.errors), encoding="utf-8")
            return
    files, tests = render_library(library, with_tests=True)
    written: list[Path] = []
    for folder, contents in (("lib", files), ("test", tests)):
        for rel, text in contents.items():
            path = out / folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    format_files(written)


def cases(root: Path = GOLDEN_DIR) -> list[Path]:
    return sorted(p for p in root.iterdir() if (p / "spec.yaml").is_file())


def regenerate(case: Path, refresh: bool = False) -> None:
    """Regenerate one case in place; the spec's folder is used as-is (its cache included)."""
    with tempfile.TemporaryDirectory() as tmp:
        render_case(case, Path(tmp) / "expected", refresh)
        shutil.rmtree(case / "expected", ignore_errors=True)
        shutil.copytree(Path(tmp) / "expected", case / "expected")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m elixir_gen.golden", description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--refresh", action="store_true", help="introspect again instead of reading the cases' caches")
    args = parser.parse_args(argv)
    selected = [GOLDEN_DIR / c for c in args.cases] if args.cases else cases()
    for case in selected:
        regenerate(case, args.refresh)
        print(f"regenerated {case.relative_to(GOLDEN_DIR.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
