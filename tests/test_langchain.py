"""LangChain from Elixir, end to end: specs/langchain.yaml and examples/langchain_demo.

The spec has no drift against the installed langchain-core; the LangChain
modules committed under examples/langchain_demo/lib/generated are exactly
what the generator writes today; the example compiles without warnings, is
formatted, and its ExUnit suite runs every flow (a prompt | model | parser
chain, structured output, a tool-calling agent with Elixir tools, streamed
tokens) against the real worker and langchain-core's fake chat models; and
`mix run demo.exs` prints every step. Built in a temporary build path.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "specs" / "langchain.yaml"
EXAMPLE = REPO / "examples" / "langchain_demo"
GENERATED = EXAMPLE / "lib" / "generated"
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
REGENERATE = f"{PYTHON} -m elixir_gen specs/langchain.yaml -o examples/langchain_demo/lib/generated"

pytestmark = [pytest.mark.elixir, pytest.mark.slow]


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stdout + proc.stderr)[-20000:]


def _env(build: Path, mix_env: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LANGCHAIN_DEMO_MODEL"}  # offline
    env.update(MIX_ENV=mix_env, MIX_BUILD_PATH=str(build), PYBRIDGE_PYTHON=PYTHON, HEX_OFFLINE="1")
    return env


def _mix(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mix", *args], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def langchain_installed() -> None:
    if subprocess.run([PYTHON, "-c", "import langchain_core"], capture_output=True).returncode != 0:
        pytest.fail("langchain-core is not installed: scripts/bootstrap.sh dev langchain")


@pytest.fixture(scope="module")
def test_env(tmp_path_factory: pytest.TempPathFactory, langchain_installed: None) -> Iterator[dict[str, str]]:
    if shutil.which("mix") is None:
        pytest.fail("the Elixir toolchain (mix) is not installed; run scripts/bootstrap.sh")
    yield _env(tmp_path_factory.mktemp("langchain_demo_build"), "test")


def test_spec_has_no_drift(langchain_installed: None) -> None:
    proc = subprocess.run([PYTHON, "-m", "elixir_gen", "check", str(SPEC.relative_to(REPO))], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, _output(proc)
    assert "no drift" in proc.stdout


def test_committed_modules_are_what_the_generator_writes(tmp_path: Path, langchain_installed: None) -> None:
    spec = tmp_path / "spec" / SPEC.name
    spec.parent.mkdir()
    for path in SPEC.parent.glob(f"{SPEC.stem}.*"):
        shutil.copy2(path, spec.parent / path.name)
    out = tmp_path / "lib"
    proc = subprocess.run([PYTHON, "-m", "elixir_gen", str(spec), "-o", str(out)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, _output(proc)
    new = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    old = {p.relative_to(GENERATED) for p in GENERATED.rglob("*") if p.is_file()}
    problems = [f"missing: {p}" for p in sorted(new - old)] + [f"stale: {p}" for p in sorted(old - new)]
    problems += [f"differs: {p}" for p in sorted(new & old) if not filecmp.cmp(out / p, GENERATED / p, shallow=False)]
    assert new and not problems, "\n".join(problems) + f"\nregenerate with: {REGENERATE}"


def test_dialyzer(test_env: dict[str, str], tmp_path: Path) -> None:
    """Dialyzer over the example's modules (generated and hand-written), with the runtime in the PLT."""
    compiled = _mix(["compile"], test_env)
    assert compiled.returncode == 0, _output(compiled)
    base = sorted((REPO / ".cache" / "dialyzer").glob("*.plt"))
    if not base:
        subprocess.run([str(REPO / "priv" / "pybridge" / "scripts" / "dialyzer.sh")], cwd=REPO / "priv" / "pybridge", capture_output=True, timeout=900)
        base = sorted((REPO / ".cache" / "dialyzer").glob("*.plt"))
    assert base, "scripts/dialyzer.sh did not build a PLT in .cache/dialyzer/"
    elixir_lib = subprocess.run(["elixir", "-e", "IO.write(:code.lib_dir(:elixir) |> Path.dirname())"], capture_output=True, text=True).stdout
    env = {**test_env, "ERL_LIBS": elixir_lib}
    lib = Path(test_env["MIX_BUILD_PATH"]) / "lib"
    runtime_plt = tmp_path / "runtime.plt"
    proc = subprocess.run(
        ["dialyzer", "--build_plt", "--output_plt", str(runtime_plt), "--plts", str(base[-1]), "-r", str(lib / "pybridge" / "ebin")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode in (0, 2), _output(proc)
    proc = subprocess.run(
        ["dialyzer", "--no_check_plt", "--plts", str(base[-1]), str(runtime_plt), "-Werror_handling", "-Wunmatched_returns", "-r", str(lib / "langchain_demo" / "ebin")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, _output(proc)


def test_compiles_formatted_and_exunit_runs_every_flow(test_env: dict[str, str]) -> None:
    compiled = _mix(["compile", "--warnings-as-errors"], test_env)
    assert compiled.returncode == 0 and "warning" not in compiled.stderr, _output(compiled)
    formatted = _mix(["format", "--check-formatted"], test_env)
    assert formatted.returncode == 0, _output(formatted)
    proc = _mix(["test", "--warnings-as-errors"], test_env)
    assert proc.returncode == 0, _output(proc)
    assert re.search(r"\b0 failures\b", proc.stdout) and "excluded" not in proc.stdout, _output(proc)


def test_demo_prints_every_step(tmp_path_factory: pytest.TempPathFactory, langchain_installed: None) -> None:
    env = _env(tmp_path_factory.mktemp("langchain_demo_dev"), "dev")
    proc = _mix(["run", "demo.exs"], env)
    assert proc.returncode == 0, _output(proc)
    lines = proc.stdout.splitlines()
    header = next((line for line in lines if line.startswith("LangChain (")), "")
    assert header.startswith("LangChain (langchain-core 1.8") and "fake chat models" in header, _output(proc)
    steps = [line for line in lines if re.match(r"^\[\d/4\] ", line)]
    assert len(steps) == 4, proc.stdout
    assert 'population(%{"city" => "Paris"}) -> 2.1' in proc.stdout
    assert 'multiply(%{"a" => 6, "b" => 7}) -> 42' in proc.stdout
    assert '%{"city" => "Paris", "country" => "France", "population_millions" => 2.1}' in proc.stdout
