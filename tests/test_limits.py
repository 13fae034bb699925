"""pybridge_port.limits: flags, rlimits and the per-call CPU watchdog (issue 17).

The ExUnit suite (priv/pybridge/test/pybridge/policy_test.exs) shows each limit
acting through a real pool; these check the pieces on their own, each limit
in a subprocess so this test process keeps its own limits.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pybridge_port import limits
from pybridge_port.__main__ import parse_args


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_parse_args_reads_every_policy_flag() -> None:
    args = parse_args(
        ["--memory-limit", "1000000", "--cpu-limit", "5", "--call-cpu-limit", "250"]
        + ["--open-files-limit", "64", "--cwd", "/", "--user", "nobody", "--read-only-cwd"]
    )
    assert (args.memory_limit, args.cpu_limit, args.call_cpu_limit, args.open_files_limit) == (1000000, 5, 250, 64)
    assert (args.cwd, args.user, args.read_only_cwd) == ("/", "nobody", True)
    defaults = parse_args([])
    assert defaults.memory_limit is None and defaults.user is None and not defaults.read_only_cwd
    with pytest.raises(SystemExit):
        parse_args(["--memory-limit", "0"])


def test_without_limits_a_memory_error_is_an_ordinary_exception() -> None:
    limits.check_exception(MemoryError())  # returns: nothing is limited in this process


def test_memory_error_under_a_memory_limit_exits_with_its_status() -> None:
    result = run_python(
        """
        from pybridge_port import limits
        limits.apply_rlimits(memory=1 << 30)
        try:
            bytearray(2 << 30)
        except MemoryError as exc:
            limits.check_exception(exc)
        """
    )
    assert result.returncode == limits.EXIT_MEMORY_LIMIT, result.stderr
    assert "MemoryError under the memory limit" in result.stderr


def test_open_files_limit_exits_with_its_status() -> None:
    result = run_python(
        """
        import os
        from pybridge_port import limits
        limits.apply_rlimits(open_files=32)
        kept = []
        try:
            while True:
                kept.append(open(os.devnull))
        except OSError as exc:
            limits.check_exception(exc)
        """
    )
    assert result.returncode == limits.EXIT_OPEN_FILES_LIMIT, result.stderr


def test_total_cpu_limit_ends_the_process_with_sigxcpu() -> None:
    result = run_python(
        """
        from pybridge_port import limits
        limits.apply_rlimits(cpu_seconds=1)
        while True:
            pass
        """
    )
    assert result.returncode == -24  # SIGXCPU


def test_watchdog_exits_when_one_call_is_over_its_cpu_time(monkeypatch: pytest.MonkeyPatch) -> None:
    exits: list[int] = []
    monkeypatch.setattr(limits, "_exit", exits.append)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        assert worker.ident is not None
        watchdog = limits.CallCpuWatchdog(0.05, lambda: [("request-1", worker.ident or 0)])
        watchdog.check()  # first sight of the call: its clock starts here
        assert exits == []
        deadline = time.monotonic() + 10
        while not exits and time.monotonic() < deadline:
            time.sleep(0.01)
            watchdog.check()
        assert exits == [limits.EXIT_CALL_CPU_LIMIT]
    finally:
        stop.set()
        worker.join()


def test_watchdog_ignores_calls_that_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    exits: list[int] = []
    monkeypatch.setattr(limits, "_exit", exits.append)
    event = threading.Event()
    waiter = threading.Thread(target=event.wait)
    waiter.start()
    try:
        watchdog = limits.CallCpuWatchdog(0.01, lambda: [("request-2", waiter.ident or 0)])
        for _ in range(20):
            watchdog.check()
            time.sleep(0.005)
        assert exits == []
    finally:
        event.set()
        waiter.join()


def test_read_only_cwd_is_refused_when_writable(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(str(tmp_path))
    with pytest.raises(limits.LimitError, match="is writable"):
        limits.require_read_only_cwd()


def test_unknown_user_is_refused() -> None:
    with pytest.raises(limits.LimitError, match="no OS user named"):
        limits.switch_user("no_such_user_pybridge")


def test_resident_memory_watchdog_reads_this_process_and_exits_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    statuses: list[int] = []
    monkeypatch.setattr(limits, "_exit", statuses.append)
    watchdog = limits.ResidentMemoryWatchdog(1 << 40)
    resident = watchdog.resident()
    assert 1 << 20 < resident < 1 << 40  # this interpreter, in bytes
    watchdog.check()
    assert statuses == []
    limits.ResidentMemoryWatchdog(resident // 2).check()
    assert statuses == [limits.EXIT_RESIDENT_MEMORY_LIMIT]


def test_resident_memory_watchdog_refuses_to_start_where_it_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits.ResidentMemoryWatchdog, "STATM", "/nonexistent/statm")
    with pytest.raises(limits.LimitError, match="cannot watch the resident memory"):
        limits.ResidentMemoryWatchdog(1 << 30)
