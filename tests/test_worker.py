"""The worker, driven over real pipes exactly as an Elixir Port drives it."""

from __future__ import annotations

import math
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pybridge_port.codec import encode
from pybridge_port.types import Atom, Export, Pid
from worker_client import ROOT, Worker

OK, ERROR, CHUNK = Atom("ok"), Atom("error"), Atom("chunk")
STRUCT = Atom("__struct__")


def error_of(reply: Any) -> dict[Any, Any]:
    assert reply[0] == ERROR, f"expected an error, got {reply!r}"
    return reply[2]


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie child of the test process still answers kill(0): reap it.
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


class TestHandshake:
    def test_hello_describes_the_worker(self, worker: Worker) -> None:
        info = worker.info
        assert info[Atom("pid")] == worker.process.pid
        assert isinstance(worker.token, str) and len(worker.token) == 16
        assert info[Atom("python")].startswith("3.")
        assert info[Atom("threads")] == 8

    def test_request_before_hello_is_refused(self) -> None:
        process = Worker(hello=False)
        try:
            reply = process.request("ping", "x")
            assert error_of(reply)[Atom("type")] == "pybridge.ProtocolError"
            assert "hello" in error_of(reply)[Atom("message")]
        finally:
            process.close()

    def test_unknown_version_is_refused_and_the_worker_exits(self) -> None:
        process = Worker(hello=False)
        reply = process.request_raw((Atom("hello"), 99, {}))
        assert error_of(reply)[Atom("type")] == "pybridge.ProtocolError"
        assert "version 1" in error_of(reply)[Atom("message")]
        assert process.process.wait(5) == 3
        process.close()


class TestOperations:
    def test_ping_echoes_any_term(self, worker: Worker) -> None:
        term = (1, [2.5, "three"], {"four": None})
        assert worker.ok("ping", term) == term

    def test_import(self, worker: Worker) -> None:
        assert worker.ok("import", "json") is None
        reply = worker.request("import", "no_such_module_anywhere")
        assert error_of(reply)[Atom("type")] == "builtins.ModuleNotFoundError"

    def test_call_by_dotted_path(self, worker: Worker) -> None:
        assert worker.call("math.sqrt", [16.0]) == 4.0
        assert worker.call("os.path.join", ["a", "b"]) == "a/b"
        assert worker.call("json.dumps", [{"a": 1}], {"sort_keys": True}) == '{"a": 1}'

    def test_keyword_list_kwargs(self, worker: Worker) -> None:
        kwargs = [(Atom("sort_keys"), True), (Atom("separators"), (",", ":"))]
        assert worker.ok("call", "json.dumps", [{"b": 1, "a": 2}], kwargs, {}) == '{"a":2,"b":1}'
        reply = worker.request("call", "json.dumps", [1], ["not", "pairs"], {})
        assert "keyword arguments must be a map or a keyword list" in error_of(reply)[Atom("message")]

    def test_create_method_attr_and_release(self, worker: Worker) -> None:
        counter = worker.ok("create", "collections.Counter", [["a", "b", "a"]], {}, {})
        assert counter[STRUCT] == Atom("Elixir.PyBridge.Ref")
        assert counter[Atom("type")] == "collections.Counter"
        assert counter[Atom("worker")] == worker.token
        assert worker.ok("method", counter, "most_common", [1], {}, {}) == [("a", 2)]
        box = worker.call("worker_fixtures.Box", [41])
        assert worker.ok("get_attr", box, "value", {}) == 41
        assert worker.ok("set_attr", box, "value", 42, {}) is None
        assert worker.ok("method", box, "get", [], {}, {}) == 42
        assert worker.ok("get_attr", "math", "pi", {}) == math.pi
        stats = worker.ok("stats")
        assert stats[Atom("handles")] == 2
        assert worker.ok("release", [counter[Atom("id")], box[Atom("id")], 999]) == 2
        assert worker.ok("stats")[Atom("handles")] == 0
        reply = worker.request("method", box, "get", [], {}, {})
        assert error_of(reply)[Atom("type")] == "pybridge.StaleHandle"

    def test_scopes_free_everything_in_them(self, worker: Worker) -> None:
        owner = Pid(Atom("nonode@nohost"), 81, 0, 0)
        for _ in range(3):
            worker.call("worker_fixtures.Box", [1], scope=owner)
        worker.call("worker_fixtures.Box", [2], scope=7)
        assert worker.ok("stats")[Atom("scopes")] == 2
        assert worker.ok("release_scope", owner) == 3
        assert worker.ok("release_scope", 7) == 1
        assert worker.ok("release_scope", 7) == 0
        assert worker.ok("stats")[Atom("handles")] == 0

    def test_handle_of_another_worker_is_stale(self, worker: Worker) -> None:
        forged = {STRUCT: Atom("Elixir.PyBridge.Ref"), Atom("id"): 1, Atom("worker"): "0" * 16, Atom("type"): "x"}
        reply = worker.request("method", forged, "get", [], {}, {})
        assert error_of(reply)[Atom("type")] == "pybridge.StaleHandle"
        assert "another" in error_of(reply)[Atom("message")] or "belongs" in error_of(reply)[Atom("message")]

    def test_stats(self, worker: Worker) -> None:
        stats = worker.ok("stats")
        for key in ("handles", "scopes", "in_flight", "threads", "max_rss_kb", "requests", "pid"):
            assert Atom(key) in stats
        assert stats[Atom("max_rss_kb")] > 1000


