"""Generated code against the real toolchain: one temporary Mix project, a
fresh one depending on priv/pybridge by path, holds every golden output, the
code generated from every spec in specs/ and from `discover` on json,
collections, numpy and dspy, and a spec the `:pybridge` compiler generates at
compile time. It must compile with --warnings-as-errors, be formatted, pass
Dialyzer together with the runtime and the generated smoke tests (so a call
with a value the spec does not allow is an error), and its ExUnit tests
(generated from spec examples, plus the golden cases' hand-written ones)
must pass against the real Python worker. The mix tasks (pybridge.gen,
.discover, .check, .report) run in it as a user would run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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

    def run(self, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=self.root, env={**self.env, **env}, capture_output=True, text=True, timeout=timeout)


# The spec the :pybridge compiler generates when the project compiles.
COMPILED_SPEC = """python_module: json
elixir_module: Compiled.Json
functions:
  - python_path: json.dumps
  - python_path: json.loads
"""

# Generated smoke tests compiled to .beam files, for Dialyzer.
COMPILE_TESTS = """ExUnit.start(autorun: false)
files = Path.wildcard("test/{golden,specs}/**/*_test.exs")
File.rm_rf!("_build/smoke_tests")
File.mkdir_p!("_build/smoke_tests")
{:ok, _, _} = Kernel.ParallelCompiler.compile_to_path(files, "_build/smoke_tests")
"""


def _mix_exs() -> str:
    return f'''defmodule GeneratedCheck.MixProject do
  use Mix.Project

  def project do
    [
      app: :generated_check,
      version: "0.1.0",
      elixir: "~> 1.14",
      compilers: [:pybridge] ++ Mix.compilers(),
      deps: [{{:pybridge, path: {str(RUNTIME)!r}}}]
    ]
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
        + '  export_to_python: [{Shapes.Support, :double, 1, "double"}],\n'
        + '  specs: [{"specs/compiled.yaml", output: "lib/compiled"}]\n'
    )
    (root / "specs").mkdir()
    (root / "specs" / "compiled.yaml").write_text(COMPILED_SPEC)
    (root / "compile_tests.exs").write_text(COMPILE_TESTS)
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

    # A copy of specs/, so that generating never writes into the repository (caches, locks).
    shutil.copytree(REPO / "specs", root / "repo_specs", ignore=shutil.ignore_patterns("*.lock"))
    jobs: dict[str, Callable[[], list[Path]]] = {}
    for spec in sorted((root / "repo_specs").glob("*.yaml")):

        def from_spec(spec: Path = spec) -> list[Path]:
            out = root / "lib" / "specs" / spec.stem
            _generate([str(spec), "-o", str(out), "--tests", "--tests-dir", str(root / "test" / "specs" / spec.stem), "--no-lock"], env)
            return sorted(out.rglob("*.ex"))

        jobs[f"specs/{spec.name}"] = from_spec

    for module, depth in DISCOVERED:
        if module == "dspy" and subprocess.run([PYTHON, "-c", "import dspy"], capture_output=True).returncode != 0:
            continue  # test_discovered_libraries_compile says so

        def discovered(module: str = module, depth: int = depth) -> list[Path]:
            spec = root / "discover" / f"{module}.yaml"
            namespace = "Discovered." + module.capitalize()
            _generate(["discover", module, "--depth", str(depth), "--namespace", namespace, "-o", str(spec)], env)
            out = root / "lib" / "discovered" / module
            _generate([str(spec), "-o", str(out), "--no-lock"], env)
            return sorted(out.rglob("*.ex"))

        jobs[f"discover/{module}"] = discovered

    # Each job is its own Python processes: run a few at once.
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {label: pool.submit(job) for label, job in jobs.items()}
        for label, future in futures.items():
            modules[label] = future.result()

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
    specs = sorted((project.root / "repo_specs").glob("*.yaml"))
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
    """Dialyzer over the generated modules and their generated smoke tests, with the runtime in the PLT.

    The smoke tests call functions with the spec's example values: a value
    the function's @spec does not allow is a Dialyzer error ("will never
    return since it differs in the 1st argument…"). The base PLT (erts,
    kernel, stdlib, elixir, logger) is the one the runtime's
    scripts/dialyzer.sh builds and caches in .cache/dialyzer/.
    """
    assert project.compile.returncode == 0, "does not compile"
    tests = project.run("mix", "run", "--no-start", "compile_tests.exs")
    assert tests.returncode == 0, _output(tests)
    smoke = project.root / "_build" / "smoke_tests"
    assert len(list(smoke.glob("*.beam"))) >= 8, "the generated smoke tests did not compile"
    base = sorted((REPO / ".cache" / "dialyzer").glob("*.plt"), key=lambda p: p.stat().st_mtime)
    if not base:
        subprocess.run([str(RUNTIME / "scripts" / "dialyzer.sh")], cwd=RUNTIME, capture_output=True, timeout=900)
        base = sorted((REPO / ".cache" / "dialyzer").glob("*.plt"), key=lambda p: p.stat().st_mtime)
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
        ["dialyzer", "--no_check_plt", "--plts", str(base[-1]), str(runtime_plt), "-Werror_handling", "-Wunmatched_returns", "-r", str(build / "generated_check" / "ebin"), str(smoke)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, _output(proc)


# ------------------------------------------------------------- mix tasks


def test_compile_time_generation(project: Project) -> None:
    """`config :pybridge, specs: [...]` + the :pybridge compiler: generated when the project
    first compiled, left alone (no Python started) while current, regenerated when the spec changes."""
    assert project.compile.returncode == 0, _output(project.compile)
    assert "Generating lib/compiled from specs/compiled.yaml" in project.compile.stdout + project.compile.stderr
    generated = project.root / "lib" / "compiled" / "compiled" / "json.ex"
    lock = (project.root / "specs" / "compiled.lock").read_text()
    assert "output: " in lock and "../lib/compiled/compiled/json.ex" in lock and "library: json" in lock
    assert "def dumps(" in generated.read_text() and "def dump(" not in generated.read_text()

    current = project.run("mix", "compile", PYBRIDGE_PYTHON="/nonexistent/python")
    assert current.returncode == 0, _output(current)
    assert "Generating" not in current.stdout + current.stderr

    spec = project.root / "specs" / "compiled.yaml"
    try:
        spec.write_text(COMPILED_SPEC + "  - python_path: json.dump\n")
        changed = project.run("mix", "compile")
        assert changed.returncode == 0, _output(changed)
        assert "Generating lib/compiled from specs/compiled.yaml" in changed.stdout + changed.stderr
        assert "def dump(" in generated.read_text()

        spec.write_text(COMPILED_SPEC + "  - python_path: json.nope\n")
        broken = project.run("mix", "compile")
        assert broken.returncode != 0
        assert "json.nope was not found in the installed json" in broken.stdout + broken.stderr
    finally:
        spec.write_text(COMPILED_SPEC)
        restored = project.run("mix", "compile")
    assert restored.returncode == 0, _output(restored)
    assert "def dump(" not in generated.read_text()


def test_mix_tasks(project: Project) -> None:
    """The generator's commands as mix tasks, from the fresh project: mix-style output and exit codes."""
    listed = project.run("mix", "help")
    for task in ("pybridge.gen", "pybridge.discover", "pybridge.check", "pybridge.report", "compile.pybridge"):
        assert f"mix {task}" in listed.stdout, listed.stdout
    doc = project.run("mix", "help", "pybridge.gen")
    assert "--tests-dir" in doc.stdout and "quality report" in doc.stdout

    discovered = project.run("mix", "pybridge.discover", "json", "--depth", "0", "--namespace", "TaskJson", "-o", "specs/task_json.yaml")
    assert discovered.returncode == 0, _output(discovered)
    assert "* generated specs/task_json.yaml" in discovered.stdout

    generated = project.run("mix", "pybridge.gen", "specs/task_json.yaml", "-o", "task_out", "--tests", "--tests-dir", "task_test")
    assert generated.returncode == 0, _output(generated)
    assert "* generated task_out/task_json.ex" in generated.stdout
    assert "concrete positions:" in generated.stdout and "private members: 0, boilerplate docs: 0" in generated.stdout

    clean = project.run("mix", "pybridge.check", "specs/task_json.yaml")
    assert clean.returncode == 0, _output(clean)
    assert "no drift" in clean.stdout

    report = project.run("mix", "pybridge.report", "specs/task_json.yaml", "--json")
    assert report.returncode == 0, _output(report)
    assert '"concrete_share"' in report.stdout

    out = project.root / "task_out" / "task_json.ex"
    out.write_text(out.read_text() + "# edited by hand\n")
    stale = project.run("mix", "pybridge.check", "specs/task_json.yaml")
    assert stale.returncode == 1
    assert "task_out/task_json.ex was edited since it was generated; regenerate" in stale.stdout + stale.stderr
    assert "** (Mix)" in stale.stderr

    (project.root / "specs" / "bad.yaml").write_text("python_module: json\nfunctions:\n  - python_path: json.dumpz\n")
    bad = project.run("mix", "pybridge.gen", "specs/bad.yaml", "-o", "task_out")
    assert bad.returncode == 1
    assert "specs/bad.yaml:3: python_path: json.dumpz was not found" in bad.stdout + bad.stderr
    missing = project.run("mix", "pybridge.gen")
    assert missing.returncode == 1 and "expected one spec" in missing.stderr
