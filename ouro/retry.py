"""Retry policy for calls to other services (GitHub, the store), in one place.

Transient failures (network errors, 5xx) are retried with backoff 1, 2, 4, 8 s;
anything else (a 4xx: our request is wrong) is raised at once. The pause between
attempts is injected: a service passes its stop event's `wait`, which returns True once
it is asked to stop, and the retries end there with the last error (a SIGTERM during an
outage must not wait out 15 s of backoff).
"""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Pauses for the given seconds; returning True (a stop event's `wait` when set) ends the
# retries. `time.sleep` returns None: never ends them.
Sleep = Callable[[float], object]

BACKOFF = (1.0, 2.0, 4.0, 8.0)


def with_retries(
    call: Callable[[], T],
    is_transient: Callable[[Exception], bool],
    what: str,
    *,
    backoff: tuple[float, ...] = BACKOFF,
    sleep: Sleep = time.sleep,
) -> T:
    """`call()`, retried after each delay in `backoff` while it fails transiently, unless
    `sleep` returns True (stop asked for): then the last error is raised at once."""
    for delay in backoff:
        try:
            return call()
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("%s failed (%s); retrying in %.0fs", what, type(error).__name__, delay)
            if sleep(delay) is True:
                log.info("%s: stopping, no more retries", what)
                raise
    return call()
