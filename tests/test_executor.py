"""The executor (pybridge_port/executor.py): order, limits, and no job stuck behind a slow one.

Jobs here block on events rather than sleeping, so every test waits for a
state to be reached (with a generous limit), never for a duration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from pybridge_port import executor as executor_module
from pybridge_port.executor import Executor

LIMIT = 10.0  # seconds a test waits for something that must happen


def blocker(started: threading.Event, release: threading.Event) -> Callable[[], None]:
    def job() -> None:
        started.set()
        assert release.wait(LIMIT)

    return job


def drain_in_thread(executor: Executor) -> threading.Thread:
    thread = threading.Thread(target=executor.drain, daemon=True)
    thread.start()
    return thread


def test_the_caller_runs_a_burst_in_arrival_order_on_its_own_thread() -> None:
    executor = Executor(4)
    ran: list[tuple[int, int]] = []
    jobs = [lambda index=index: ran.append((index, threading.get_ident())) for index in range(50)]
    assert executor.enqueue(jobs) is True
    executor.drain()
    assert ran == [(index, threading.get_ident()) for index in range(50)]
    assert executor.threads == 0  # nobody else was woken


def test_only_one_thread_is_told_to_drain() -> None:
    executor = Executor(4)
    started, release = threading.Event(), threading.Event()
    assert executor.enqueue([blocker(started, release)]) is True
    thread = drain_in_thread(executor)
    assert started.wait(LIMIT)
    done = threading.Event()
    assert executor.enqueue([done.set]) is False  # the draining thread, or the monitor, takes it
    release.set()
    assert done.wait(LIMIT)
    thread.join(LIMIT)


def test_a_slow_job_does_not_hold_up_the_jobs_queued_behind_it() -> None:
    executor = Executor(4)
    started, release = threading.Event(), threading.Event()
    fast = threading.Event()
    assert executor.enqueue([blocker(started, release), fast.set]) is True
    thread = drain_in_thread(executor)
    try:
        assert fast.wait(LIMIT), "the monitor did not hand the queued job to another thread"
        assert not release.is_set()
    finally:
        release.set()
        thread.join(LIMIT)


def test_the_monitor_wakes_from_its_sleep_for_a_new_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor_module, "MONITOR_QUIET_SECONDS", 0.01)
    executor = Executor(4)
    # A first stall starts the monitor; then the queue stays empty until it sleeps.
    started, release = threading.Event(), threading.Event()
    first = threading.Event()
    assert executor.enqueue([blocker(started, release), first.set]) is True
    thread = drain_in_thread(executor)
    assert first.wait(LIMIT)
    release.set()
    thread.join(LIMIT)
    pause = threading.Event()
    for _ in range(int(LIMIT / 0.01)):
        if executor._monitor_state == "asleep":
            break
        pause.wait(0.01)
    assert executor._monitor_state == "asleep"

    started, release = threading.Event(), threading.Event()
    second = threading.Event()
    assert executor.enqueue([blocker(started, release), second.set]) is True
    thread = drain_in_thread(executor)
    try:
        assert second.wait(LIMIT)
    finally:
        release.set()
        thread.join(LIMIT)


def test_jobs_that_wait_run_side_by_side_up_to_size() -> None:
    executor = Executor(4)
    barrier = threading.Barrier(4, timeout=LIMIT)  # broken unless 4 jobs wait at once
    passed = threading.Semaphore(0)

    def job() -> None:
        barrier.wait()
        passed.release()

    assert executor.enqueue([job] * 4) is True
    thread = drain_in_thread(executor)
    for _ in range(4):
        assert passed.acquire(timeout=LIMIT)
    thread.join(LIMIT)


def test_no_more_than_size_jobs_run_at_once() -> None:
    executor = Executor(2)
    lock = threading.Lock()
    running, peak, finished = [0], [0], threading.Semaphore(0)
    gate = threading.Event()

    def job() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(0.05)  # long enough for the monitor to try to add threads
        with lock:
            running[0] -= 1
        finished.release()

    for _ in range(8):
        executor.submit(job)
    for _ in range(8):
        assert finished.acquire(timeout=LIMIT)
    assert peak[0] == 2


def test_a_job_waiting_outside_gives_its_slot_to_the_queue() -> None:
    executor = Executor(1)
    outside = threading.Event()
    order: list[str] = []

    def waits() -> None:
        with executor.waiting():
            assert outside.wait(LIMIT)
        order.append("waited")

    def other() -> None:
        order.append("other")
        outside.set()

    assert executor.enqueue([waits, other]) is True
    executor.drain()  # "other" ran on another thread while "waits" waited
    assert order == ["other", "waited"]


def test_submit_runs_the_job_on_a_pool_thread() -> None:
    executor = Executor(2)
    ran_on: list[int] = []
    done = threading.Event()
    executor.submit(lambda: (ran_on.append(threading.get_ident()), done.set()))
    assert done.wait(LIMIT)
    assert ran_on != [threading.get_ident()]
    assert executor.threads == 1


def test_a_failing_job_ends_only_itself(capsys: pytest.CaptureFixture[str]) -> None:
    executor = Executor(1)
    after = threading.Event()

    def boom() -> None:
        raise RuntimeError("job bug")

    assert executor.enqueue([boom, after.set]) is True
    executor.drain()
    assert after.is_set()
    assert "job bug" in capsys.readouterr().err


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive integer, got: 0"):
        Executor(0)
