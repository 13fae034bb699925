"""A module whose import takes a moment, for concurrent first calls."""

import time

time.sleep(0.3)


def first() -> int:
    return 1


def second() -> int:
    return 2
