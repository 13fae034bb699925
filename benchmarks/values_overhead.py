"""10,000 small maps through the worker's value conversions, both ways.

The conversions of dates, sets, decimals, records... must cost nothing on
payloads that hold none of them. Run before and after a change to the
conversions (``.venv/bin/python -m benchmarks.values_overhead``); it prints
the best of several runs, in ms, of decoding a frame as Elixir would send it
(maps with atom keys) and of encoding the same values as a reply.
"""

from __future__ import annotations

import timeit

from pybridge_port.codec import Encoder
from pybridge_port.handles import HandleTable
from pybridge_port.types import Atom
from pybridge_port.values import Conversions

COUNT = 10_000


def main() -> None:
    """Print the decode and encode times of 10,000 small maps."""
    conversions = Conversions(HandleTable("bench"), lambda fun: fun)
    keys = [Atom("id"), Atom("name"), Atom("score")]
    elixir_maps = [dict(zip(keys, (i, f"user{i}", i * 0.5))) for i in range(COUNT)]
    frame = Encoder().encode(elixir_maps)  # what term_to_binary gives for these maps
    python_maps = conversions.decode(frame)
    assert python_maps[1] == {"id": 1, "name": "user1", "score": 0.5}
    for name, run in (
        ("decode", lambda: conversions.decode(frame)),
        ("encode", lambda: conversions.encode(python_maps)),
        ("both", lambda: conversions.encode(conversions.decode(frame))),
    ):
        best = min(timeit.repeat(run, number=10, repeat=7)) / 10
        print(f"{name:>6}: {best * 1e3:.3f} ms for {COUNT} maps")


if __name__ == "__main__":
    main()
