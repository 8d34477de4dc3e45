"""Publishing deliveries on the `webhook` queue, and knowing cheaply whether the broker is up."""

import time

from ouro import queues
from ouro.amqp import BrokerUnavailable
from webhook.publisher import PipelinedPublisher


class Broker:
    """One pipelined, confirmed publisher shared by every request thread.

    Every publish tries the broker afresh (after a failed connect, at most every
    `retry_interval` seconds), so the receiver recovers by itself once the broker is back
    and `/healthz` costs no round trip: it reports the connection's state, connecting
    if needed.
    """

    def __init__(self, url: str | None = None, retry_interval: float = 0.5):
        self._publisher = PipelinedPublisher(url, retry_interval=retry_interval)
        self._up = False

    def publish(self, body: bytes, message_id: str) -> float:
        """Publish to `webhook` and wait for the confirm; the seconds it took.
        Raises `BrokerUnavailable` if the broker did not take the message."""
        started = time.monotonic()
        try:
            self._publisher.publish(queues.WEBHOOK, body, message_id=message_id)
        except BrokerUnavailable:
            self._up = False
            raise
        self._up = True
        return time.monotonic() - started

    def up(self) -> bool:
        try:
            self._publisher.check()
        except BrokerUnavailable:
            self._up = False
        else:
            self._up = True
        return self._up

    def last_known_up(self) -> bool:
        """The state at the last publish or check, without connecting (for metrics)."""
        return self._up

    def close(self) -> None:
        self._publisher.close()
