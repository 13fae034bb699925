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
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pybridge_port.codec import decode, encode
from pybridge_port.types import Atom

ROOT = Path(__file__).resolve().parent.parent

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


@pytest.mark.slow  # the suite run needs Elixir; the floor tests below do not
@pytest.mark.elixir
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
    for heading in ("## Targets of issue 13", "## CPU per call", "## BEAM flags side by side"):
        assert heading in text
    assert "≤ 1.1× `simple_rpc`" in text and "≥ 0.5× `batched_echo`" in text


@pytest.mark.slow  # the suite run needs Elixir; the floor tests below do not
@pytest.mark.elixir
def test_every_path_of_every_operation_has_numbers(run: tuple[Path, list[dict], str]) -> None:
    _, records, _ = run
    seen = {(r["side"], r["op"], r["path"], r["round"]): r for r in records}
    expected = [("elixir", op, path) for op in OPS + THROUGHPUT for path in ELIXIR_PATHS]
    expected += [("python", op, path) for op in OPS + THROUGHPUT for path in PYTHON_PATHS]
    expected += [("python", "maps_10k", "msgpack"), ("python", "maps_10k", "etf_codec"), ("elixir", "noop", "python_echo")]
    floors = ("simple_rpc", "batched_echo")
    expected += [("elixir", op, path) for op in ("noop", "throughput_c1_w1", "throughput_c8_w1", "throughput_c64_w1") for path in floors]
    # the Elixir side again, with the VM's default flags: what the report puts side by side
    compared = ("noop", "instance", "throughput_c1_w1", "throughput_c64_w1", "throughput_c64_w2")
    expected += [("elixir_cmp", op, path) for op in compared for path in ELIXIR_PATHS]
    expected += [("elixir_cmp", op, path) for op in ("noop", "throughput_c64_w1") for path in floors]
    rounds = {r["round"] for r in records}
    assert rounds == {1, 2, 3, 4}  # two runs of two rounds
    missing = [key for key in expected for round_ in rounds if key + (round_,) not in seen]
    assert not missing, f"no record for {missing}"
    for key in expected:
        for round_ in rounds:
            record = seen[key + (round_,)]
            assert record["n"] > 0 and record["p50_us"] > 0 and record["p99_us"] >= record["p50_us"], record
            assert record["per_s"] > 0, record
            if record["op"].startswith("throughput") and record["side"].startswith("elixir"):
                # present; 0 is possible: a tiny --quick window on the ms and 10 ms clocks
                assert record["beam_cpu_us"] >= 0 and record["worker_cpu_us"] >= 0, record


# -- the two Python floors of issue 13, driven over pipes like a Port drives them

FLOORS = ROOT / "benchmarks" / "floor"


def _exchange(script: str, frames: list[bytes]) -> list[bytes]:
    """Write every frame at once ({packet, 4}), close stdin, and return the frames the floor wrote back."""
    framed = b"".join(struct.pack(">I", len(frame)) + frame for frame in frames)
    result = subprocess.run(
        [sys.executable, str(FLOORS / script)],
        input=framed,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=True,
    )
    out, replies = result.stdout, []
    while out:
        (size,) = struct.unpack_from(">I", out)
        replies.append(out[4 : 4 + size])
        out = out[4 + size :]
    return replies


def _request(request_id: int, target: str, args: list, kwargs: list) -> bytes:
    return encode((Atom("call"), request_id, target, args, kwargs, {Atom("scope"): Atom("nil_scope")}))


# Ids of every size term_to_binary gives them: SMALL_INTEGER_EXT, INTEGER_EXT, SMALL_BIG_EXT.
IDS = (7, 70_000, 2**40 + 3)


def test_simple_rpc_calls_the_target_and_survives_an_error() -> None:
    frames = [
        _request(IDS[0], "benchmarks.ops.noop", [], []),
        _request(IDS[1], "benchmarks.ops.small_kwargs", [], [(Atom("a"), 1), (Atom("b"), "two")]),
        _request(IDS[2], "benchmarks.ops.no_such_function", [], []),
        _request(9, "benchmarks.ops.echo", [[{"k": 1.5}, b"\xff"]], []),
    ]
    replies = [decode(reply)[0] for reply in _exchange("simple_rpc.py", frames)]
    assert replies[:2] == [(Atom("ok"), IDS[0], None), (Atom("ok"), IDS[1], 4)]
    tag, request_id, details = replies[2]
    assert (tag, request_id, details[b"type"]) == (Atom("error"), IDS[2], b"AttributeError")
    assert replies[3] == (Atom("ok"), 9, [{b"k": 1.5}, b"\xff"])  # str goes back as a binary


def test_batched_echo_answers_every_request_with_its_id() -> None:
    frames = [_request(request_id, "benchmarks.ops.noop", [], []) for request_id in IDS * 50]
    replies = _exchange("batched_echo.py", frames)
    assert [decode(reply) for reply in replies] == [((Atom("ok"), request_id, None), b"") for request_id in IDS * 50]


def test_python_echo_returns_every_frame_even_one_larger_than_its_buffer() -> None:
    frames = [b"a" * 10, b"", os.urandom(3 << 20), b"b" * 70_000] * 3
    assert _exchange("echo.py", frames) == frames
