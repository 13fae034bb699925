"""Run the benchmark suite: ``python -m benchmarks.run [--quick] [--out DIR]``.

Builds what it needs into ``benchmarks/.build`` (the C floor echo with gcc,
the gRPC stubs with grpcio-tools, the wrapper with elixir_gen, the Elixir
side with Mix), measures from Elixir and then from Python, one after the
other so that they do not share the two cores, and writes
``DIR/<date>.md`` and ``DIR/<date>.png`` (default DIR: benchmarks/results),
then prints the summary table. A full run measures everything twice
(``--runs``) and the report says how far each headline ratio moved between
the two. The Elixir side is measured a second time with other emulator
flags (``--compare-flags``, by default the VM's own), and the report puts
the headline figures of both side by side. ``--only percall`` measures
only what issue 13's targets need (a few minutes); ``--quick`` takes tiny
sample counts: a smoke test, not a measurement.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if __package__ in (None, ""):  # run as `python benchmarks/run.py`
    sys.path.insert(0, str(ROOT))
    __package__ = "benchmarks"

from benchmarks import pyclient, report  # noqa: E402

FULL = {"scale": 1.0, "throughput_s": 0.75}
QUICK = {"scale": 0.002, "throughput_s": 0.05}

# Idle schedulers of the BEAM spin for a while before they sleep (busy
# waiting); on 2 cores that takes CPU from the Python workers. Measured on this
# machine (benchmarks/FINDINGS.md): 64 callers on 1 worker went from ~37,000 to
# ~50,000 calls/s without it. PyBridge's README recommends it for the same reason.
BEAM_FLAGS = "+sbwt none +sbwtdcpu none +sbwtdio none"

# What `--only` measures: operations from Elixir, and the Python side's parts.
# `percall` is what the targets of issue 13 (per-call cost) need.
# What the second Elixir pass (--compare-flags) measures: the figures the
# report puts side by side (no-op, create+method+release, 1 and 64 callers).
COMPARE_OPS = "noop,instance," + ",".join(f"throughput_c{c}_w{w}" for c, w in ((1, 1), (64, 1), (64, 2)))
SUITES: dict[str, dict] = {
    "all": {"elixir": "all", "python": pyclient.ALL},
    "percall": {
        "elixir": ",".join(
            ["noop", "small_kwargs", "instance", "maps_10k", "binary_1mib", "ndarray_8mib"]
            + [f"throughput_c{c}_w{w}" for c, w in ((1, 1), (64, 1), (64, 2))]
        ),
        "python": pyclient.Parts(latency=("noop", "small_kwargs", "maps_10k", "binary_1mib", "ndarray_8mib"), codec=True, throughput=()),
    },
}


def log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def build_echo(build_dir: Path) -> Path:
    """Compile the floor echo (once per source)."""
    source = HERE / "floor" / "echo.c"
    digest = hashlib.sha1(source.read_bytes()).hexdigest()[:12]
    executable = build_dir / f"echo-{digest}"
    if not executable.exists():
        compiler = shutil.which("gcc") or shutil.which("cc")
        if compiler is None:
            raise SystemExit("the floor needs a C compiler (gcc); install it, e.g. apt-get install gcc")
        staging = executable.with_suffix(f".{os.getpid()}")
        subprocess.run([compiler, "-O2", "-o", str(staging), str(source)], check=True)
        staging.rename(executable)
    return executable


def generate_wrapper(python: str, build_dir: Path) -> Path:
    """Write the wrapper modules from elixir/bench_ops.yaml with elixir_gen."""
    out = build_dir / "generated"
    staging = build_dir / f"generated.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [python, "-m", "elixir_gen", str(HERE / "elixir" / "bench_ops.yaml"), "-o", str(staging)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise SystemExit(f"elixir_gen could not generate the wrapper path from benchmarks/elixir/bench_ops.yaml:\n{result.stdout}")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


class ElixirRun:
    """The Elixir side, compiled and started as a child process."""

    def __init__(
        self, python: str, build_dir: Path, echo: Path, generated: Path, *, scale: float, rounds: int, throughput_s: float, beam_flags: str, only: str, cpus: str | None = None
    ) -> None:
        if shutil.which("mix") is None:
            raise SystemExit("the Elixir side needs Elixir/Mix (scripts/bootstrap.sh installs them)")
        env = dict(
            os.environ,
            MIX_ENV="prod",
            MIX_BUILD_PATH=str(build_dir / "_build"),
            HEX_OFFLINE="1",
            PYBRIDGE_PYTHON=python,
            PYBRIDGE_BENCH_GENERATED=str(generated),
            ELIXIR_ERL_OPTIONS=" ".join(filter(None, [os.environ.get("ELIXIR_ERL_OPTIONS"), beam_flags])),
        )
        project = HERE / "elixir"
        subprocess.run(["mix", "compile"], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
        self.out = build_dir / f"elixir-{os.getpid()}-{id(self)}.json"
        args = [str(self.out), repr(float(scale)), str(rounds), str(int(throughput_s * 1000)), str(echo), str(HERE / "floor"), only]
        # --cpus: the BEAM and the Python processes it starts share these CPUs (taskset is inherited).
        pin = ["taskset", "-c", cpus] if cpus else []
        self.process = subprocess.Popen([*pin, "mix", "run", "-e", "PyBridgeBench.main()", "--", *args], cwd=project, env=env)

    def results(self) -> tuple[list[dict], dict]:
        """Wait for it; its records and what it says of the system."""
        status = self.process.wait()
        if status != 0:
            raise SystemExit(f"the Elixir side of the benchmarks failed (status {status})")
        try:
            data = json.loads(self.out.read_text())
        finally:
            self.out.unlink(missing_ok=True)
        return data["records"], data["system"]


def machine(elixir_system: dict) -> str:
    import grpc

    cpus = os.cpu_count()
    return (
        f"{cpus} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"Elixir {elixir_system.get('elixir')} / OTP {elixir_system.get('otp')} ({elixir_system.get('schedulers')} schedulers), "
        f"grpcio {grpc.__version__}"
    )


def measure(args: argparse.Namespace, python: str, build_dir: Path, echo: Path, generated: Path, settings: dict, run: int) -> tuple[list[dict], dict]:
    """One whole run: its records, and what the Elixir side says of the system.

    Records of the Elixir side measured with ``--compare-flags`` have the
    side ``elixir_cmp``.
    """
    # A full run measures one side after the other so that they never share
    # the two cores; --quick (numbers that mean nothing) runs them all at once.
    prefix = f"run {run + 1} of {args.runs}: " if args.runs > 1 else ""
    suite = SUITES[args.only]

    def elixir(flags: str, only: str) -> ElixirRun:
        return ElixirRun(
            python,
            build_dir,
            echo,
            generated,
            scale=settings["scale"],
            rounds=args.rounds,
            throughput_s=settings["throughput_s"],
            beam_flags=flags,
            only=only,
            cpus=args.cpus,
        )

    def describe(flags: str) -> str:
        return f"BEAM flags {flags!r}" if flags else "the VM's default flags"

    sides = [("elixir", args.beam_flags, suite["elixir"])]
    if args.compare_flags is not None:
        sides.append(("elixir_cmp", args.compare_flags, COMPARE_OPS))
    started: dict[str, ElixirRun] = {}
    records: list[dict] = []
    system: dict = {}
    for side, flags, only in sides:
        log(prefix + f"measuring from Elixir (floors, PyBridge, wrapper), {describe(flags)}")
        started[side] = elixir(flags, only)
        if not args.quick:
            side_records, side_system = started.pop(side).results()
            records += [dict(record, side=side) for record in side_records]
            system = system or side_system
    log(prefix + "measuring from Python (ETF port, gRPC, msgpack)")
    records += pyclient.run(
        python, build_dir, scale=settings["scale"], rounds=args.rounds, throughput_s=settings["throughput_s"], log=lambda m: None, parts=suite["python"]
    )
    for side, run_ in started.items():
        side_records, side_system = run_.results()
        records += [dict(record, side=side) for record in side_records]
        system = system or side_system
    return records, system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sample counts (a smoke test; the numbers mean nothing)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for <date>.md and <date>.png (default: benchmarks/results)")
    parser.add_argument("--rounds", type=int, help="rounds per measurement (default 8, 2 with --quick); ratios are the median over rounds")
    parser.add_argument("--runs", type=int, help="whole runs, compared in the report (default 2, 1 with --quick or --only percall); figures pool every round of every run")
    parser.add_argument("--scale", type=float, help="multiply every sample count by this (default 1, or 0.002 with --quick)")
    parser.add_argument("--build", type=Path, default=HERE / ".build", help="build cache (default: benchmarks/.build)")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs the workers (default: this one)")
    parser.add_argument("--records", type=Path, help="also write the raw records (JSON) here")
    parser.add_argument("--only", choices=sorted(SUITES), default="all", help="what to measure: everything (default), or `percall`, only what issue 13's targets need")
    parser.add_argument("--wrapper", type=Path, help="use wrapper modules already generated in this folder instead of running elixir_gen")
    parser.add_argument(
        "--beam-flags",
        default=BEAM_FLAGS,
        help=f"emulator flags of the Elixir side (default {BEAM_FLAGS!r}: idle schedulers do not spin, leaving the cores to the workers; '' for the VM's defaults)",
    )
    parser.add_argument(
        "--compare-flags",
        default="",
        help="measure the Elixir side a second time with these emulator flags and put the headline figures side by side (default '': the VM's defaults)",
    )
    parser.add_argument(
        "--cpus",
        help="run the Elixir side and its Python workers on these CPUs only (taskset -c LIST, e.g. 0): "
        "one-call latencies without the cross-CPU wake-ups of an idle machine (benchmarks/FINDINGS.md, section 7)",
    )
    parser.add_argument("--no-compare", dest="compare_flags", action="store_const", const=None, help="measure the Elixir side once, with --beam-flags only")
    args = parser.parse_args(argv)
    if args.compare_flags is not None and args.compare_flags.strip() == args.beam_flags.strip():
        args.compare_flags = None  # nothing to compare

    settings = dict(QUICK if args.quick else FULL)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 8
    if args.runs is None:
        args.runs = 1 if args.quick or args.only != "all" else 2
    if args.scale is not None:
        settings["scale"] = args.scale
    build_dir = args.build.resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    python = os.path.abspath(args.python) if os.sep in args.python else (shutil.which(args.python) or args.python)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.monotonic()

    log("building: floor echo (gcc), gRPC stubs (grpcio-tools)" + ("" if args.wrapper else ", wrapper (elixir_gen)"))
    echo = build_echo(build_dir)
    from benchmarks.grpc_bridge import compile_proto

    compile_proto(build_dir)
    generated = args.wrapper.resolve() if args.wrapper else generate_wrapper(python, build_dir)

    runs = [measure(args, python, build_dir, echo, generated, settings, run) for run in range(args.runs)]
    elixir_system = runs[0][1]
    # Every round of every run, numbered on: figures and ratios pool them all.
    records = [dict(record, round=record["round"] + run * args.rounds) for run, (run_records, _) in enumerate(runs) for record in run_records]
    if args.records:
        args.records.write_text(json.dumps(records, indent=1))

    meta = {
        "date": datetime.date.today().isoformat(),
        "command": "python -m benchmarks.run" + (" --quick" if args.quick else "") + (f" --scale {args.scale}" if args.scale else "") + (f" --rounds {args.rounds}" if args.rounds != (2 if args.quick else 8) else "") + (f" --runs {args.runs}" if args.runs != (1 if args.quick or args.only != "all" else 2) else "")
        + (f" --beam-flags '{args.beam_flags}'" if args.beam_flags != BEAM_FLAGS else "")
        + (f" --cpus {args.cpus}" if args.cpus else "")
        + (f" --only {args.only}" if args.only != "all" else "")
        + (" --no-compare" if args.compare_flags is None else (f" --compare-flags '{args.compare_flags}'" if args.compare_flags else "")),
        "machine": machine(elixir_system) + (f"; BEAM flags `{args.beam_flags}`" if args.beam_flags else "; BEAM flags: the VM's defaults"),
        "beam_flags": args.beam_flags,
        "compare_flags": args.compare_flags,
        "only": args.only,
        "load": load,
        "rounds": args.rounds,
        "runs": [run_records for run_records, _ in runs],
    }
    md_path, png_path = report.write(records, meta, args.out)
    print(report.summary_text(records))
    print()
    print(f"wrote {md_path} and {png_path} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
