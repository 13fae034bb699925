"""Measurements from a Python client: the ETF port path against gRPC, like for like.

Both paths run the same operations (benchmarks/ops.py) through the same
``pybridge_port`` dispatcher; only the transport and the encoding differ:
``etf_port`` sends the frames the Elixir runtime sends over a pipe, ``grpc``
sends protobuf messages over a Unix socket. ``msgpack`` and ``etf_codec``
are references for the 10,000-map payload (codec work only, no transport).
"""

from __future__ import annotations

import os
import selectors
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .grpc_bridge import GrpcClient
from .port_client import PortClient, marked_bytes, ndarray
from .stats import summary

MIB = 1 << 20
MAPS = 10_000
CHUNKS = 10_000
KWARGS = {"a": 1, "b": "two", "c": 3.0, "d": True}
# name, samples per round at scale 1, bytes moved per call (in + out)
LATENCY_OPS: list[tuple[str, int, int]] = [
    ("noop", 1500, 0),
    ("small_kwargs", 1500, 0),
    ("binary_1mib", 125, 2 * MIB),
    ("maps_10k", 20, 0),
    ("ndarray_8mib", 10, 16 * MIB),
    ("stream_10k", 6, 0),
    ("instance", 500, 0),
]
CALLERS = (1, 8, 64)
WORKERS = (1, 2)


@dataclass(frozen=True)
class Parts:
    """What ``run`` measures: latency operations (names of ``LATENCY_OPS``), the codec references, throughput (callers, workers)."""

    latency: tuple[str, ...]
    codec: bool
    throughput: tuple[tuple[int, int], ...]


ALL = Parts(latency=tuple(op for op, _, _ in LATENCY_OPS), codec=True, throughput=tuple((c, w) for c in CALLERS for w in WORKERS))


def payloads() -> dict[str, Any]:
    import numpy

    return {
        "binary": os.urandom(MIB),
        "maps": [{"id": i, "name": f"item-{i}", "score": i * 0.5} for i in range(MAPS)],
        "array": numpy.frombuffer(os.urandom(8 * MIB), dtype=numpy.float64),
    }


def _port_ops(client: PortClient, data: dict[str, Any]) -> dict[str, tuple[Callable[[], Any], Callable[[Any], bool]]]:
    from pybridge_port.types import Atom

    kwargs = {Atom(k): v for k, v in KWARGS.items()}  # a keyword list's keys are atoms
    binary, maps, array = data["binary"], data["maps"], data["array"]

    def instance() -> Any:
        ref = client.create("benchmarks.ops.Counter")
        assert client.method(ref, "incr") == 1
        return client.release(ref)

    return {
        "noop": (lambda: client.call("benchmarks.ops.noop"), lambda r: r is None),
        "small_kwargs": (lambda: client.call("benchmarks.ops.small_kwargs", [], kwargs), lambda r: r == 8),
        "binary_1mib": (lambda: client.call("benchmarks.ops.echo", [marked_bytes(binary)]), lambda r: r == binary),
        "maps_10k": (lambda: client.call("benchmarks.ops.echo", [maps]), lambda r: r == maps),
        "ndarray_8mib": (
            lambda: client.call("benchmarks.ops.echo", [ndarray(array)]),
            lambda r: r.tobytes() == array.tobytes(),
        ),
        "stream_10k": (lambda: sum(1 for _ in client.stream("benchmarks.ops.count", [CHUNKS])), lambda r: r == CHUNKS),
        "instance": (instance, lambda r: r == 1),
    }


def _grpc_ops(client: GrpcClient, data: dict[str, Any]) -> dict[str, tuple[Callable[[], Any], Callable[[Any], bool]]]:
    binary, maps, array = data["binary"], data["maps"], data["array"]

    def instance() -> Any:
        ref = client.create("benchmarks.ops.Counter")
        assert client.method(ref, "incr") == 1
        return client.release(ref)

    return {
        "noop": (lambda: client.call("benchmarks.ops.noop"), lambda r: r is None),
        "small_kwargs": (lambda: client.call("benchmarks.ops.small_kwargs", [], KWARGS), lambda r: r == 8),
        "binary_1mib": (lambda: client.call("benchmarks.ops.echo", [binary]), lambda r: r == binary),
        "maps_10k": (lambda: client.call("benchmarks.ops.echo", [maps]), lambda r: r == maps),
        "ndarray_8mib": (lambda: client.call("benchmarks.ops.echo", [array]), lambda r: r.tobytes() == array.tobytes()),
        "stream_10k": (lambda: sum(1 for _ in client.stream("benchmarks.ops.count", [CHUNKS])), lambda r: r == CHUNKS),
        "instance": (instance, lambda r: r == 1),
    }


