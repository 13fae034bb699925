"""DSPy from Elixir, end to end: specs/dspy.yaml and examples/dspy_demo.

The spec has no drift against the installed DSPy (`elixir_gen check`); the
DSPex modules committed under examples/dspy_demo/lib/generated (and their
smoke tests under test/generated) are exactly what the generator writes
today; the example application compiles without warnings, is formatted,
passes Dialyzer together with the runtime, and its ExUnit suite runs every
flow of the demo against the real worker, real DSPy and DSPy's DummyLM; and
the demo itself (`mix run demo.exs`) runs and prints every step.

The example is built in a temporary build path (MIX_BUILD_PATH), so a
developer's own `_build` is neither used nor disturbed.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "specs" / "dspy.yaml"
EXAMPLE = REPO / "examples" / "dspy_demo"
RUNTIME = REPO / "priv" / "pybridge"
GENERATED = {"lib": EXAMPLE / "lib" / "generated", "test": EXAMPLE / "test" / "generated"}
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
REGENERATE = (
    f"{PYTHON} -m elixir_gen specs/dspy.yaml -o examples/dspy_demo/lib/generated "
    "--tests --tests-dir examples/dspy_demo/test/generated"
)

pytestmark = [pytest.mark.elixir, pytest.mark.slow]


@dataclass
class Example:
    """The example application, built for one Mix environment in a temporary build path."""

    env: dict[str, str]
    build: Path
    compile: subprocess.CompletedProcess[str]

    def mix(self, *args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["mix", *args], cwd=EXAMPLE, env=env or self.env, capture_output=True, text=True, timeout=timeout)


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stdout + proc.stderr)[-20000:]


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _mix_env(build: Path, mix_env: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSPEX_")}  # the demo must run offline
    env.update(MIX_ENV=mix_env, MIX_BUILD_PATH=str(build), PYBRIDGE_PYTHON=PYTHON, HEX_OFFLINE="1")
    return env


@pytest.fixture(scope="module")
def dspy_installed() -> None:
    if subprocess.run([PYTHON, "-c", "import dspy, optuna"], capture_output=True).returncode != 0:
        pytest.fail("dspy with its optuna extra is not installed: scripts/bootstrap.sh dev dspy")


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory, dspy_installed: None) -> Iterator[Example]:
    if shutil.which("mix") is None:
        pytest.fail("the Elixir toolchain (mix) is not installed; run scripts/bootstrap.sh")
    build = tmp_path_factory.mktemp("dspy_demo_build")
    env = _mix_env(build, "test")
    compiled = subprocess.run(["mix", "compile", "--warnings-as-errors"], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=600)
    yield Example(env, build, compiled)
    # ExUnit's @tag :tmp_dir folders go to the example's tmp/.
    shutil.rmtree(EXAMPLE / "tmp", ignore_errors=True)


def test_spec_has_no_drift(dspy_installed: None) -> None:
    proc = _run([PYTHON, "-m", "elixir_gen", "check", str(SPEC.relative_to(REPO))])
    assert proc.returncode == 0, _output(proc)
    assert "no drift" in proc.stdout


def test_committed_modules_are_what_the_generator_writes(tmp_path: Path, dspy_installed: None) -> None:
    # From a copy of the spec and its introspection cache: generating writes
    # a lock next to the spec, and the committed one must stay as it is.
    spec = tmp_path / "spec" / SPEC.name
    spec.parent.mkdir()
    for path in SPEC.parent.glob(f"{SPEC.stem}.*"):
        shutil.copy2(path, spec.parent / path.name)
    out = {"lib": tmp_path / "lib", "test": tmp_path / "test"}
    proc = _run([PYTHON, "-m", "elixir_gen", str(spec), "-o", str(out["lib"]), "--tests", "--tests-dir", str(out["test"])])
    assert proc.returncode == 0, _output(proc)
    for kind, committed in GENERATED.items():
        differences = _tree_differences(out[kind], committed)
        assert not differences, f"{committed.relative_to(REPO)} is not what specs/dspy.yaml generates:\n" + "\n".join(differences) + f"\nregenerate with: {REGENERATE}"


def _tree_differences(generated: Path, committed: Path) -> list[str]:
    new = {p.relative_to(generated) for p in generated.rglob("*") if p.is_file()}
    old = {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()} if committed.is_dir() else set()
    assert new, f"the generator wrote nothing into {generated}"
    problems = [f"  missing: {p}" for p in sorted(new - old)]
    problems += [f"  not generated (stale): {p}" for p in sorted(old - new)]
    problems += [f"  differs: {p}" for p in sorted(new & old) if not filecmp.cmp(generated / p, committed / p, shallow=False)]
    return problems


def test_compiles_without_warnings(example: Example) -> None:
    assert example.compile.returncode == 0, _output(example.compile)
    assert "warning" not in example.compile.stderr, _output(example.compile)


def test_formatted(example: Example) -> None:
    proc = example.mix("format", "--check-formatted")
    assert proc.returncode == 0, _output(proc)


def test_exunit_runs_every_flow(example: Example) -> None:
    assert example.compile.returncode == 0, "does not compile"
    proc = example.mix("test", "--warnings-as-errors", timeout=600)
    assert proc.returncode == 0, _output(proc)
    assert re.search(r"\b0 failures\b", proc.stdout), _output(proc)
    assert "excluded" not in proc.stdout and "skipped" not in proc.stdout, _output(proc)
    # The flows of the demo, the DSPex API beyond them, and the spec's examples.
    missing = {"DSPyDemoTest", "DSPexTest", "DSPexProgramsTest", "DSPexPoolTest", "DSPex.ExampleTest", "DSPex.DummyLMTest"} - _test_modules()
    assert not missing, f"test modules missing from examples/dspy_demo/test: {missing}"


def _test_modules() -> set[str]:
    return {m for p in (EXAMPLE / "test").rglob("*_test.exs") for m in re.findall(r"^defmodule (\S+) do", p.read_text(), re.M)}


def test_dialyzer(example: Example, tmp_path: Path) -> None:
    """Dialyzer over the example's modules (generated and hand-written), with the runtime in the PLT.

    The base PLT (erts, kernel, stdlib, elixir, logger) is the one the
    runtime's scripts/dialyzer.sh builds and caches in .cache/dialyzer/.
    """
    assert example.compile.returncode == 0, "does not compile"
    base = sorted((REPO / ".cache" / "dialyzer").glob("*.plt"))
    if not base:
        subprocess.run([str(RUNTIME / "scripts" / "dialyzer.sh")], cwd=RUNTIME, capture_output=True, timeout=900)
        base = sorted((REPO / ".cache" / "dialyzer").glob("*.plt"))
    assert base, "scripts/dialyzer.sh did not build a PLT in .cache/dialyzer/"
    elixir_lib = subprocess.run(["elixir", "-e", "IO.write(:code.lib_dir(:elixir) |> Path.dirname())"], capture_output=True, text=True).stdout
    env = {**example.env, "ERL_LIBS": elixir_lib}
    lib = example.build / "lib"
    runtime_plt = tmp_path / "runtime.plt"
    proc = subprocess.run(
        ["dialyzer", "--build_plt", "--output_plt", str(runtime_plt), "--plts", str(base[-1]), "-r", str(lib / "pybridge" / "ebin")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode in (0, 2), _output(proc)  # 2: warnings in the runtime's own PLT build
    proc = subprocess.run(
        ["dialyzer", "--no_check_plt", "--plts", str(base[-1]), str(runtime_plt), "-Werror_handling", "-Wunmatched_returns", "-r", str(lib / "dspy_demo" / "ebin")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, _output(proc)


STEP = re.compile(r"^\[(?P<label>setup|\d/\d)\] (?P<title>.+?) \.+ +(?P<ms>\d+) ms$")


def test_demo_prints_every_step(example: Example, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`mix run demo.exs` as a user runs it (MIX_ENV=dev, DummyLM): exit 0, every step with its time."""
    env = _mix_env(tmp_path_factory.mktemp("dspy_demo_dev"), "dev")
    compiled = example.mix("compile", "--warnings-as-errors", env=env, timeout=600)
    assert compiled.returncode == 0, _output(compiled)
    proc = example.mix("run", "demo.exs", env=env, timeout=600)
    assert proc.returncode == 0, _output(proc)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("DSPy 3.4") and "DummyLM" in lines[0], _output(proc)

    steps = [m for m in map(STEP.match, lines) if m]
    assert [m["label"] for m in steps] == ["setup", "1/5", "2/5", "3/5", "4/5", "5/5"], proc.stdout
    assert [m["title"] for m in steps[1:]] == [
        "Predict",
        "ChainOfThought",
        "ReAct with an Elixir tool",
        "BootstrapFewShot with an Elixir metric, then Evaluate",
        "Streamed ReAct run",
    ], proc.stdout
    sections = _sections(lines)

    assert any(line.startswith("answer:") for line in sections["1/5"]), proc.stdout
    assert any(line.startswith("reasoning:") for line in sections["2/5"]), proc.stdout

    # ReAct: the observation of the Elixir tool is the product of the arguments it received.
    react = "\n".join(sections["3/5"])
    call = re.search(r'step 0: multiply\(%\{"a" => (\d+), "b" => (\d+)\}\) -> (\d+)', react)
    assert call and int(call[1]) * int(call[2]) == int(call[3]), react
    assert f'the Elixir tool received: [%{{"a" => {call[1]}, "b" => {call[2]}}}]' in react

    # BootstrapFewShot: one metric call per training example, then the evaluation.
    bootstrap = sections["4/5"]
    verdicts = [line.rsplit("-> ", 1)[1] for line in bootstrap if line.startswith("metric(")]
    assert len(verdicts) == 4 and set(verdicts) <= {"true", "false"}, bootstrap
    summary = next(line for line in bootstrap if line.startswith("metric accepted"))
    assert summary.startswith(f"metric accepted {verdicts.count('true')} of 4 traces"), summary
    assert any(re.fullmatch(r"Evaluate on 2 held-out examples: \d+\.\d%", line) for line in bootstrap), bootstrap

    # The stream: status messages as the tool runs, the prediction last.
    events = [line for line in sections["5/5"] if re.match(r"\+\d+ ms ", line)]
    assert events and "status: Calling tool multiply" in events[0] and "prediction: answer = " in events[-1], sections["5/5"]
    assert re.search(r"^Done: 5 steps in \d+\.\d\d s$", proc.stdout, re.M), proc.stdout


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """The indented lines printed under each step, by step label."""
    sections: dict[str, list[str]] = {}
    label = None
    for line in lines:
        if m := STEP.match(line):
            label = m["label"]
            sections[label] = []
        elif label and line.startswith("      "):
            sections[label].append(line.strip())
    return sections
