"""Running an HTTP service in the foreground until the service manager stops it."""

import signal
from collections.abc import Callable
from types import FrameType
from typing import Protocol


class Service(Protocol):
    def serve_forever(self) -> None: ...


def serve_until_terminated(server: Service, close: Callable[[], None]) -> None:
    """Serve until SIGTERM or Ctrl-C, then `close()` (the socket, and what the service holds)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        # Unwinds serve_forever in the main thread, so `close` runs in the finally below.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    finally:
        close()