class TestValues:
    @pytest.mark.parametrize(
        "value",
        [
            None,
            True,
            False,
            0,
            -1,
            2**64 + 1,
            -(2**200),
            1.5,
            "héllo 日本",
            "",
            (1, "two"),
            [1, [2, [3]]],
            {"a": {"b": [1, 2]}},
        ],
    )
    def test_plain_data_round_trips(self, worker: Worker, value: Any) -> None:
        assert worker.call("worker_fixtures.identity", [value]) == value

    def test_non_finite_floats_travel_as_atoms(self, worker: Worker) -> None:
        assert worker.call("builtins.float", ["nan"]) == Atom("nan")
        assert worker.call("builtins.float", ["inf"]) == Atom("infinity")
        assert worker.call("builtins.float", ["-inf"]) == Atom("neg_infinity")
        assert worker.call("math.isinf", [Atom("neg_infinity")]) is True
        assert worker.call("math.isnan", [Atom("nan")]) is True

    def test_atoms_become_strings(self, worker: Worker) -> None:
        assert worker.call("worker_fixtures.identity", [Atom("auto")]) == "auto"
        assert worker.call("worker_fixtures.identity", [{Atom("key"): Atom("value")}]) == {"key": "value"}

    def test_bytes_are_marked_both_ways(self, worker: Worker) -> None:
        raw = worker.call("builtins.bytes", [[0, 255, 10]])
        assert raw == {STRUCT: Atom("Elixir.PyBridge.Bytes"), Atom("data"): b"\x00\xff\n"}
        marked = {STRUCT: Atom("Elixir.PyBridge.Bytes"), Atom("data"): "abc"}
        assert worker.call("builtins.len", [marked]) == 3
        # (this test client decodes UTF-8 binaries as str, as the worker does)
        assert worker.call("worker_fixtures.identity", [marked]) == {STRUCT: Atom("Elixir.PyBridge.Bytes"), Atom("data"): "abc"}
        # A binary that is not UTF-8 arrives as bytes even unmarked.
        assert worker.call("builtins.len", [b"\xff\xfe"]) == 2

    def test_sets_become_mapsets(self, worker: Worker) -> None:
        # Elixir's MapSet layout: every member a key of the map `map`.
        mapset = worker.call("builtins.set", [[3, 1, 3]])
        assert mapset == {STRUCT: Atom("Elixir.MapSet"), Atom("map"): {1: [], 3: []}, Atom("version"): 2}

    def test_numpy_arrays_travel_as_ndarray_structs(self, worker: Worker) -> None:
        array = worker.call("numpy.arange", [6], {"dtype": "float64"})
        assert array[STRUCT] == Atom("Elixir.PyBridge.NDArray")
        assert array[Atom("dtype")] == "float64"
        assert array[Atom("shape")] == (6,)
        assert array[Atom("data")] == struct.pack("<6d", 0, 1, 2, 3, 4, 5)
        reshaped = worker.ok("call", "numpy.reshape", [array, (2, 3)], {}, {})
        assert reshaped[Atom("shape")] == (2, 3)
        assert worker.call("numpy.sum", [reshaped]) == 15.0

    def test_other_objects_become_handles(self, worker: Worker) -> None:
        ref = worker.call("builtins.object", [])
        assert ref[Atom("type")] == "object"
        handles = worker.call("builtins.list", [[ref, ref]])
        assert [h[Atom("type")] for h in handles] == ["object", "object"]

    def test_elixir_structs_other_than_known_ones_become_dicts_of_their_fields(self, worker: Worker) -> None:
        point = {STRUCT: Atom("Elixir.MyApp.Point"), Atom("x"): 1, Atom("y"): 2}
        assert worker.call("worker_fixtures.identity", [point]) == {"x": 1, "y": 2}
        date = {STRUCT: Atom("Elixir.Date"), Atom("year"): 2026, Atom("month"): 1, Atom("day"): 2}
        assert worker.call("builtins.str", [date]) == "2026-01-02"