def measure(fun: Callable[[], Any], check: Callable[[Any], bool], n: int, what: str) -> list[int]:
    """``n`` timed calls after a warm-up; the first result is checked."""
    result = fun()
    if not check(result):
        raise AssertionError(f"{what} returned something else than it should: {str(result)[:200]}")
    for _ in range(max(n // 10, 1)):
        fun()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        start = clock()
        fun()
        samples.append(clock() - start)
    return samples


# -- reference: the 10,000 maps through msgpack, and through the worker's ETF codec --


def codec_references(maps: list[dict[str, Any]], n: int, round_: int) -> list[dict[str, Any]]:
    """Codec work alone for the 10,000-map payload, in and out.

    ``msgpack``: pack + unpack of the request and of the reply (what a
    msgpack bridge's two sides would do). ``etf_codec``: what the worker's
    codec does for one call: decode the request frame with the worker's hooks
    and encode the reply (Elixir's share, ``term_to_binary`` and
    ``binary_to_term``, is C and not counted here).
    """
    import msgpack

    from pybridge_port.codec import Encoder
    from pybridge_port.handles import HandleTable
    from pybridge_port.types import Atom
    from pybridge_port.values import Conversions

    conversions = Conversions(HandleTable("bench"), lambda fun: print)  # no funs in this payload
    frame = Encoder().encode((Atom("call"), 1, "benchmarks.ops.echo", [maps], {}, {Atom("scope"): "bench"}))

    def etf() -> Any:
        request = conversions.decode(frame)
        return conversions.encode((Atom("ok"), 1, request[3][0]))

    def msgpack_both_ways() -> Any:
        request = msgpack.unpackb(msgpack.packb(maps))
        return msgpack.unpackb(msgpack.packb(request))

    assert msgpack_both_ways() == maps
    records = []
    for path, fun in (("msgpack", msgpack_both_ways), ("etf_codec", etf)):
        samples = measure(fun, lambda r: True, n, path)
        records.append(summary("maps_10k", path, round_, samples))
    return records


# -- throughput: many requests in flight from one client thread -----------------


def port_throughput(clients: list[PortClient], in_flight: int, duration: float) -> tuple[int, float, list[int]]:
    """No-op calls kept ``in_flight`` at once (pipelined), spread over ``clients``."""
    selector = selectors.DefaultSelector()
    for client in clients:
        selector.register(client.fileno, selectors.EVENT_READ, client)
    clock = time.perf_counter_ns
    sent: dict[int, int] = {}
    samples: list[int] = []
    start = clock()
    deadline = start + int(duration * 1e9)
    per_client = {id(c): 0 for c in clients}

    def launch(client: PortClient, count: int) -> None:
        frames = []
        now = clock()
        for _ in range(count):
            request_id = next(client.ids)
            sent[request_id] = now
            frames.append(client.call_frame(request_id, "benchmarks.ops.noop"))
        per_client[id(client)] += count
        client.send_many(frames)

    for index, client in enumerate(clients):
        launch(client, in_flight // len(clients) + (1 if index < in_flight % len(clients) else 0))
    outstanding = in_flight
    while outstanding:
        for key, _ in selector.select():
            client = key.data
            replies = client.read_available()
            now = clock()
            for reply in replies:
                samples.append(now - sent.pop(reply[1]))
            outstanding -= len(replies)
            if now < deadline:
                launch(client, len(replies))
                outstanding += len(replies)
    elapsed = (clock() - start) / 1e9
    selector.close()
    return len(samples), elapsed, samples


def grpc_throughput(clients: list[GrpcClient], in_flight: int, duration: float) -> tuple[int, float, list[int]]:
    """No-op calls kept ``in_flight`` at once with futures, spread over ``clients``."""
    clock = time.perf_counter_ns
    requests = [client.request("benchmarks.ops.noop") for client in clients]
    calls = [client.stub.Call.future for client in clients]
    samples: list[int] = []
    pending: deque[tuple[Any, int]] = deque()
    start = clock()
    deadline = start + int(duration * 1e9)
    turn = 0
    for _ in range(in_flight):
        pending.append((calls[turn % len(calls)](requests[turn % len(calls)]), clock()))
        turn += 1
    while pending:
        future, sent = pending.popleft()
        future.result()
        now = clock()
        samples.append(now - sent)
        if now < deadline:
            pending.append((calls[turn % len(calls)](requests[turn % len(calls)]), clock()))
            turn += 1
    elapsed = (clock() - start) / 1e9
    return len(samples), elapsed, samples


# -- the whole Python side ------------------------------------------------------


def run(
    python: str, build_dir: Path, *, scale: float, rounds: int, throughput_s: float, log: Callable[[str], None], parts: Parts = ALL
) -> list[dict[str, Any]]:
    """Records of ``rounds`` rounds of what ``parts`` names, both paths interleaved."""
    data = payloads()
    records: list[dict[str, Any]] = []
    ports = [PortClient(python), PortClient(python)]
    grpcs = [GrpcClient(build_dir, python), GrpcClient(build_dir, python)]
    try:
        paths = {"etf_port": _port_ops(ports[0], data), "grpc": _grpc_ops(grpcs[0], data)}
        for round_ in range(1, rounds + 1):
            order = list(paths) if round_ % 2 else list(reversed(paths))
            for op, base, bytes_moved in LATENCY_OPS:
                if op not in parts.latency:
                    continue
                n = max(round(base * scale), 2)
                for path in order:
                    fun, check = paths[path][op]
                    log(f"python round {round_}: {op} via {path} ({n} calls)")
                    records.append(summary(op, path, round_, measure(fun, check, n, f"{op} via {path}"), bytes_moved))
            if parts.codec:
                records.extend(codec_references(data["maps"], max(round(10 * scale), 2), round_))
            for callers, workers in parts.throughput:
                for path in order:
                    log(f"python round {round_}: throughput, {callers} in flight, {workers} worker(s), via {path}")
                    if path == "etf_port":
                        port_throughput(ports[:workers], callers, min(throughput_s, 0.05))  # warm-up
                        calls, elapsed, samples = port_throughput(ports[:workers], callers, throughput_s)
                    else:
                        grpc_throughput(grpcs[:workers], callers, min(throughput_s, 0.05))
                        calls, elapsed, samples = grpc_throughput(grpcs[:workers], callers, throughput_s)
                    record = summary(f"throughput_c{callers}_w{workers}", path, round_, samples)
                    record.update(per_s=calls / elapsed, callers=callers, workers=workers)
                    records.append(record)
    finally:
        for client in ports:
            client.close()
        for grpc_client in grpcs:
            grpc_client.close()
    return records
