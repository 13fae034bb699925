"""Smoke test of the benchmark suite (benchmarks/run.py) with tiny sample counts.

It checks that the one command builds everything it needs, measures every
path of every operation, and writes the report and the chart. It never looks
at how fast anything was: timings on a shared CI machine mean nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.elixir]

ELIXIR_PATHS = ("floor", "pybridge", "wrapper")
PYTHON_PATHS = ("etf_port", "grpc")
OPS = ("noop", "small_kwargs", "binary_1mib", "maps_10k", "ndarray_8mib", "stream_10k", "instance")
THROUGHPUT = tuple(f"throughput_c{c}_w{w}" for c in (1, 8, 64) for w in (1, 2))


def _missing_bench_extra() -> list[str]:
    return [name for name in ("grpc", "grpc_tools", "msgpack", "matplotlib") if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], str]:
    missing = _missing_bench_extra()
    if missing:
        pytest.skip(f"the [bench] extra is not installed (missing {', '.join(missing)}): pip install -e '.[dev,bench]'")
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler: the floor echo (benchmarks/floor/echo.c) is built with gcc")
    if shutil.which("mix") is None:
        pytest.fail("the Elixir toolchain (mix) is not installed; run scripts/bootstrap.sh")
    out = tmp_path_factory.mktemp("bench")
    records = out / "records.json"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.run", "--quick", "--runs", "2", "--out", str(out), "--records", str(records)],
            cwd=ROOT,
            env={**os.environ, "PYBRIDGE_PYTHON": sys.executable},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`python -m benchmarks.run --quick --runs 2` did not finish in 300 s:\n{exc.stdout}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"`python -m benchmarks.run --quick --runs 2` exited with {result.returncode}:\n{result.stdout}", pytrace=False)
    return out, json.loads(records.read_text()), result.stdout


def test_writes_report_and_chart(run: tuple[Path, list[dict], str]) -> None:
    out, _, stdout = run
    (report,) = out.glob("*.md")
    (chart,) = out.glob("*.png")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart.stem == report.stem
    text = report.read_text()
    for heading in ("## Targets", "## From Elixir", "## Transport, like for like", "## Throughput", "msgpack", "## Stability: run 1 against run 2"):
        assert heading in text
    assert f"![chart]({chart.name})" in text
    assert "PyB÷floor" in stdout and "gRPC÷ETF" in stdout  # the printed summary table
    assert "a bare Python echo, nothing decoded: " in text
    assert "BEAM flags `+sbwt none +sbwtdcpu none +sbwtdio none`" in text  # run.py's default, stated


def test_every_path_of_every_operation_has_numbers(run: tuple[Path, list[dict], str]) -> None:
    _, records, _ = run
    seen = {(r["side"], r["op"], r["path"], r["round"]): r for r in records}
    expected = [("elixir", op, path) for op in OPS + THROUGHPUT for path in ELIXIR_PATHS]
    expected += [("python", op, path) for op in OPS + THROUGHPUT for path in PYTHON_PATHS]
    expected += [("python", "maps_10k", "msgpack"), ("python", "maps_10k", "etf_codec"), ("elixir", "noop", "python_echo")]
    rounds = {r["round"] for r in records}
    assert rounds == {1, 2, 3, 4}  # two runs of two rounds
    missing = [key for key in expected for round_ in rounds if key + (round_,) not in seen]
    assert not missing, f"no record for {missing}"
    for key in expected:
        for round_ in rounds:
            record = seen[key + (round_,)]
            assert record["n"] > 0 and record["p50_us"] > 0 and record["p99_us"] >= record["p50_us"], record
            assert record["per_s"] > 0, record