class TestErrors:
    def test_exception_becomes_an_error_frame_with_traceback(self, worker: Worker) -> None:
        reply = worker.request("call", "math.sqrt", [-1.0], {}, {})
        error = error_of(reply)
        assert error[Atom("type")] == "builtins.ValueError"
        assert error[Atom("message")] == "math domain error"
        assert any("Traceback" in line for line in error[Atom("traceback")])
        assert worker.call("math.sqrt", [4.0]) == 2.0

    def test_errors_in_methods_and_attributes(self, worker: Worker) -> None:
        box = worker.call("worker_fixtures.Box", [1])
        assert error_of(worker.request("method", box, "raise_error", [], {}, {}))[Atom("type")] == "builtins.KeyError"
        reply = worker.request("get_attr", box, "missing", {})
        assert error_of(reply)[Atom("type")] == "builtins.AttributeError"
        reply = worker.request("call", "math.no_such_function", [], {}, {})
        assert "no attribute 'no_such_function'" in error_of(reply)[Atom("message")]

    def test_bad_requests_are_protocol_errors(self, worker: Worker) -> None:
        assert error_of(worker.request("frobnicate"))[Atom("type")] == "pybridge.ProtocolError"
        assert error_of(worker.request("call", "math.sqrt"))[Atom("type")] == "pybridge.ProtocolError"
        assert error_of(worker.request_raw("just a string"))[Atom("type")] == "pybridge.ProtocolError"
        assert worker.ok("ping", 1) == 1

    def test_unencodable_result_is_an_error_not_a_crash(self, worker: Worker) -> None:
        reply = worker.request("call", "builtins.eval", ["(lambda l: (l.append(l), l)[1])([])"], {}, {})
        assert error_of(reply)[Atom("type")].endswith("CodecError")
        assert worker.ok("ping", "alive") == "alive"

    def test_an_integer_over_erlangs_limit_is_an_error_naming_size_and_limit(self, worker: Worker) -> None:
        # binary_to_term refuses it; before, Elixir could only guess why (issue #12, item 7).
        reply = worker.request("call", "builtins.eval", ["(1 << (8 * 4194297)) - 1"], {}, {})
        assert reply[0] == ERROR, "the worker sent an integer Erlang cannot decode"
        error = reply[2]
        assert error[Atom("type")].endswith("CodecError")
        assert "an integer of 4194297 bytes cannot be encoded: Erlang's limit is 4194296 bytes" in error[Atom("message")]
        assert worker.ok("ping", "alive") == "alive"
        # At the limit it travels.
        assert worker.call("builtins.eval", ["(1 << (8 * 4194296)) - 1"]) == (1 << (8 * 4194296)) - 1

    def test_hostile_frames_get_errors_and_the_worker_lives(self, worker: Worker) -> None:
        worker.send_frame(b"\x83\xff garbage")
        assert error_of(worker.recv_reply())[Atom("type")] == "pybridge.CodecError"
        worker.send_frame(b"not even etf")
        assert error_of(worker.recv_reply())[Atom("type")] == "pybridge.CodecError"
        worker.send_frame(b"\x83" + b"h\x01" * 1_000_000 + b"a\x01")
        assert error_of(worker.recv_reply())[Atom("type")] == "pybridge.CodecError"
        # A request whose handle is stale still gets an answer with its id.
        forged = {STRUCT: Atom("Elixir.PyBridge.Ref"), Atom("id"): 5, Atom("worker"): worker.token, Atom("type"): "x"}
        reply = worker.request("call", "builtins.id", [forged], {}, {})
        assert error_of(reply)[Atom("type")] == "pybridge.StaleHandle"
        assert worker.ok("ping", "alive") == "alive"

    @pytest.mark.parametrize("prefix", [2**31 - 1, 2**32 - 1, 1001])
    def test_an_oversized_length_is_answered_at_once_and_the_worker_exits(self, prefix: int) -> None:
        """The body is never read (a garbage prefix declares bytes that never come): the
        worker says why at once and exits with status 65, its input still open."""
        process = Worker("--max-frame", "1000")
        try:
            assert process.ok("ping", "before") == "before"
            process._in.write(struct.pack(">I", prefix) + b"garbage that never ends")
            process._in.flush()
            reply = process.recv_reply(timeout=10)
            assert reply[1] is None
            error = error_of(reply)
            assert error[Atom("type")] == "pybridge.CodecError"
            assert f"a frame of {prefix} bytes is over the limit of 1000 bytes" in error[Atom("message")]
            assert "exits" in error[Atom("message")]
            assert process.process.wait(10) == 65
        finally:
            process.close()

    def test_a_frame_over_the_limit_ends_the_worker_too(self) -> None:
        process = Worker("--max-frame", "1000")
        try:
            process.send((Atom("ping"), 1, "x" * 5000))
            error = error_of(process.recv_reply(timeout=10))
            assert "over the limit of 1000 bytes" in error[Atom("message")]
            assert process.process.wait(10) == 65
        finally:
            process.close()

    @pytest.mark.parametrize("request_id", [7, 300, -5, 1 << 40])
    def test_a_request_too_deep_to_decode_is_answered_with_its_id(self, worker: Worker, request_id: int) -> None:
        # {:call, Id, "builtins.len", [[[...]]], [], %{}} with the list nested past max_depth.
        head = encode((Atom("call"), request_id, "builtins.len"))
        deep = b"l\x00\x00\x00\x01" * 100_000 + b"j" * 100_001
        frame = head[:2] + bytes([6]) + head[3:] + deep + b"jt\x00\x00\x00\x00"
        worker.send_frame(frame)
        reply = worker.recv_reply()
        assert reply[1] == request_id, reply
        assert error_of(reply)[Atom("type")] == "pybridge.CodecError"
        assert worker.ok("ping", "alive") == "alive"


