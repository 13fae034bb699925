"""``python -m pybridge_port``: serve one Elixir Port on stdin/stdout."""

from __future__ import annotations

import argparse
import codecs
import ctypes
import faulthandler
import os
import signal
import struct
import sys
import threading

from . import limits, setup  # setup: its struct conversion must be known before the first frame
from .codec import encode
from .dispatch import Dispatcher, error_term
from .framing import DEFAULT_MAX_FRAME, FrameReader, FrameWriter, enlarge_pipe
from .server import Server
from .types import Atom

PR_SET_PDEATHSIG = 1
EXIT_POLICY_REFUSED = 78  # EX_CONFIG
# glibc mallopt parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The worker's command line."""
    parser = argparse.ArgumentParser(prog="python -m pybridge_port", description=__doc__)
    parser.add_argument("--threads", type=_positive, default=8, help="requests running Python at once (default 8)")
    parser.add_argument(
        "--max-frame", type=_positive, default=DEFAULT_MAX_FRAME, help="largest frame accepted, in bytes (default 64 MiB)"
    )
    parser.add_argument(
        "--output",
        choices=("stderr", "frames"),
        default="stderr",
        help="where Python's fd 1/2 output goes: the worker's stderr, or {:output, data} frames",
    )
    policy = parser.add_argument_group("policies (PyBridge pool options, see pybridge_port/limits.py)")
    policy.add_argument("--memory-limit", type=_positive, help="address space limit in bytes (RLIMIT_AS)")
    policy.add_argument(
        "--resident-memory-limit", type=_positive, help="resident set limit in bytes (sampled from /proc)"
    )
    policy.add_argument("--cpu-limit", type=_positive, help="CPU time limit of the worker in seconds (RLIMIT_CPU)")
    policy.add_argument("--call-cpu-limit", type=_positive, help="CPU time limit of one call in milliseconds")
    policy.add_argument("--open-files-limit", type=_positive, help="open file descriptors limit (RLIMIT_NOFILE)")
    policy.add_argument("--cwd", help="working directory of the worker")
    policy.add_argument("--user", help="OS user to run as (needs root)")
    policy.add_argument(
        "--read-only-cwd", action="store_true", help="refuse to start if the working directory is writable"
    )
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got: {text}")
    return value


def take_protocol_fds() -> tuple[int, int, int]:
    """Move the protocol to private fds; returns ``(input, output, original stderr)``.

    After this, fd 0 reads /dev/null and fd 1 writes to stderr, so nothing a
    library reads or prints (Python, C or a child process) touches a frame.
    """
    proto_in, proto_out, real_stderr = os.dup(0), os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    for fd in (proto_in, proto_out):
        enlarge_pipe(fd)
    return proto_in, proto_out, real_stderr


def forward_output(writer: FrameWriter, dispatcher: Dispatcher) -> None:
    """Point fds 1 and 2 at a pipe whose contents go to Elixir as ``{:output, data}``."""
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    output = Atom("output")
    # Text arrives in arbitrary pieces: decode incrementally so no character is split.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def pump() -> None:
        while True:
            data = os.read(read_end, 65536)
            if not data:
                return
            dispatcher.send((output, decoder.decode(data)))

    threading.Thread(target=pump, name="pybridge-output", daemon=True).start()


def die_with_parent() -> None:
    """Lead our own process group, and have the kernel signal us if our parent dies."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    # Our parent is gone: nobody reads our exit status, so children get SIGKILL.
    signal.signal(signal.SIGTERM, lambda signum, frame: shutdown(0, signal.SIGKILL))
    if os.getppid() != parent:  # the parent died before prctl took effect
        shutdown(0, signal.SIGKILL)


def keep_freed_memory() -> bool:
    """Have glibc reuse the memory of large payloads instead of giving it back after each one.

    By default glibc serves large allocations with fresh mmaps, or trims the
    heap once more than a few MiB at its top are free, and an 8 MiB array
    echoed (decoded, copied, encoded: about 32 MiB of buffers) then page-faults
    on every byte of every buffer, on every call: 25 → 58 ms of worker CPU per
    call (benchmarks/FINDINGS.md). Allocations up to 32 MiB (glibc's ceiling)
    now come from the heap, and up to 64 MiB free at its top is kept: a worker
    holds on to about what its largest recent requests used. False where the
    C library is not glibc (nothing is changed there).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 64 << 20))


def apply_policies(args: argparse.Namespace) -> None:
    """Directory, limits and user, in that order: limits are set while we may still
    set hard ones, and the user is changed last (dropping root is for good). A policy
    that cannot be met ends the worker before it serves anything (status 78)."""
    try:
        if args.cwd is not None:
            limits.enter_directory(args.cwd)
        limits.apply_rlimits(memory=args.memory_limit, cpu_seconds=args.cpu_limit, open_files=args.open_files_limit)
        limits.on_exit(lambda status: shutdown(status))
        if args.resident_memory_limit is not None:
            limits.ResidentMemoryWatchdog(args.resident_memory_limit).start()
        if args.user is not None:
            limits.switch_user(args.user)
        if args.read_only_cwd:
            limits.require_read_only_cwd()
    except limits.LimitError as exc:
        print(f"pybridge_port: {exc}", file=sys.stderr)
        # fd 1 is still Elixir's end of the protocol: the reason goes into the start-up error.
        refusal = encode((Atom("error"), None, error_term(exc)))
        try:
            os.write(1, struct.pack(">I", len(refusal)) + refusal)
        except OSError:
            pass
        sys.exit(EXIT_POLICY_REFUSED)


def shutdown(status: int = 0, children: signal.Signals = signal.SIGTERM) -> None:
    """Exit now, taking our child processes with us (we lead our process group)."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    if os.getpgrp() == os.getpid():
        # Only the main thread may change a handler; elsewhere (a limit's
        # watchdog) our own SIGTERM handler merely sets a flag for it.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            os.killpg(os.getpid(), children)  # SIGKILL ends us too, which is what we want then
        except OSError:
            pass
    os._exit(status)


def main(argv: list[str] | None = None) -> None:
    """Run the worker until its input closes."""
    args = parse_args(argv)
    apply_policies(args)
    proto_in, proto_out, real_stderr = take_protocol_fds()
    faulthandler.enable(file=os.fdopen(real_stderr, "w", closefd=False))
    die_with_parent()
    keep_freed_memory()
    writer = FrameWriter(proto_out)
    dispatcher = Dispatcher(writer, threads=args.threads, max_frame=args.max_frame)
    if args.output == "frames":
        forward_output(writer, dispatcher)
    from . import elixir

    elixir.connect(dispatcher)
    if args.call_cpu_limit is not None:
        requests = dispatcher._requests

        def running() -> list[tuple[object, int]]:
            # Read without a lock: a view one sample stale costs at most one period.
            return [(r.id, r.thread) for r in list(requests.values()) if r.thread is not None]

        limits.CallCpuWatchdog(args.call_cpu_limit / 1000, running).start()
    reader = FrameReader(proto_in, max_frame=args.max_frame)
    shutdown(Server(reader, dispatcher).run())


if __name__ == "__main__":
    main()
