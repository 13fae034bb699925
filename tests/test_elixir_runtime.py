"""The Elixir runtime's checks (priv/pybridge), run as subprocesses.

Each test runs one tool and fails with its output: format check, compile
with warnings as errors, the ExUnit suite (against the real Python worker)
and Dialyzer (scripts/dialyzer.sh, which caches its PLT under .cache/).
Nothing here needs the network: the Mix project has no dependencies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = REPO_ROOT / "priv" / "pybridge"

pytestmark = pytest.mark.elixir


def _python() -> str:
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _run(args: list[str], mix_env: str, timeout: float) -> None:
    if shutil.which("mix") is None:
        pytest.fail("the Elixir toolchain (mix) is not installed; run scripts/bootstrap.sh")
    env = {
        **os.environ,
        "MIX_ENV": mix_env,
        "PYBRIDGE_PYTHON": _python(),
        "HEX_OFFLINE": "1",
    }
    try:
        result = subprocess.run(
            args,
            cwd=PROJECT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode(errors="replace")
        pytest.fail(f"`{' '.join(args)}` did not finish in {timeout} s:\n{output}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(args)}` (MIX_ENV={mix_env}) exited with status {result.returncode}:\n{result.stdout}",
            pytrace=False,
        )


def test_format() -> None:
    _run(["mix", "format", "--check-formatted"], "dev", timeout=120)


def test_compile_warnings_as_errors() -> None:
    _run(["mix", "compile", "--force", "--warnings-as-errors"], "dev", timeout=300)


@pytest.mark.slow
def test_exunit() -> None:
    _run(["mix", "test"], "test", timeout=600)


@pytest.mark.slow
def test_dialyzer() -> None:
    _run([str(PROJECT / "scripts" / "dialyzer.sh")], "dev", timeout=900)


def test_readme_examples_run(tmp_path: Path) -> None:
    """The README's Elixir examples are real: every line must hold when run."""
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split("```elixir\n")[1:]]
    examples = [block for block in blocks if "PyBridge." in block and "{:pybridge," not in block]
    assert examples, "the README has no Elixir example of the API"
    script = tmp_path / "readme_examples.exs"
    script.write_text("\n".join(examples) + '\nIO.puts("README examples ran")\n')
    _run(["mix", "run", str(script)], "dev", timeout=120)
