from __future__ import annotations

from collections.abc import Iterator

import pytest

from worker_client import Worker


@pytest.fixture
def worker() -> Iterator[Worker]:
    """A fresh worker that has completed its handshake."""
    process = Worker()
    yield process
    process.close()
