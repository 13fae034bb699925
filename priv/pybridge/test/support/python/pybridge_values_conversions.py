"""User conversions, as an application registers them: imported by a pool at start."""

from __future__ import annotations

import dataclasses

from pybridge_port import values


@dataclasses.dataclass
class Point:
    x: int
    y: int


values.register(Point, "PyBridge.ValuesTest.Point")
