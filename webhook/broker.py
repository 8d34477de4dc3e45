"""Publishing deliveries on the `webhook` queue, and knowing cheaply whether the broker is up."""

import threading
import time

from tasks import queues
from tasks.amqp import BrokerUnavailable, Publisher, PublisherPool


class Broker:
    """A pool of confirmed publishers plus a cached reachability state for `/healthz`.

    Every publish tries the broker afresh (a delivery is never refused because of an
    old failure), so the receiver recovers by itself once the broker is back. Probes
    are cached for `ttl` seconds so that frequent health checks cost no round trip.
    """

    def __init__(self, url: str | None = None, publishers: int = 8, ttl: float = 2.0):
        self._pool = PublisherPool(url, size=publishers)
        self._probe = Publisher(url)
        self._probe_lock = threading.Lock()
        self._ttl = ttl
        self._up = False
        self._checked = float("-inf")

    def _record(self, up: bool) -> None:
        self._up, self._checked = up, time.monotonic()

    def publish(self, body: bytes, message_id: str) -> float:
        """Publish to `webhook` and wait for the confirm; the seconds it took.
        Raises `BrokerUnavailable` if the broker did not take the message."""
        started = time.monotonic()
        try:
            with self._pool.borrow() as publisher:
                publisher.publish(queues.WEBHOOK, body, message_id=message_id)
        except BrokerUnavailable:
            self._record(False)
            raise
        self._record(True)
        return time.monotonic() - started

    def up(self) -> bool:
        """Whether the broker is reachable: the last outcome if recent, else a probe."""
        if time.monotonic() - self._checked < self._ttl:
            return self._up
        with self._probe_lock:
            # Another thread may have probed while this one waited.
            if time.monotonic() - self._checked < self._ttl:
                return self._up
            try:
                self._probe.check()
            except BrokerUnavailable:
                self._record(False)
            else:
                self._record(True)
            return self._up

    def last_known_up(self) -> bool:
        """The cached state, without probing (for metrics)."""
        return self._up

    def close(self) -> None:
        self._pool.close()
        with self._probe_lock:
            self._probe.close()