class TestConcurrency:
    @pytest.fixture
    def worker(self) -> Iterator[Worker]:
        process = Worker()
        yield process
        process.close()

    def test_a_slow_call_does_not_hold_up_others(self, worker: Worker) -> None:
        worker.send((Atom("call"), 100, "worker_fixtures.slow", [1.0, "slow"], {}, {}))
        worker.send((Atom("call"), 101, "math.sqrt", [9.0], {}, {}))
        worker.send((Atom("ping"), 102, "fast"))
        replies = [worker.recv_reply(), worker.recv_reply(), worker.recv_reply()]
        assert [reply[1] for reply in replies][-1] == 100
        assert {reply[1]: reply[2] for reply in replies} == {100: "slow", 101: 3.0, 102: "fast"}

    @pytest.mark.parametrize(
        "waiter",
        [
            # A plain call blocks its thread: the held reply goes out when the queue stalls.
            "worker_fixtures.gate_wait",
            # A coroutine call ends its job at once and runs on: the held reply
            # goes out when the queue empties, not when the coroutine ends.
            "worker_fixtures.async_gate_wait",
        ],
    )
    def test_a_held_reply_is_not_kept_behind_a_call_that_waits(self, worker: Worker, waiter: str) -> None:
        # Read at once, the first reply is held to go out with the next write
        # (a request is queued behind it); the call behind it waits until a
        # request sent only after that reply arrives opens its gate.
        worker.send((Atom("call"), 0, "worker_fixtures.async_add", [1, 2], {}, {}))
        assert worker.recv_reply()[1:] == (0, 3)  # the event loop is running: no slow first start
        worker.send_together(
            (Atom("call"), 1, "worker_fixtures.identity", ["first"], {}, {}),
            (Atom("call"), 2, waiter, [waiter], {}, {}),
        )
        assert worker.recv_reply()[1:] == (1, "first")
        worker.send((Atom("call"), 3, "worker_fixtures.gate_open", [waiter], {}, {}))
        replies = {reply[1]: reply[2] for reply in (worker.recv_reply(), worker.recv_reply())}
        assert replies == {2: True, 3: None}

    def test_many_requests_in_flight_come_back_by_id(self, worker: Worker) -> None:
        for index in range(200):
            worker.send((Atom("call"), index, "operator.mul", [index, 2], {}, {}))
        replies = {reply[1]: reply[2] for reply in (worker.recv_reply() for _ in range(200))}
        assert replies == {index: index * 2 for index in range(200)}

    def test_concurrent_first_calls_wait_for_a_slow_import(self, worker: Worker) -> None:
        worker.send((Atom("call"), 1, "slow_import_fixture.first", [], {}, {}))
        time.sleep(0.1)
        worker.send((Atom("call"), 2, "slow_import_fixture.second", [], {}, {}))
        replies = {reply[1]: reply for reply in (worker.recv_reply(), worker.recv_reply())}
        assert replies == {1: (OK, 1, 1), 2: (OK, 2, 2)}

    def test_coroutine_functions_run_on_the_event_loop(self, worker: Worker) -> None:
        for index in range(20):
            worker.send((Atom("call"), index, "worker_fixtures.async_add", [index, 1], {}, {}))
        replies = {reply[1]: reply[2] for reply in (worker.recv_reply() for _ in range(20))}
        assert replies == {index: index + 1 for index in range(20)}

    def test_pool_size_limits_running_calls(self) -> None:
        process = Worker("--threads", "1")
        try:
            process.send((Atom("call"), 1, "worker_fixtures.slow", [0.5, "first"], {}, {}))
            process.send((Atom("call"), 2, "worker_fixtures.slow", [0.0, "second"], {}, {}))
            assert [process.recv_reply()[1], process.recv_reply()[1]] == [1, 2]
        finally:
            process.close()

    def test_cancel_a_running_call(self, worker: Worker) -> None:
        worker.send((Atom("call"), 1, "worker_fixtures.busy", [30.0, "cancel-me"], {}, {}))
        deadline = time.monotonic() + 15
        while not worker.call("worker_fixtures.gate_is_open", ["cancel-me"]):
            assert time.monotonic() < deadline, "the call never started"
        worker.send((Atom("cancel"), 1))
        reply = worker.recv_reply()
        assert reply[1] == 1
        assert error_of(reply)[Atom("type")] == "pybridge.Cancelled"
        assert worker.ok("stats")[Atom("in_flight")] == 0
        assert worker.ok("ping", "after") == "after"

    def test_cancel_a_queued_call(self) -> None:
        process = Worker("--threads", "1")
        try:
            process.send((Atom("call"), 1, "worker_fixtures.slow", [0.5, "first"], {}, {}))
            process.send((Atom("call"), 2, "worker_fixtures.slow", [0.0, "second"], {}, {}))
            process.send((Atom("cancel"), 2))
            replies = {reply[1]: reply for reply in (process.recv_reply(), process.recv_reply())}
            assert replies[1][2] == "first"
            assert error_of(replies[2])[Atom("type")] == "pybridge.Cancelled"
        finally:
            process.close()


