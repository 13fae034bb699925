"""Command line: generate, discover, check, report.

    python -m elixir_gen SPEC.yaml [-o DIR] [--tests [--tests-dir DIR]] [--no-lock]
    python -m elixir_gen discover MODULE [--depth N] [-o SPEC.yaml]
    python -m elixir_gen check SPEC.yaml
    python -m elixir_gen report SPEC.yaml [--json]

Generating prints the files written, then the quality report's summary, and
writes the lock next to the spec. Spec problems are printed together, one
per line as file:line: message, and the exit status is 1; a failure of the
tools themselves exits with 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import build_library
from .format import FormatError, format_files
from .lock import write_lock
from .model import Library, SpecErrors
from .render import render_library
from .report import Report, report
from .spec import load_spec


def generate(spec_path: Path, out_dir: Path, tests_dir: Path | None = None, refresh: bool = False, display_name: str | None = None, lock: bool = True) -> tuple[list[Path], Report]:
    """Render and format every module of a spec, write its lock; returns the files written and the quality report."""
    spec = load_spec(spec_path, display_name)
    library = build_library(spec, refresh=refresh)
    for warning in library.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    files, tests = render_library(library, with_tests=tests_dir is not None)
    written: list[Path] = []
    for rel, text in files.items():
        written.append(_write(out_dir / rel, text))
    if tests_dir is not None:
        for rel, text in tests.items():
            written.append(_write(tests_dir / rel, text))
    format_files(written)
    if lock:
        write_lock(spec_path, spec.python_module, library.library_version, _python_version(), written)
    return written, report(library)


def _python_version() -> str:
    return ".".join(str(p) for p in sys.version_info[:3])


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _print_errors(errors: SpecErrors) -> None:
    count = len(errors.errors)
    print(f"{count} problem{'s' if count != 1 else ''} in the spec:", file=sys.stderr)
    for e in errors.errors:
        print(f"  {e}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "discover":
            return _discover(argv[1:])
        if argv and argv[0] == "check":
            return _check(argv[1:])
        if argv and argv[0] == "report":
            return _report(argv[1:])
        if argv and argv[0] == "generate":
            argv = argv[1:]
        return _generate(argv)
    except SpecErrors as exc:
        _print_errors(exc)
        return 1
    except FormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _generate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m elixir_gen", description="Generate Elixir modules from a PyBridge spec (subcommands: discover, check, report).")
    parser.add_argument("spec", type=Path, help="the YAML spec")
    parser.add_argument("-o", "--output", type=Path, default=Path("lib"), help="folder for the .ex files (default: lib)")
    parser.add_argument("--tests", action="store_true", help="also write ExUnit smoke tests from the spec's examples")
    parser.add_argument("--tests-dir", type=Path, default=Path("test"), help="folder for the tests (default: test)")
    parser.add_argument("--refresh", action="store_true", help="introspect the library again instead of reading the cache")
    parser.add_argument("--no-lock", action="store_true", help="do not write the lock next to the spec")
    args = parser.parse_args(argv)
    written, quality = generate(args.spec, args.output, args.tests_dir if args.tests else None, refresh=args.refresh, lock=not args.no_lock)
    for path in written:
        print(path)
    print(quality.summary())
    return 0


def _report(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m elixir_gen report", description="The quality report of a spec's generated modules (nothing is written).")
    parser.add_argument("spec", type=Path)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--refresh", action="store_true", help="introspect the library again instead of reading the cache")
    args = parser.parse_args(argv)
    library: Library = build_library(load_spec(args.spec), refresh=args.refresh)
    quality = report(library)
    sys.stdout.write(quality.to_json() if args.json else quality.text())
    return 0


def _discover(argv: list[str]) -> int:
    from .discover import discover_spec

    parser = argparse.ArgumentParser(prog="python -m elixir_gen discover", description="Introspect an installed module and write a spec to edit.")
    parser.add_argument("module", help="the Python module, e.g. json")
    parser.add_argument("--depth", type=int, default=1, help="levels of submodules to walk (default: 1)")
    parser.add_argument("--submodule", action="append", default=[], help="a submodule to walk besides the module's attributes (repeatable)")
    parser.add_argument("--exclude", action="append", default=None, help="fnmatch pattern of names to leave out (repeatable; default: _*)")
    parser.add_argument("--namespace", help="the Elixir module for the library (default: derived from the module name)")
    parser.add_argument("--cache", help="the introspection cache, relative to the spec (default: .cache/MODULE.introspection.json)")
    parser.add_argument("-o", "--output", type=Path, help="where to write the spec (default: standard output)")
    args = parser.parse_args(argv)
    out = args.output
    text = discover_spec(
        args.module,
        depth=args.depth,
        submodules=args.submodule,
        exclude=args.exclude,
        namespace=args.namespace,
        cache=args.cache,
        spec_dir=out.parent if out else Path.cwd(),
    )
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(out)
    else:
        sys.stdout.write(text)
    return 0


def _check(argv: list[str]) -> int:
    from .check import check_spec

    parser = argparse.ArgumentParser(prog="python -m elixir_gen check", description="Compare a spec with the installed library.")
    parser.add_argument("spec", type=Path)
    args = parser.parse_args(argv)
    drift = check_spec(load_spec(args.spec), args.spec)
    print(drift.text(), file=sys.stdout if drift.ok else sys.stderr)
    return 0 if drift.ok else 1
