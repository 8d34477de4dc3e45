"""Confirmed publishing on the receiver's event loop: one channel, many confirms in flight.

pika's `AsyncioConnection` runs on the same asyncio loop as the HTTP side, so a delivery
is published from the request's own callback (no hand-over to another thread) and its
confirm resolves an `asyncio.Future`. Each message leaves in one socket write (its frames
joined); the broker confirms the messages of concurrent requests together (`multiple`).
"""

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import pika
import pika.exceptions
import pika.spec
from pika.adapters.asyncio_connection import AsyncioConnection

from ouro import queues
from ouro.amqp import BrokerUnavailable, broker_addresses, message_properties

log = logging.getLogger(__name__)

# How often overdue confirms are looked for: a confirm times out within
# `confirm_timeout` + this, without a timer per message.
SWEEP_INTERVAL = 0.5


class _OneSendConnection(AsyncioConnection):  # type: ignore[misc]  # pika is untyped
    """pika hands a message's frames (method, header, body) to its transport one by one, and
    the transport sends each with a `send` of its own: three system calls per delivery, a
    sixth of the receiver's CPU in a profile. Joined, a message leaves in one.
    (`_output_marshaled_frames` is pika's, unchanged since 1.0; its counters stay right but
    for `frames_sent`, which nothing reads.)"""

    def _output_marshaled_frames(self, marshaled_frames: Sequence[bytes]) -> None:
        super()._output_marshaled_frames([b"".join(marshaled_frames)])


