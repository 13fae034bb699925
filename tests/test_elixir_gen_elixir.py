"""Generated code against the real toolchain: one temporary Mix project holds
every golden output, the code generated from every spec in specs/ and from
`discover` on json, collections, numpy and dspy. It must compile with
--warnings-as-errors, be formatted, pass Dialyzer together with the runtime,
and its ExUnit tests (generated from spec examples, plus the golden cases'
hand-written ones) must pass against the real Python worker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
RUNTIME = REPO / "priv" / "pybridge"
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
DISCOVERED = [("json", 1), ("collections", 1), ("numpy", 0), ("dspy", 0)]

pytestmark = [pytest.mark.elixir, pytest.mark.slow]


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    modules: dict[str, list[Path]]  # source label -> generated .ex files
    compile: subprocess.CompletedProcess[str]

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout)


def _mix_exs() -> str:
    return f'''defmodule GeneratedCheck.MixProject do
  use Mix.Project

  def project do
    [app: :generated_check, version: "0.1.0", elixir: "~> 1.14", deps: [{{:pybridge, path: {str(RUNTIME)!r}}}]]
  end

  def application, do: [extra_applications: [:logger]]
end
'''.replace("'", '"')


def _generate(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run([PYTHON, "-m", "elixir_gen", *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 0, f"python -m elixir_gen {' '.join(args)} failed:\n{proc.stderr}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    if shutil.which("mix") is None:
        pytest.fail("the Elixir toolchain (mix) is not installed; run scripts/bootstrap.sh")
    if not (RUNTIME / "lib" / "pybridge.ex").exists():
        pytest.fail("the runtime priv/pybridge is missing")
    root = tmp_path_factory.mktemp("generated_check")
    (root / "lib").mkdir()
    (root / "test").mkdir()
    (root / "config").mkdir()
    (root / "mix.exs").write_text(_mix_exs())
    (root / ".formatter.exs").write_text('[inputs: ["{lib,test}/**/*.{ex,exs}"]]\n')
    (root / "test" / "test_helper.exs").write_text("ExUnit.start()\n")
    python_paths = [str(p) for p in sorted(GOLDEN.glob("*/python"))]
    (root / "config" / "config.exs").write_text(
        "import Config\n\n"
        f"config :pybridge, python_path: {python_paths!r}, pool_size: 2,\n".replace("'", '"')
        + '  export_to_python: [{Shapes.Support, :double, 1, "double"}]\n'
    )
    env = {**os.environ, "MIX_ENV": "test", "PYBRIDGE_PYTHON": PYTHON, "HEX_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(python_paths)}
    modules: dict[str, list[Path]] = {}

    for case in sorted(GOLDEN.iterdir()):
        if not (case / "expected" / "lib").is_dir():
            continue
        shutil.copytree(case / "expected" / "lib", root / "lib" / "golden" / case.name)
        if (case / "expected" / "test").is_dir():
            shutil.copytree(case / "expected" / "test", root / "test" / "golden" / case.name)
        for extra, folder in (("elixir", "lib"), ("exunit", "test")):
            if (case / extra).is_dir():
                shutil.copytree(case / extra, root / folder / "golden_support" / case.name / extra)
        modules[f"golden/{case.name}"] = sorted((root / "lib" / "golden" / case.name).rglob("*.ex"))

    for spec in sorted((REPO / "specs").glob("*.yaml")):
        out = root / "lib" / "specs" / spec.stem
        _generate([str(spec), "-o", str(out), "--tests", "--tests-dir", str(root / "test" / "specs" / spec.stem)], env)
        modules[f"specs/{spec.name}"] = sorted(out.rglob("*.ex"))

    for module, depth in DISCOVERED:
        if module == "dspy" and subprocess.run([PYTHON, "-c", "import dspy"], capture_output=True).returncode != 0:
            continue  # test_discovered_libraries_compile says so
        spec = root / "discover" / f"{module}.yaml"
        namespace = "Discovered." + module.capitalize()
        _generate(["discover", module, "--depth", str(depth), "--namespace", namespace, "-o", str(spec)], env)
        out = root / "lib" / "discovered" / module
        _generate([str(spec), "-o", str(out)], env)
        modules[f"discover/{module}"] = sorted(out.rglob("*.ex"))

    compiled = subprocess.run(["mix", "compile", "--warnings-as-errors"], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    return Project(root, env, modules, compiled)


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stdout + proc.stderr)[-20000:]


def test_compiles_without_warnings(project: Project) -> None:
    assert project.compile.returncode == 0, _output(project.compile)
    assert "warning" not in project.compile.stderr, _output(project.compile)


def test_every_golden_case_is_in_the_project(project: Project) -> None:
    valid = [c.name for c in GOLDEN.iterdir() if (c / "spec.yaml").is_file() and not c.name.startswith("bad_")]
    assert valid and all(project.modules.get(f"golden/{name}") for name in valid)


@pytest.mark.parametrize("module", [m for m, _ in DISCOVERED])
def test_discovered_libraries_compile(project: Project, module: str) -> None:
    if module == "dspy" and "discover/dspy" not in project.modules:
        pytest.skip("dspy is not installed: pip install -e '.[dspy]'")
    files = project.modules[f"discover/{module}"]
    assert files, f"discover {module} generated nothing"
    assert project.compile.returncode == 0, _output(project.compile)


def test_specs_folder_compiles(project: Project) -> None:
    specs = sorted((REPO / "specs").glob("*.yaml"))
    if not specs:
        pytest.skip("specs/ holds no spec yet")
    for spec in specs:
        assert project.modules[f"specs/{spec.name}"], f"{spec.name} generated nothing"
    assert project.compile.returncode == 0, _output(project.compile)


def test_formatted(project: Project) -> None:
    proc = project.run("mix", "format", "--check-formatted")
    assert proc.returncode == 0, _output(proc)


def test_exunit_against_the_worker(project: Project) -> None:
    assert project.compile.returncode == 0, "does not compile"
    proc = project.run("mix", "test", timeout=600)
    assert proc.returncode == 0, _output(proc)
    assert " 0 failures" in proc.stdout


def test_dialyzer(project: Project, tmp_path: Path) -> None:
    """Dialyzer over the generated modules, with the runtime in the PLT.

    The base PLT (erts, kernel, stdlib, elixir, logger) is the one the
    runtime's scripts/dialyzer.sh builds and caches in .cache/dialyzer/.
    """
    assert project.compile.returncode == 0, "does not compile"
    base = sorted((REPO / ".cache" / "dialyzer").glob("*.plt"))
    if not base:
        subprocess.run([str(RUNTIME / "scripts" / "dialyzer.sh")], cwd=RUNTIME, capture_output=True, timeout=900)
        base = sorted((REPO / ".cache" / "dialyzer").glob("*.plt"))
    assert base, "scripts/dialyzer.sh did not build a PLT in .cache/dialyzer/"
    elixir_lib = subprocess.run(["elixir", "-e", "IO.write(:code.lib_dir(:elixir) |> Path.dirname())"], capture_output=True, text=True).stdout
    env = {**project.env, "ERL_LIBS": elixir_lib}
    build = project.root / "_build" / "test" / "lib"
    runtime_plt = tmp_path / "runtime.plt"
    proc = subprocess.run(
        ["dialyzer", "--build_plt", "--output_plt", str(runtime_plt), "--plts", str(base[-1]), "-r", str(build / "pybridge" / "ebin")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode in (0, 2), _output(proc)
    proc = subprocess.run(
        ["dialyzer", "--no_check_plt", "--plts", str(base[-1]), str(runtime_plt), "-Werror_handling", "-Wunmatched_returns", "-r", str(build / "generated_check" / "ebin")],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, _output(proc)