class TestStreams:
    def collect(self, worker: Worker, request_id: int) -> list[Any]:
        items = []
        while True:
            frame = worker.recv_reply()
            assert frame[1] == request_id
            if frame[0] == CHUNK:
                items.append(frame[2])
            else:
                assert frame == (OK, request_id, None), frame
                return items

    def test_generator_within_its_window(self, worker: Worker) -> None:
        worker.send((Atom("call"), 1, "worker_fixtures.count", [5, "w"], {}, {Atom("stream"): True, Atom("window"): 10}))
        assert self.collect(worker, 1) == [0, 1, 2, 3, 4]
        assert worker.call("worker_fixtures.take_events")[-1] == "w:closed"

    @pytest.fixture
    def one_slot(self) -> Iterator[Worker]:
        """A worker with one running slot: a call queued behind a stream's steps runs once they stop."""
        process = Worker("--threads", "1")
        yield process
        process.close()

    def test_credit_is_backpressure(self, one_slot: Worker) -> None:
        worker = one_slot
        worker.send((Atom("call"), 1, "worker_fixtures.count", [100, "bp"], {}, {Atom("stream"): True, Atom("window"): 3}))
        assert [worker.recv_reply()[2] for _ in range(3)] == [0, 1, 2]
        produced = [e for e in worker.call("worker_fixtures.take_events") if e.startswith("bp:produced")]
        assert len(produced) == 3, "the generator ran ahead of the credit"
        worker.send((Atom("credit"), 1, 2))
        assert [worker.recv_reply()[2] for _ in range(2)] == [3, 4]
        worker.send((Atom("cancel"), 1))
        assert worker.recv_reply() == (OK, 1, None)
        assert worker.call("worker_fixtures.take_events")[-1] == "bp:closed"
        assert worker.ok("stats")[Atom("streams")] == 0

    def test_default_window_is_32(self, one_slot: Worker) -> None:
        worker = one_slot
        worker.send((Atom("call"), 1, "worker_fixtures.count", [100, "dw"], {}, {Atom("stream"): True}))
        assert [worker.recv_reply()[2] for _ in range(32)] == list(range(32))
        produced = [e for e in worker.call("worker_fixtures.take_events") if e.startswith("dw:produced")]
        assert len(produced) == 32, "without a window option, the credit is 32 chunks"
        worker.send((Atom("cancel"), 1))
        assert worker.recv_reply() == (OK, 1, None)

    def test_iterables_and_async_generators_stream(self, worker: Worker) -> None:
        worker.send((Atom("call"), 1, "builtins.range", [4], {}, {Atom("stream"): True}))
        assert self.collect(worker, 1) == [0, 1, 2, 3]
        worker.send((Atom("call"), 2, "worker_fixtures.async_count", [3], {}, {Atom("stream"): True}))
        assert self.collect(worker, 2) == [0, 1, 2]

    def test_error_inside_a_generator_ends_the_stream(self, worker: Worker) -> None:
        worker.send((Atom("call"), 1, "worker_fixtures.failing_generator", [], {}, {Atom("stream"): True}))
        assert worker.recv_reply() == (CHUNK, 1, 1)
        error = error_of(worker.recv_reply())
        assert error[Atom("type")] == "builtins.RuntimeError"

    def test_streaming_something_not_iterable_is_an_error(self, worker: Worker) -> None:
        worker.send((Atom("call"), 1, "builtins.len", ["abc"], {}, {Atom("stream"): True}))
        assert error_of(worker.recv_reply())[Atom("type")] == "builtins.TypeError"


