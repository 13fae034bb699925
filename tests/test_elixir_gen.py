"""The generator, Python side: golden outputs, bad-spec snapshots, the CLI,
`check`, `discover` on real libraries, and the pieces (names, types,
docstrings, versions). Compiling and running the output is in
test_elixir_gen_elixir.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from elixir_gen import names
from elixir_gen.build import build_library, elixir_literal
from elixir_gen.docstrings import heredoc_body, to_markdown
from elixir_gen.golden import cases, render_case
from elixir_gen.model import SpecErrors
from elixir_gen.spec import parse_spec
from elixir_gen.types import map_annotation, TypeContext
from elixir_gen.versions import satisfies

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
VALID = [c for c in cases(GOLDEN) if not c.name.startswith("bad_")]
BAD = [c for c in cases(GOLDEN) if c.name.startswith("bad_")]


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ golden


def _render_copy(case: Path, tmp_path: Path) -> Path:
    # A copy, so a generation can never write into the repository.
    work = tmp_path / case.name
    shutil.copytree(case, work, ignore=shutil.ignore_patterns("expected", "__pycache__"))
    render_case(work, tmp_path / "out")
    return tmp_path / "out"


@pytest.mark.elixir
@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_golden_output(case: Path, tmp_path: Path) -> None:
    out = _render_copy(case, tmp_path)
    expected = _tree(case / "expected")
    actual = _tree(out)
    assert sorted(actual) == sorted(expected), "run `python -m elixir_gen.golden` and review the diff"
    for name, text in expected.items():
        assert actual[name] == text, f"{name} differs; run `python -m elixir_gen.golden` and review the diff"


@pytest.mark.parametrize("case", BAD, ids=lambda c: c.name)
def test_bad_spec_snapshot(case: Path, tmp_path: Path) -> None:
    out = _render_copy(case, tmp_path)
    assert (out / "errors.txt").read_text() == (case / "expected" / "errors.txt").read_text()


def test_every_error_kind_has_a_case() -> None:
    kinds = {c.name for c in BAD}
    for kind in ("unknown_key", "missing_field", "duplicate_module", "duplicate_function", "invalid_identifier", "reserved_word", "wrong_type", "not_in_library", "yaml_syntax"):
        assert f"bad_{kind}" in kinds


def test_cli_prints_every_problem_with_file_and_line() -> None:
    spec = GOLDEN / "bad_unknown_key" / "spec.yaml"
    proc = subprocess.run([PYTHON, "-m", "elixir_gen", str(spec), "-o", os.devnull], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    lines = [l.strip() for l in proc.stderr.splitlines()]
    assert lines[0] == "5 problems in the spec:"
    expected = (GOLDEN / "bad_unknown_key" / "expected" / "errors.txt").read_text().splitlines()
    assert [l.replace(str(spec), "spec.yaml") for l in lines[1:]] == expected


def test_cli_generates_formatted_files(tmp_path: Path) -> None:
    shutil.copytree(GOLDEN / "stdlib", tmp_path / "case", ignore=shutil.ignore_patterns("expected"))
    proc = subprocess.run(
        [PYTHON, "-m", "elixir_gen", str(tmp_path / "case" / "spec.yaml"), "-o", str(tmp_path / "lib"), "--tests", "--tests-dir", str(tmp_path / "test")],
        capture_output=True, text=True, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "lib" / "stdlib" / "math.ex").read_text() == (GOLDEN / "stdlib" / "expected" / "lib" / "stdlib" / "math.ex").read_text()
    assert (tmp_path / "test" / "stdlib" / "counter_test.exs").exists()


# ---------------------------------------------------------------- discover


@pytest.mark.parametrize("module,depth", [("json", 1), ("collections", 1), ("numpy", 0), ("dspy", 0)])
def test_discover_output_builds(module: str, depth: int, tmp_path: Path) -> None:
    if module == "dspy":
        pytest.importorskip("dspy", reason="the [dspy] extra is not installed")
    from elixir_gen.discover import discover_spec
    from elixir_gen.spec import load_spec

    text = discover_spec(module, depth=depth, spec_dir=tmp_path)
    (tmp_path / "spec.yaml").write_text(text)
    library = build_library(load_spec(tmp_path / "spec.yaml"))
    functions = sum(len(m.functions) for m in library.modules)
    assert functions > 3
    assert (tmp_path / ".cache" / f"{module}.introspection.json").exists()


def test_discover_skips_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "awkward.py").write_text(textwrap.dedent('''
        """A module with members inspect cannot handle."""
        class _Raises:
            def __get__(self, obj, owner):
                raise RuntimeError("no")
        class Odd:
            broken = _Raises()
            def fine(self, x: int) -> int:
                return x
        def ok(a, b=2, *rest, c, **kw) -> str:
            return ""
        PI = 3.14
        def __getattr__(name):
            if name == "lazy":
                raise ImportError("lazy import failed")
            raise AttributeError(name)
        __all__ = ["Odd", "ok", "PI", "lazy"]
    '''))
    proc = subprocess.run([PYTHON, "-m", "elixir_gen", "discover", "awkward", "-o", str(tmp_path / "awkward.yaml")], capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    spec = (tmp_path / "awkward.yaml").read_text()
    assert "#   awkward.lazy: reading it raised ImportError" in spec
    assert "#   awkward.PI: a constant of type builtins.float" in spec
    assert "python_path: awkward.ok" in spec and "name: fine" in spec


# ------------------------------------------------------------------- check


def _drift_lib(folder: Path, version: str, body: str) -> None:
    (folder / "driftlib.py").write_text(f'__version__ = "{version}"\n' + textwrap.dedent(body))


def test_check_reports_drift(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    _drift_lib(tmp_path, "1.0.0", '''
        def greet(name, greeting="hello"):
            return f"{greeting} {name}"
        def shout(text):
            return text.upper()
        class Box:
            def put(self, item, *, label=None):
                pass
    ''')
    spec = tmp_path / "driftlib.yaml"
    run = lambda *args: subprocess.run([PYTHON, "-m", "elixir_gen", *args], capture_output=True, text=True, cwd=REPO, env=env)
    assert run("discover", "driftlib", "-o", str(spec)).returncode == 0
    ok = run("check", str(spec))
    assert ok.returncode == 0, ok.stderr
    assert "no drift" in ok.stdout

    _drift_lib(tmp_path, "2.0.0", '''
        def greet(person, greeting="hello"):
            return f"{greeting} {person}"
        class Box:
            def put(self, item, *, tag=None, owner):
                pass
    ''')
    drift = run("check", str(spec))
    assert drift.returncode == 1
    report = drift.stderr
    assert "[version] the spec expects driftlib 1.0.0, 2.0.0 is installed" in report
    assert "[missing] driftlib.shout (function) is gone" in report
    assert "driftlib.greet: argument 'name' (in the cache) was renamed to 'person'?" in report
    assert "driftlib.Box.put: argument 'label' (in the cache) was renamed to 'tag'?" in report
    assert "driftlib.Box.put: new required argument 'owner'" in report


# ------------------------------------------------------------------ pieces


@pytest.mark.parametrize(
    "annotation,expected",
    [
        ("str", "String.t()"),
        ("int", "integer()"),
        ("float", "float()"),
        ("bool", "boolean()"),
        ("list[str]", "[String.t()]"),
        ("typing.List[int]", "[integer()]"),
        ("dict", "map()"),
        ("dict[str, Any]", "map()"),
        ("Optional[int]", "integer() | nil"),
        ("int | None", "integer() | nil"),
        ("Union[str, int, None]", "String.t() | integer() | nil"),
        ("Optional[list[Optional[str]]]", "[String.t() | nil] | nil"),
        ("tuple[int, str]", "{integer(), String.t()}"),
        ("tuple[int, ...]", "tuple()"),
        ("bytes", "PyBridge.Bytes.t()"),
        ("Any", "term()"),
        ("Union[int, Any]", "term()"),
        ("numpy.ndarray", "term()"),
        ("'Square'", "Shapes.Square.t()"),
        ("list[shapes.Square]", "[Shapes.Square.t()]"),
        ("Callable[[int], str]", "term()"),
        ("list[int", "term()"),
        (None, "term()"),
    ],
)
def test_type_mapping(annotation: str | None, expected: str) -> None:
    assert map_annotation(annotation, TypeContext({"shapes.Square": "Shapes.Square"})) == expected


def test_names() -> None:
    assert names.function_name_problem("dumps") is None
    assert names.function_name_problem("valid?") is None
    assert "reserved" in (names.function_name_problem("end") or "")
    assert "snake_case" in (names.function_name_problem("Dumps") or "")
    assert names.derive_function_name("__call__") == "call"
    assert names.derive_function_name("getItem") == "get_item"
    assert names.derive_function_name("fn") == "fn_"
    assert names.derive_variable_name("X") == "x"
    assert names.derive_variable_name("_private") == "private"
    assert names.derive_variable_name("do") == "do_"
    assert names.derive_module_name("numpy.linalg") == "Numpy.Linalg"
    assert names.derive_module_name("my_pkg.HTTPServer") == "MyPkg.HTTPServer"
    assert names.module_name_problem("Json.decoder") is not None
    assert names.atom_literal("indent") == ":indent"
    assert names.atom_literal("weird-name") == ':"weird-name"'
    assert names.string_literal('a"b#{c}\\d\n') == '"a\\"b\\#{c}\\\\d\\n"'


def test_docstrings_become_safe_markdown() -> None:
    doc = '''Summary with ``code`` and :class:`json.JSONDecoder`.

    Args:
        x (int): the value.
        y: another.

    Returns:
        str: text with \\n and #{interp} and """quotes""".

    >>> f(1)
    2
    '''
    md = to_markdown(doc)
    assert "Summary with `code` and `json.JSONDecoder`." in md
    assert "## Args\n\n* `x` (`int`) - the value.\n* `y` - another." in md
    assert "```python\n>>> f(1)\n2\n```" in md
    body = heredoc_body(md)
    assert '"""' not in body.replace('\\"\\"\\"', "")
    assert "\\#{interp}" in body and "\\\\n" in body


