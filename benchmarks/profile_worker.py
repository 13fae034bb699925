"""Profile the worker under a workload: ``python -m benchmarks.profile_worker noop|noop1|maps [SECONDS]``.

Starts ``python -m pybridge_port`` with the benchmarks' Python client, keeps
it busy (``noop``: no-op calls, 64 in flight; ``noop1``: one at a time; ``maps``: the 10,000-map echo,
one at a time), and samples it with py-spy (--gil: only where Python runs, not where threads wait) (``pip install py-spy``; not a
project dependency). Prints the worker's CPU time per request (from
/proc/PID/stat) and the functions with the most samples, self and
inclusive. Used to write benchmarks/FINDINGS.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from .port_client import PortClient
from .pyclient import port_throughput


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> int:
    workload = argv[0] if argv else "noop"
    seconds = float(argv[1]) if len(argv) > 1 else 8.0
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    client = PortClient(sys.executable)
    pid = client.process.pid
    maps = [{"id": i, "name": f"item-{i}", "score": i * 0.5} for i in range(10_000)]
    raw = Path(tempfile.mkdtemp()) / "profile.txt"
    done = threading.Event()
    count = [0]

    def drive() -> None:
        while not done.is_set():
            if workload == "noop1":
                client.call("benchmarks.ops.noop")
                count[0] += 1
            elif workload == "noop":
                calls, _, _ = port_throughput([client], 64, 0.5)
                count[0] += calls
            else:
                client.call("benchmarks.ops.echo", [maps])
                count[0] += 1

    drive_once = threading.Thread(target=drive)
    cpu0 = cpu_seconds(pid)
    drive_once.start()
    subprocess.run(
        [py_spy, "record", "--pid", str(pid), "--rate", "500", "--duration", str(int(seconds)), "--format", "raw", "--output", str(raw), "--nonblocking", "--gil"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done.set()
    drive_once.join()
    cpu = cpu_seconds(pid) - cpu0
    client.close()

    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue  # py-spy's idle or unnamed frames
        n = int(samples)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")" if " (" in f else f for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"workload {workload}: {count[0]} requests, worker CPU {cpu:.2f} s = {cpu / max(count[0], 1) * 1e6:,.0f} µs per request; {total} samples")
    print("\nself time (share of samples):")
    for frame, n in own.most_common(18):
        print(f"  {n / total:6.1%}  {frame}")
    print("\ninclusive time:")
    for frame, n in inclusive.most_common(25):
        print(f"  {n / total:6.1%}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
