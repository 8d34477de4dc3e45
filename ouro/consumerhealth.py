"""Whether a consumer (the bot, a worker) is connected and consuming: what its readiness and
liveness probes ask (`/readyz`, `/healthz` beside `/metrics`, `ouro.metrics`).

It learns the consumer's connection through `consumer.consume`'s `on_connected` hook, and the
connection's own thread marks a heartbeat on it every `TICK` seconds (pika runs
`call_later` callbacks inside the consume loop's `process_data_events`). So:

- ready: the connection and its channel are open and the loop ticked recently;
- alive: unless connected with a loop that stopped ticking (a hung consumer, which only a
  restart mends). While the broker is away the consumer reconnects by itself, so it stays
  alive, but not ready.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pika
from pika.adapters.blocking_connection import BlockingChannel

OnConnected = Callable[[pika.BlockingConnection, BlockingChannel], None]

TICK = 1.0
# A loop that has not ticked for this long while connected is hung (it ticks every 0.2 s
# with nothing to do, and a job runs on another thread).
STALE = 30.0


@dataclass(frozen=True)
class Report:
    ok: bool
    text: str


class ConsumerHealth:
    def __init__(self, clock: Callable[[], float] = time.monotonic, stale: float = STALE):
        self._clock = clock
        self._stale = stale
        self._lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._ticked = 0.0
        # Which connection is current: an old connection's timer must not count.
        self._generation = 0
        # Why the consumer stopped consuming for good while its process stays up.
        self._retired: str | None = None

    def hook(self, then: OnConnected | None = None) -> OnConnected:
        """An `on_connected` for `consumer.consume` that records the connection, then calls
        `then` (another hook, such as the worker's cancel queue)."""

        def on_connected(connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
            with self._lock:
                self._connection, self._channel = connection, channel
                self._ticked = self._clock()
                self._generation += 1
                generation = self._generation
            connection.call_later(TICK, lambda: self._tick(connection, generation))
            if then is not None:
                then(connection, channel)

        return on_connected

    def _tick(self, connection: pika.BlockingConnection, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._ticked = self._clock()
        connection.call_later(TICK, lambda: self._tick(connection, generation))

    def _state(self) -> tuple[bool, float | None]:
        """(connected, seconds since the loop's last tick; None if never connected)."""
        with self._lock:
            connection, channel, ticked = self._connection, self._channel, self._ticked
        if connection is None or channel is None:
            return False, None
        connected = bool(connection.is_open and channel.is_open)
        return connected, self._clock() - ticked

    def retire(self, reason: str) -> None:
        """The consumer has stopped consuming for good (a rolled-back canary worker): never
        ready again, for `reason`, yet alive, so that it is not restarted into consuming."""
        with self._lock:
            self._retired = reason

    def readiness(self) -> Report:
        with self._lock:
            retired = self._retired
        if retired is not None:
            return Report(False, retired)
        connected, age = self._state()
        if age is None:
            return Report(False, "not connected to the broker yet")
        if not connected:
            return Report(False, "broker connection lost; reconnecting")
        if age > self._stale:
            return Report(False, f"consumer loop silent for {age:.0f}s")
        return Report(True, "connected and consuming")

    def liveness(self) -> Report:
        connected, age = self._state()
        if connected and age is not None and age > self._stale:
            return Report(False, f"consumer loop silent for {age:.0f}s while connected")
        return Report(True, "alive")