class AsyncPublisher:
    """Publish persistent messages with confirms; each `publish` returns a future that is
    done (result `None`) once the broker has the message, or fails with `BrokerUnavailable`
    when it may not: a nack, an unroutable message, a lost connection, or no confirm within
    `confirm_timeout`. With `exchange`, to that fanout exchange instead of a queue (a
    message no queue is bound to is unroutable). Only for use on the loop it was first
    used on."""

    def __init__(
        self,
        url: str | None = None,
        capabilities: tuple[str | None, ...] = (None,),
        *,
        exchange: str = "",
        confirm_timeout: float = 8.0,
        retry_interval: float = 0.5,
    ):
        self._addresses = broker_addresses(url)
        # The address of the next connect: it moves on after each failed or lost connection,
        # so a cluster's surviving node is reached when one node goes away.
        self._turn = 0
        self._timeout = self._addresses[0].socket_timeout
        self._capabilities = capabilities
        # "": the default exchange (the routing key names the queue); else a shadow's fanout
        # exchange, declared on connecting.
        self._exchange = exchange
        self._confirm_timeout = confirm_timeout
        # While the broker is down, callers fail at once instead of each waiting on a connect.
        self._retry_interval = retry_interval
        self._last_failure: tuple[float, str] = (float("-inf"), "")
        self._connection: AsyncioConnection | None = None
        self._channel: Any = None
        self._ready: asyncio.Future[None] | None = None
        # Delivery tag -> (message id, waiter, deadline); insertion order is tag order.
        self._pending: dict[int, tuple[str, asyncio.Future[None], float]] = {}
        self._returned: set[str] = set()
        self._next_tag = 0
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed: asyncio.Future[None] | None = None

    @property
    def up(self) -> bool:
        return self._channel is not None

    async def check(self) -> None:
        """Connect if not connected; raise `BrokerUnavailable` if the broker cannot be reached."""
        await self._connected()

    def publish(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        priority: int = 0,
        headers: dict[str, str] | None = None,
    ) -> "asyncio.Future[None]":
        loop = asyncio.get_running_loop()
        properties = message_properties(message_id, priority, headers)
        if self._channel is not None:
            waiter: asyncio.Future[None] = loop.create_future()
            self._send(routing_key, body, properties, waiter)
            return waiter
        # Not connected: connect first (shared by every caller meanwhile), then publish.
        return asyncio.ensure_future(self._publish_later(routing_key, body, properties))

    async def _publish_later(
        self, routing_key: str, body: bytes, properties: pika.BasicProperties
    ) -> None:
        await self._connected()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._send(routing_key, body, properties, waiter)
        await waiter

    def _send(
        self,
        routing_key: str,
        body: bytes,
        properties: pika.BasicProperties,
        waiter: "asyncio.Future[None]",
    ) -> None:
        try:
            # mandatory: an unroutable message (no such queue) is an error, not a drop.
            self._channel.basic_publish(
                self._exchange, routing_key, body, properties, mandatory=True
            )
        except (pika.exceptions.AMQPError, AttributeError) as error:
            # AttributeError: the channel went away under us (None) between check and use.
            waiter.set_exception(BrokerUnavailable(f"publishing failed: {error!r}"))
            return
        self._next_tag += 1
        deadline = time.monotonic() + self._confirm_timeout
        self._pending[self._next_tag] = (properties.message_id, waiter, deadline)

    async def _connected(self) -> None:
        if self._channel is not None:
            return
        if self._ready is None:
            failed_at, reason = self._last_failure
            if time.monotonic() - failed_at < self._retry_interval:
                raise BrokerUnavailable(reason)
            self._ready = asyncio.get_running_loop().create_future()
            self._open(self._ready)
        ready = self._ready
        try:
            await asyncio.wait_for(asyncio.shield(ready), self._timeout + 1)
        except TimeoutError:
            self._connect_failed(ready, "timeout")
            raise BrokerUnavailable(self._last_failure[1]) from None

    def _open(self, ready: "asyncio.Future[None]") -> None:
        loop = asyncio.get_running_loop()
        self._pending, self._returned, self._next_tag = {}, set(), 0
        self._connection = _OneSendConnection(
            self._addresses[self._turn % len(self._addresses)],
            on_open_callback=lambda c: c.channel(on_open_callback=self._on_channel),
            on_open_error_callback=self._on_lost,
            on_close_callback=self._on_lost,
            custom_ioloop=loop,
        )

    def _connect_failed(self, ready: "asyncio.Future[None]", reason: str) -> None:
        message = f"cannot connect to the broker: {reason}"
        self._last_failure = (time.monotonic(), message)
        self._turn += 1
        if not ready.done():
            ready.set_exception(BrokerUnavailable(message))
            # Retrieved here, so an unawaited failure is not reported as never retrieved.
            ready.exception()
        if self._ready is ready:
            self._ready = None
        connection, self._connection = self._connection, None
        if connection is not None:
            self._close_connection(connection)

    def _on_channel(self, channel: Any) -> None:
        channel.add_on_close_callback(lambda ch, reason: self._close_connection(ch.connection))
        channel.add_on_return_callback(self._on_return)
        # The asynchronous channel takes the same declare calls (without waiting for
        # each reply); a failed declare closes the channel before confirm mode is on.
        queues.declare(channel, self._capabilities)
        if self._exchange:
            queues.declare_shadow(channel, self._exchange)

        def confirm_mode(frame: Any) -> None:
            self._channel = channel
            ready, self._ready = self._ready, None
            if ready is not None and not ready.done():
                ready.set_result(None)
            self._schedule_sweep()

        channel.confirm_delivery(self._on_confirm, callback=confirm_mode)

    def _on_return(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        # A return comes before the ack of the same message.
        self._returned.add(properties.message_id)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        nack = isinstance(method, pika.spec.Basic.Nack)
        if nack and self._connection is not None:
            # The channel may nack for good (NACK_STUCK in ouro/queues.py): the next publish
            # connects again. Closing after this frame's settling fails only the others.
            asyncio.get_running_loop().call_soon(self._close_connection, self._connection)
        pending = self._pending
        if method.multiple:
            while pending:
                tag = next(iter(pending))
                if tag > method.delivery_tag:
                    break
                self._settle(*pending.pop(tag)[:2], nack=nack)
        else:
            entry = pending.pop(method.delivery_tag, None)
            if entry is not None:
                self._settle(*entry[:2], nack=nack)

    def _settle(self, message_id: str, waiter: "asyncio.Future[None]", *, nack: bool) -> None:
        if waiter.done():
            return
        if nack:
            waiter.set_exception(BrokerUnavailable(f"broker refused message {message_id}"))
        elif message_id in self._returned:
            self._returned.discard(message_id)
            waiter.set_exception(BrokerUnavailable(f"message {message_id} unroutable"))
        else:
            waiter.set_result(None)

    def _schedule_sweep(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep)

    def _sweep(self) -> None:
        # The oldest messages come first: stop at the first one still in time.
        now = time.monotonic()
        pending = self._pending
        while pending:
            tag = next(iter(pending))
            message_id, waiter, deadline = pending[tag]
            if deadline > now:
                break
            del pending[tag]
            if not waiter.done():
                waiter.set_exception(BrokerUnavailable(f"no confirm for {message_id} in time"))
        if self._channel is not None:
            self._schedule_sweep()

    @staticmethod
    def _close_connection(connection: Any) -> None:
        # Also while opening: a connect that timed out is abandoned this way.
        if not (connection.is_closing or connection.is_closed):
            connection.close()

    def _on_lost(self, connection: Any, reason: Any) -> None:
        if connection is not self._connection:
            return
        was_up = self._channel is not None
        self._channel = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._ready is not None:
            self._connect_failed(self._ready, repr(reason))
        else:
            self._connection = None
            if was_up:
                self._turn += 1
                log.warning("broker connection lost: %r", reason)
        # Whatever was sent and not confirmed has an unknown fate: the caller must not
        # claim it was stored.
        pending, self._pending = self._pending, {}
        for message_id, waiter, _ in pending.values():
            if not waiter.done():
                waiter.set_exception(
                    BrokerUnavailable(f"broker connection lost before {message_id}: {reason!r}")
                )
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    async def close(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._closed = asyncio.get_running_loop().create_future()
        self._close_connection(connection)
        try:
            await asyncio.wait_for(self._closed, self._timeout)
        except TimeoutError:
            log.warning("the broker connection did not close in time")