class TestCallbacks:
    def answer_callbacks(self, worker: Worker, request_id: int, answer: Any) -> Any:
        """Answer callbacks with ``answer(fun, args)`` until request ``request_id`` replies."""
        while True:
            frame = worker.recv_reply()
            if frame[0] == Atom("callback"):
                _, callback_id, on_behalf_of, fun, args = frame
                assert on_behalf_of == request_id
                worker.send((Atom("callback_reply"), callback_id, answer(fun, args)))
            else:
                assert frame[1] == request_id
                return frame

    def test_an_elixir_fun_is_a_python_callable(self, worker: Worker) -> None:
        export = Export(Atom("Elixir.Enum"), Atom("sum"), 1)
        worker.send((Atom("call"), 1, "worker_fixtures.apply", [export, [1, 2, 3]], {}, {}))
        reply = self.answer_callbacks(worker, 1, lambda f, args: (OK, sum(args[0])))
        assert reply == (OK, 1, 6)

    def test_an_elixir_exception_is_raised_in_python(self, worker: Worker) -> None:
        export = Export(Atom("Elixir.M"), Atom("f"), 0)
        worker.send((Atom("call"), 1, "worker_fixtures.apply_catching", [export], {}, {}))
        error = {Atom("type"): "Elixir.ArgumentError", Atom("message"): "bad", Atom("traceback"): []}
        reply = self.answer_callbacks(worker, 1, lambda f, args: (ERROR, error))
        assert reply == (OK, 1, "pybridge_port.errors.CallbackError: Elixir.ArgumentError: bad")

    def test_exported_names(self) -> None:
        process = Worker(hello=False)
        try:
            reply = process.request_raw((Atom("hello"), 1, {Atom("exports"): ["double"]}))
            assert reply[0] == Atom("hello")
            process.send((Atom("call"), 1, "pybridge_port.elixir.call", ["double", 21], {}, {}))
            reply = self.answer_callbacks(process, 1, lambda name, args: (OK, args[0] * 2))
            assert reply == (OK, 1, 42)
            reply = process.request("call", "pybridge_port.elixir.call", ["triple", 1], {}, {})
            assert "no Elixir function is exported to Python as 'triple'" in error_of(reply)[Atom("message")]
        finally:
            process.close()

    def test_nested_callbacks_beyond_the_pool_size_do_not_deadlock(self) -> None:
        process = Worker("--threads", "2")
        export = Export(Atom("Elixir.M"), Atom("f"), 1)
        try:
            # Ten requests each block in a callback; each callback's answer needs a new request.
            for index in range(10):
                process.send((Atom("call"), index, "worker_fixtures.apply", [export, index], {}, {}))
            callbacks = []
            while len(callbacks) < 10:
                frame = process.recv_reply()
                assert frame[0] == Atom("callback"), frame
                callbacks.append(frame)
            # While all ten wait, the worker still runs more calls.
            assert process.call("math.sqrt", [4.0]) == 2.0
            for _, callback_id, request_id, _, args in callbacks:
                process.send((Atom("callback_reply"), callback_id, (OK, args[0] + 100)))
            replies = {frame[1]: frame[2] for frame in (process.recv_reply() for _ in range(10))}
            assert replies == {index: index + 100 for index in range(10)}
        finally:
            process.close()


    def test_a_cancel_ends_the_wait_on_a_callback_and_frees_the_thread(self, worker: Worker) -> None:
        export = Export(Atom("Elixir.M"), Atom("f"), 0)
        worker.send((Atom("call"), 1, "worker_fixtures.apply", [export], {}, {}))
        frame = worker.recv_reply()
        assert frame[0] == Atom("callback")
        worker.send((Atom("cancel"), 1))  # Elixir never answers the callback
        reply = worker.recv_reply()
        assert reply[1] == 1 and error_of(reply)[Atom("type")] == "pybridge.Cancelled"
        assert "callback" in error_of(reply)[Atom("message")]
        assert worker.ok("stats")[Atom("in_flight")] == 0
        # A late answer to the callback is ignored, not a protocol error.
        worker.send((Atom("callback_reply"), frame[1], (OK, 1)))
        assert worker.ok("ping", "alive") == "alive"


