"""Waiting in tests for what happens elsewhere (another process, thread or server)."""

import time
from collections.abc import Callable

import pytest


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Until `condition()` holds; the test fails after `timeout` seconds, naming `what`. The
    bound is generous: it is reached only by a test that fails anyway."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
