"""The executor (pybridge_port/executor.py): order, limits, reading while jobs run.

``read`` here hands out batches from a queue, the way the server hands out
the jobs of one read of the pipe. Jobs block on events rather than sleeping,
so every test waits for a state to be reached (with a generous limit), never
for a duration.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import pytest

from pybridge_port import executor as executor_module
from pybridge_port.executor import Executor, Job

LIMIT = 10.0  # seconds a test waits for something that must happen


class Input:
    """Batches of jobs to read, as the server returns them; ``None`` ends the input."""

    def __init__(self) -> None:
        self.batches: queue.SimpleQueue[list[Job] | None] = queue.SimpleQueue()
        self.reads = 0
        self.readers: set[int] = set()

    def read(self) -> list[Job] | None:
        self.reads += 1
        self.readers.add(threading.get_ident())
        return self.batches.get()

    def put(self, *jobs: Job) -> None:
        self.batches.put(list(jobs))


@pytest.fixture
def served() -> Iterator[Callable[[int], tuple[Executor, Input]]]:
    """Starts an executor of a given size serving an Input; ends the input afterwards."""
    running: list[tuple[Input, threading.Thread]] = []

    def start(size: int) -> tuple[Executor, Input]:
        executor, source = Executor(size), Input()
        thread = threading.Thread(target=executor.serve, args=(source.read,), daemon=True)
        thread.start()
        running.append((source, thread))
        return executor, source

    yield start
    for source, thread in running:
        source.batches.put(None)
        thread.join(LIMIT)
        assert not thread.is_alive()


def blocker(started: threading.Event, release: threading.Event) -> Job:
    def job() -> None:
        started.set()
        assert release.wait(LIMIT)

    return job


def test_the_thread_that_read_a_batch_runs_it_in_order(served: Callable[[int], tuple[Executor, Input]]) -> None:
    executor, source = served(4)
    ran: list[tuple[int, int]] = []
    done = threading.Event()
    source.put(*[lambda index=index: ran.append((index, threading.get_ident())) for index in range(50)], done.set)
    assert done.wait(LIMIT)
    (reader,) = source.readers
    assert ran == [(index, reader) for index in range(50)]
    assert executor.threads == 1  # nobody else was woken


def test_input_is_read_while_a_job_runs(served: Callable[[int], tuple[Executor, Input]]) -> None:
    executor, source = served(4)
    started, release = threading.Event(), threading.Event()
    source.put(blocker(started, release))
    assert started.wait(LIMIT)
    fast = threading.Event()
    source.put(fast.set)  # only a second thread can read this while the first job blocks
    try:
        assert fast.wait(LIMIT), "nobody read while the first job ran"
        assert not release.is_set()
    finally:
        release.set()


def test_a_slow_job_does_not_hold_up_the_jobs_queued_behind_it(served: Callable[[int], tuple[Executor, Input]]) -> None:
    executor, source = served(4)
    started, release, fast = threading.Event(), threading.Event(), threading.Event()
    source.put(blocker(started, release), fast.set)
    try:
        assert fast.wait(LIMIT), "the monitor did not hand the queued job to another thread"
    finally:
        release.set()


def test_the_monitor_sleeps_when_idle_and_wakes_for_new_work(
    monkeypatch: pytest.MonkeyPatch, served: Callable[[int], tuple[Executor, Input]]
) -> None:
    monkeypatch.setattr(executor_module, "MONITOR_QUIET_SECONDS", 0.01)
    executor, source = served(4)
    for _ in range(2):
        started, release, behind = threading.Event(), threading.Event(), threading.Event()
        source.put(blocker(started, release), behind.set)
        try:
            assert behind.wait(LIMIT)  # the monitor handed it over: it is awake
        finally:
            release.set()
        pause = threading.Event()
        for _ in range(int(LIMIT / 0.01)):
            if executor._monitor_asleep:
                break
            pause.wait(0.01)
        assert executor._monitor_asleep


def test_jobs_that_wait_run_side_by_side_up_to_size(served: Callable[[int], tuple[Executor, Input]]) -> None:
    executor, source = served(4)
    barrier = threading.Barrier(4, timeout=LIMIT)  # broken unless 4 jobs wait at once
    passed = threading.Semaphore(0)

    def job() -> None:
        barrier.wait()
        passed.release()

    source.put(*[job] * 4)
    for _ in range(4):
        assert passed.acquire(timeout=LIMIT)


def test_no_more_than_size_jobs_run_at_once(served: Callable[[int], tuple[Executor, Input]]) -> None:
    executor, source = served(2)
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

    source.put(*[job] * 8)
    for _ in range(8):
        assert finished.acquire(timeout=LIMIT)
    assert peak[0] == 2


def test_a_job_waiting_on_elixir_gives_its_slot_back_and_input_is_read(
    served: Callable[[int], tuple[Executor, Input]],
) -> None:
    executor, source = served(1)
    outside, done = threading.Event(), threading.Event()
    order: list[str] = []

    def waits() -> None:
        with executor.waiting():
            source.put(other)  # the "callback reply": read by another thread, run in the freed slot
            assert outside.wait(LIMIT)
        order.append("waited")
        done.set()

    def other() -> None:
        order.append("other")
        outside.set()

    source.put(waits)
    assert done.wait(LIMIT)
    assert order == ["other", "waited"]


def test_a_library_thread_waiting_on_elixir_lends_a_slot(served: Callable[[int], tuple[Executor, Input]]) -> None:
    """A job waits for a thread of its own, which waits on Elixir, whose answer
    needs another job: with one slot, held by the first job, only a lent slot
    lets that job run (DSPy's Evaluate calling an Elixir metric does this)."""
    executor, source = served(1)
    answered, done = threading.Event(), threading.Event()

    def library_thread() -> None:
        with executor.waiting():
            source.put(answered.set)  # the callback's own call into Python
            assert answered.wait(LIMIT)

    def job() -> None:
        helper = threading.Thread(target=library_thread)
        helper.start()
        helper.join(LIMIT)
        done.set()

    source.put(job)
    assert done.wait(LIMIT) and answered.is_set()


def test_a_failing_job_ends_only_itself(
    capsys: pytest.CaptureFixture[str], served: Callable[[int], tuple[Executor, Input]]
) -> None:
    executor, source = served(1)
    after = threading.Event()

    def boom() -> None:
        raise RuntimeError("job bug")

    source.put(boom, after.set)
    assert after.wait(LIMIT)
    assert "job bug" in capsys.readouterr().err


def test_serve_ends_with_the_input_and_reraises_a_reading_bug() -> None:
    executor = Executor(2)
    batches = iter([[], None])
    executor.serve(lambda: next(batches))  # returns: the input ended

    def broken() -> list[Job] | None:
        raise RuntimeError("reader bug")

    with pytest.raises(RuntimeError, match="reader bug"):
        Executor(2).serve(broken)


def test_run_takes_a_slot_on_the_calling_thread() -> None:
    executor = Executor(1)
    ran_on: list[int] = []
    executor.run(lambda: ran_on.append(threading.get_ident()))
    assert ran_on == [threading.get_ident()]


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive integer, got: 0"):
        Executor(0)
