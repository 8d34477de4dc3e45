"""The HTTP side of the receiver (docs/webhook.md: its codes, limits and the message it publishes).

It only checks, wraps and publishes: no git or API work, because GitHub gives up
after 10 s and never retries by itself. One asyncio loop (uvloop's, on libuv) serves every
connection (`webhook.connection`) and the broker connection (`webhook.publisher`): no thread per
client, so slow clients cost memory, not threads, and are cut off at their deadlines; and
no hand-over between threads per delivery, which is where the earlier threaded receiver
spent its time (docs/webhook.md, "Speed").
"""

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Coroutine
from typing import Any

import uvloop

from ouro.secretfile import SecretFile
from webhook.broker import Broker
from webhook.connection import Connection, printable
from webhook.metrics import Metrics
from webhook.payload import MAX_NESTING, queue_message
from webhook.wire import MAX_BODY, Refused

__all__ = [
    "BODY_DEADLINE",
    "HEADER_DEADLINE",
    "MAX_BODY",
    "MAX_CONNECTIONS",
    "MAX_NESTING",
    "Receiver",
    "Refused",
    "printable",
    "queue_message",
]

log = logging.getLogger(__name__)

# From the connection (or the previous answer) to the end of the request's headers; also
# how long an idle keep-alive connection stays open.
HEADER_DEADLINE = 10.0
# From the end of the headers to the end of the body: a client trickling bytes cannot hold
# a connection forever.
BODY_DEADLINE = 30.0
# Open client connections at most; the next ones get 503 and are closed. Each costs a few
# KiB and a file descriptor (the CLI raises the descriptor limit to fit).
MAX_CONNECTIONS = 4096
# How often deadlines are checked: a deadline is enforced within this much.
SWEEP_INTERVAL = 0.25


class Receiver:
    """The webhook HTTP server; `serve_forever` in a thread or the main loop, then `shutdown`."""

    def __init__(
        self,
        secrets: SecretFile,
        broker: Broker,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        body_deadline: float = BODY_DEADLINE,
        header_deadline: float = HEADER_DEADLINE,
        max_connections: int = MAX_CONNECTIONS,
    ):
        self.secrets = secrets
        self.broker = broker
        self.body_deadline = body_deadline
        self.header_deadline = header_deadline
        self.max_connections = max_connections
        self.metrics = Metrics()
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._grace = 10.0
        self._sweeper: asyncio.TimerHandle | None = None
        # Bound now, so `url` is known before serving starts (and the port is ours).
        # The backlog absorbs bursts of connects while the loop is busy.
        self._socket = socket.create_server((host, port), backlog=1024)
        self._socket.setblocking(False)

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host!s}:{port}/"

    @property
    def connections(self) -> int:
        return len(self._connections)

    def serve_forever(self, *, handle_sigterm: bool = False) -> None:
        """Serve until `request_stop` (or SIGTERM, if asked and on the main thread)."""
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(self._serve(handle_sigterm))
        finally:
            self._socket.close()
            self._stopped.set()

    def request_stop(self) -> None:
        """Stop accepting and finish (thread-safe, idempotent); `serve_forever` then returns."""
        self._stop_requested.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            # Harmless if the loop has already ended.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    def shutdown(self, grace: float = 10.0) -> None:
        """Stop accepting, let deliveries in progress finish (up to `grace` s), close."""
        self._grace = grace
        self.request_stop()
        if self._loop is None and not self._stopped.is_set():
            # Never served: nothing to wait for.
            self._socket.close()
            return
        self._stopped.wait(grace + 15)

    # on the loop

    async def _serve(self, handle_sigterm: bool) -> None:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._loop = loop
        self.broker.loop = loop
        if self._stop_requested.is_set():
            self._stop.set()
        if handle_sigterm:
            loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        server = await loop.create_server(lambda: Connection(self), sock=self._socket)
        self._sweeper = loop.call_later(SWEEP_INTERVAL, self._sweep)
        try:
            await self._stop.wait()
        finally:
            server.close()
            await self._drain(self._grace)
            if self._sweeper is not None:
                self._sweeper.cancel()
            for connection in list(self._connections):
                connection.transport.abort()
            await self.broker.close()
            self.broker.loop = None

    async def _drain(self, grace: float) -> None:
        """Close idle connections; wait (up to `grace` s) for those answering a request."""
        deadline = time.monotonic() + grace
        while True:
            for connection in list(self._connections):
                if not connection.busy:
                    connection.transport.close()
            if not any(c.busy for c in self._connections) or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)

    def _sweep(self) -> None:
        # One pass over the connections instead of a timer per request.
        now = time.monotonic()
        for connection in [c for c in self._connections if not c.busy and c.deadline < now]:
            connection.expired()
        self._sweeper = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep)

    def admit(self, connection: Connection) -> bool:
        if len(self._connections) >= self.max_connections:
            log.warning("connection refused: %d connections open", len(self._connections))
            return False
        self._connections.add(connection)
        return True

    def release(self, connection: Connection) -> None:
        self._connections.discard(connection)

    def track(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run `coroutine` as a task kept until it ends (asyncio holds only weak references)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