class TestOutputAndLifetime:
    def test_stray_output_never_corrupts_a_reply(self) -> None:
        process = Worker()
        try:
            assert process.call("worker_fixtures.noisy", ["intact"]) == "intact"
            assert process.call("worker_fixtures.read_stdin") == ""
            assert process.close() == 0
            text = process.stderr
            for line in ("print to stdout", "print to stderr", "os.write to fd 1", "C puts to stdout", "child stdout", "child stderr"):
                assert line in text
        finally:
            process.close()

    def test_output_frames(self) -> None:
        process = Worker("--output", "frames")
        try:
            process.send((Atom("call"), 1, "worker_fixtures.noisy", ["intact"], {}, {}))
            output = b""
            while True:
                frame = process.recv()
                if frame[0] == Atom("output"):
                    output += frame[1] if isinstance(frame[1], bytes) else frame[1].encode()
                else:
                    assert frame == (OK, 1, "intact")
                    break
            deadline = time.monotonic() + 5
            while b"child stderr" not in output and time.monotonic() < deadline:
                frame = process.recv()
                output += frame[1] if isinstance(frame[1], bytes) else frame[1].encode()
            for line in (b"print to stdout", b"print to stderr", b"os.write to fd 1", b"C puts to stdout", b"child stdout", b"child stderr"):
                assert line in output
        finally:
            process.close()

    def test_exits_promptly_when_input_closes_even_mid_call(self, worker: Worker) -> None:
        worker.send((Atom("call"), 1, "worker_fixtures.slow", [30.0], {}, {}))
        time.sleep(0.2)
        started = time.monotonic()
        assert worker.close(timeout=5) == 0
        assert time.monotonic() - started < 5

    def test_exits_when_its_output_is_closed(self, worker: Worker) -> None:
        # Elixir gone but the input not yet closed: the first write fails, the worker ends.
        worker.process.stdout.close()  # type: ignore[union-attr]
        for index in range(3):
            try:
                worker.send((Atom("ping"), index, "anyone?"))
            except BrokenPipeError:
                break
            time.sleep(0.1)
        assert worker.process.wait(5) == 0

    def test_child_processes_die_with_the_worker(self, worker: Worker) -> None:
        child = worker.call("worker_fixtures.spawn_sleeper")
        worker.close()
        assert wait_gone(child), f"child process {child} outlived its worker"

    def test_worker_dies_with_its_parent(self, tmp_path: Any) -> None:
        # A middle process starts a worker and is then killed; the worker must follow.
        script = tmp_path / "parent.py"
        script.write_text(
            "import subprocess, sys, time\n"
            "p = subprocess.Popen([sys.executable, '-m', 'pybridge_port'], stdin=subprocess.PIPE)\n"
            "print(p.pid, flush=True)\n"
            "time.sleep(60)\n"
        )
        parent = subprocess.Popen(
            [sys.executable, str(script)],
            stdout=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        worker_pid = int(parent.stdout.readline())  # type: ignore[union-attr]
        time.sleep(0.5)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert wait_gone(worker_pid), "the worker outlived its parent"


def test_encoded_frames_match_what_elixir_sends() -> None:
    # The client encodes with the codec; make sure a request is the tuple a Port sends.
    assert encode((Atom("ping"), 1, "x"))[:3] == b"\x83h\x03"


def test_the_worker_keeps_freed_memory_for_the_next_large_payload() -> None:
    """glibc's mallopt is set where glibc is the C library (see keep_freed_memory)."""
    import platform

    from pybridge_port.__main__ import keep_freed_memory

    assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


def test_a_dotted_path_is_looked_up_anew_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the split of a path is cached: an attribute reassigned later is what a call finds."""
    from pybridge_port.dispatch import resolve_path

    assert resolve_path("math.pi") == math.pi
    monkeypatch.setattr(math, "pi", 3.0)
    assert resolve_path("math.pi") == 3.0
    with pytest.raises(ValueError, match="not a dotted Python path: 'math..pi'"):
        resolve_path("math..pi")


def test_a_reply_encodes_while_another_thread_is_still_importing_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A partly initialised numpy in sys.modules (no ndarray yet) is not consulted: the object becomes a handle."""
    import types

    from pybridge_port.codec import decode
    from pybridge_port.handles import HandleTable
    from pybridge_port.values import Conversions

    monkeypatch.setitem(sys.modules, "numpy", types.ModuleType("numpy"))
    conversions = Conversions(HandleTable("test"), lambda fun: fun)
    term, _ = decode(conversions.encode(object(), scope="s"))
    assert term[Atom("__struct__")] == Atom("Elixir.PyBridge.Ref")
