"""Publishing deliveries on the `webhook` queue (and mirroring them to a shadow exchange),
and knowing cheaply whether the broker is up."""

import asyncio
import logging
import threading

import pika
import pika.exceptions

from ouro import amqp, queues
from ouro.amqp import BrokerUnavailable
from webhook.publisher import AsyncPublisher

log = logging.getLogger(__name__)


class Broker:
    """One confirmed publisher on the receiver's event loop, shared by every connection.

    Every publish tries the broker afresh (after a failed connect, at most every
    `retry_interval` seconds), so the receiver recovers by itself once the broker is back
    and `/healthz` costs no round trip: it reports the connection's state, connecting
    if needed.
    """

    def __init__(
        self,
        url: str | None = None,
        retry_interval: float = 0.5,
        confirm_timeout: float = 8.0,
        *,
        shadow_exchange: str | None = None,
    ):
        self._url = url
        self._publisher = AsyncPublisher(
            url, retry_interval=retry_interval, confirm_timeout=confirm_timeout
        )
        # The mirror has a connection of its own: its nacks, returns and channel errors
        # (docs/webhook.md, "Shadow") can then never close the channel production's
        # deliveries are confirmed on.
        self.shadow_exchange = shadow_exchange
        self._mirror = (
            AsyncPublisher(
                url,
                exchange=shadow_exchange,
                retry_interval=retry_interval,
                confirm_timeout=confirm_timeout,
            )
            if shadow_exchange
            else None
        )
        self._up = False
        # Set while the receiver serves: `up()` from another thread then asks the loop.
        self.loop: asyncio.AbstractEventLoop | None = None

    def publish(self, body: bytes, message_id: str) -> "asyncio.Future[None]":
        """Publish to `webhook`; the future is done once the broker confirmed it, or fails
        with `BrokerUnavailable` if the broker did not take the message. On the loop only."""
        waiter = self._publisher.publish(queues.WEBHOOK, body, message_id=message_id)
        waiter.add_done_callback(self._note)
        return waiter

    def mirror(self, body: bytes, message_id: str) -> "asyncio.Future[None] | None":
        """Publish a copy to the shadow exchange, if there is one; the future is done once
        the broker confirmed it. On the loop only."""
        if self._mirror is None:
            return None
        return self._mirror.publish("", body, message_id=message_id)

    def _note(self, waiter: "asyncio.Future[None]") -> None:
        self._up = not waiter.cancelled() and waiter.exception() is None

    async def check(self) -> bool:
        """Whether the broker is reachable, connecting if needed (on the loop)."""
        try:
            await self._publisher.check()
        except BrokerUnavailable:
            self._up = False
        else:
            self._up = True
        return self._up

    def up(self) -> bool:
        """`check` from any thread. Before the receiver serves, a blocking connect that also
        declares the queues (so tests and probes can read `webhook` before any delivery)."""
        loop = self.loop
        if loop is not None and loop.is_running():
            if threading.get_ident() == getattr(loop, "_thread_id", None):
                raise RuntimeError("on the loop, await check() instead")
            return asyncio.run_coroutine_threadsafe(self.check(), loop).result(30)
        try:
            connection = amqp.connect(self._url)
        except BrokerUnavailable:
            self._up = False
            return False
        try:
            queues.declare(connection.channel())
            if self.shadow_exchange:
                self._declare_shadow(connection, self.shadow_exchange)
        finally:
            connection.close()
        self._up = True
        return True

    @staticmethod
    def _declare_shadow(connection: "pika.BlockingConnection", exchange: str) -> None:
        # On a channel of its own: a shadow exchange that cannot be declared (one of another
        # type has its name) costs the mirror, which then counts its failures, not the start.
        try:
            queues.declare_shadow(connection.channel(), exchange)
        except pika.exceptions.AMQPError as error:
            log.warning("cannot declare shadow exchange %s: %r", exchange, error)

    def last_known_up(self) -> bool:
        """The state at the last publish or check, without connecting (for metrics)."""
        return self._up

    async def close(self) -> None:
        await self._publisher.close()
        if self._mirror is not None:
            await self._mirror.close()