def test_elixir_literals() -> None:
    assert elixir_literal({"a": [1, 2.5, None, True]}) == '%{"a" => [1, 2.5, nil, true]}'
    assert elixir_literal(("a", 5)) == '{"a", 5}'
    assert elixir_literal(1e-9) == "1.0e-09"
    assert elixir_literal(float("nan")) == ":nan"


def test_versions() -> None:
    assert satisfies("3.4.1", "3.4.1")
    assert satisfies("3.4.1", "3.4")
    assert not satisfies("3.5.0", "3.4")
    assert satisfies("2.0.9", ">=2.0,<3")
    assert not satisfies("3.0", ">=2.0,<3")
    assert satisfies("1.26.4", "~=1.26")
    assert not satisfies("2.4.6", "!=2.4.6")


def test_spec_errors_are_values_collected_together() -> None:
    with pytest.raises(SpecErrors) as info:
        parse_spec("python_module: json\nfunctions:\n  - python_path: json.dumps\n    elixir_name: Bad\n    pur: true\n", "x.yaml")
    assert [str(e) for e in info.value.errors] == [
        "x.yaml:4: functions[0].elixir_name: found 'Bad', not a valid Elixir function name (expected snake_case: lowercase letters, digits, _, optional ? or ! at the end)",
        "x.yaml:5: functions[0].pur: unknown key 'pur' (did you mean 'pure'?); expected one of: python_path, elixir_name, elixir_module, pure, cacheable, description, args, returns, timeout, streaming, async, result_transform, error_handler, examples",
    ]


def test_mypy() -> None:
    mypy = REPO / ".venv" / "bin" / "mypy"
    if not mypy.exists():
        pytest.skip("mypy is not installed (the [dev] extra)")
    proc = subprocess.run([str(mypy), "elixir_gen"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout
