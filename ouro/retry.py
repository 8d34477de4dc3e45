"""Retry policy for calls to other services (GitHub, the store), in one place.

Transient failures (network errors, 5xx) are retried with backoff 1, 2, 4, 8 s;
anything else (a 4xx: our request is wrong) is raised at once.
"""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

BACKOFF = (1.0, 2.0, 4.0, 8.0)


def with_retries(
    call: Callable[[], T],
    is_transient: Callable[[Exception], bool],
    what: str,
    *,
    backoff: tuple[float, ...] = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, retried after each delay in `backoff` while it fails transiently."""
    for delay in backoff:
        try:
            return call()
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("%s failed (%s); retrying in %.0fs", what, type(error).__name__, delay)
            sleep(delay)
    return call()
