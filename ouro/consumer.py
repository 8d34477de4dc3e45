"""Consuming: a queue's messages handed one at a time to a handler, and settled as its
result says.

`consume` runs the messages' work on a thread of their own while the connection's thread
keeps heartbeats going, acking through `add_callback_threadsafe` only after the work is
done. What becomes of a message that fails is `ouro.poison`'s policy, the same for every
consumer.
"""

import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Callable

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from ouro import queues
from ouro.amqp import BrokerUnavailable, Handler, Publisher, broker_addresses
from ouro.poison import Decline, Message, Outcome, Rerouter, Retry, attempt_of

log = logging.getLogger(__name__)

# After a failed dead-letter or retry publish, before the message is requeued: the broker is
# in trouble, and a requeued message would come straight back.
REROUTE_PAUSE = 2.0


def consume(
    queue_names: list[str],
    handler: Handler,
    *,
    url: str | None = None,
    capabilities: tuple[str | None, ...] = (None,),
    stop: threading.Event | None = None,
    reconnect_delay: float = 2.0,
    crash_delay: float = 5.0,
    on_connected: Callable[[pika.BlockingConnection, BlockingChannel], None] | None = None,
) -> None:
    """Consume `queue_names` one message at a time until `stop` is set.

    The handler runs on a thread of its own; the message is acked, requeued, retried or
    dead-lettered (`ouro.poison`) only after it returns. A handler that raises counts as
    a `Retry` with backoff from `crash_delay` seconds: a bug must not lose work, nor spin
    on the same message, nor come back for ever. The connection is re-established after a
    broker restart. `on_connected` may add further consumers (such as the worker's cancel
    queue).
    """
    stop = stop or threading.Event()
    rerouter = Rerouter(lambda: Publisher(url, capabilities), retry_delay=crash_delay)
    try:
        _consume(
            queue_names,
            handler,
            url=url,
            capabilities=capabilities,
            stop=stop,
            reconnect_delay=reconnect_delay,
            on_connected=on_connected,
            rerouter=rerouter,
        )
    finally:
        rerouter.close()


def _consume(
    queue_names: list[str],
    handler: Handler,
    *,
    url: str | None,
    capabilities: tuple[str | None, ...],
    stop: threading.Event,
    reconnect_delay: float,
    on_connected: Callable[[pika.BlockingConnection, BlockingChannel], None] | None,
    rerouter: Rerouter,
) -> None:
    while not stop.is_set():
        try:
            connection = pika.BlockingConnection(broker_addresses(url))
        except pika.exceptions.AMQPError as error:
            log.warning("broker unreachable (%r); retrying in %.0fs", error, reconnect_delay)
            stop.wait(reconnect_delay)
            continue
        try:
            _consume_on(
                connection,
                queue_names,
                handler=handler,
                capabilities=capabilities,
                stop=stop,
                on_connected=on_connected,
                rerouter=rerouter,
            )
        except pika.exceptions.AMQPError as error:
            log.warning("broker connection lost (%r); reconnecting", error)
            stop.wait(reconnect_delay)
        finally:
            if connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError):
                    connection.close()


def _consume_on(
    connection: pika.BlockingConnection,
    queue_names: list[str],
    *,
    handler: Handler,
    capabilities: tuple[str | None, ...],
    stop: threading.Event,
    on_connected: Callable[[pika.BlockingConnection, BlockingChannel], None] | None,
    rerouter: Rerouter,
) -> None:
    channel = connection.channel()
    queues.declare(channel, capabilities)
    # One unacked message per consumer. Quorum queues have no channel-wide (global) limit, so
    # a consumer of several queues cancels its consumers while it holds a message.
    channel.basic_qos(prefetch_count=1)
    if on_connected:
        on_connected(connection, channel)
    busy = threading.Event()
    consumers: list[str] = []

    def listen() -> None:
        if not channel.is_open or consumers or stop.is_set():
            return
        for name in queue_names:
            consumers.append(channel.basic_consume(name, functools.partial(on_message, queue=name)))

    def pause() -> None:
        # pika nacks (requeues) what arrived for a cancelled consumer and was not dispatched.
        while consumers:
            channel.basic_cancel(consumers.pop())

    def settle(tag: int, outcome: Outcome, pause_for: float) -> None:
        if pause_for > 0:
            # Cancelled before the nack, so that the message goes to another consumer.
            pause()
        if channel.is_open:
            if outcome is Outcome.ACK:
                channel.basic_ack(tag)
            else:
                channel.basic_nack(tag, requeue=True)
        busy.clear()
        if not consumers:
            # Paused for this message (several queues, or a decline): listen again, a declined
            # message's consumer after its pause, any other at once.
            connection.call_later(pause_for, listen)

    def work(tag: int, message: Message) -> None:
        outcome, pause_for = _handled(message, handler, rerouter, stop)
        connection.add_callback_threadsafe(functools.partial(settle, tag, outcome, pause_for))

    def on_message(
        ch: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        props: pika.BasicProperties,
        body: bytes,
        *,
        queue: str,
    ) -> None:
        if busy.is_set():
            # Sent by another queue before its consumer was cancelled: back for another worker.
            ch.basic_nack(method.delivery_tag, requeue=True)
            return
        busy.set()
        if len(queue_names) > 1:
            pause()
        handed.put((method.delivery_tag, delivered(queue, method, props, body)))

    handed = _handler_thread(work)
    try:
        listen()
        while not stop.is_set() or busy.is_set():
            if stop.is_set():
                # Take no new message while the current one finishes.
                pause()
            connection.process_data_events(time_limit=0.2)
    finally:
        handed.put(None)


def _handled(
    message: Message, handler: Handler, rerouter: Rerouter, stop: threading.Event
) -> tuple[Outcome, float]:
    """Run `handler` on `message`, then reroute it as its result says: how to settle it, and
    how long its consumer pauses (a `Decline`'s) before it listens again."""
    try:
        result = handler(message)
    except Exception as error:
        log.exception("handler failed on message %s", message.message_id)
        result = Retry(f"{type(error).__name__}: {error}")
    try:
        outcome = rerouter.settle(message, result, stop)
    except (BrokerUnavailable, pika.exceptions.AMQPError) as error:
        # Back where it was, uncounted: the broker is the trouble, not the message.
        log.error("message %s: cannot reroute it (%r); requeueing", message.message_id, error)
        stop.wait(REROUTE_PAUSE)
        outcome = Outcome.REQUEUE
    return outcome, result.pause if isinstance(result, Decline) else 0.0


def _handler_thread(
    work: Callable[[int, Message], None],
) -> "queue.SimpleQueue[tuple[int, Message] | None]":
    """A thread that does `work` for each (delivery tag, message) put in the queue returned,
    until None. One per connection, not one per message: starting a thread cost CPU on every
    message. When the connection is lost, it finishes the message in hand (unacked, so the
    broker delivers it again) and ends."""
    handed: queue.SimpleQueue[tuple[int, Message] | None] = queue.SimpleQueue()

    def handle_all() -> None:
        while (item := handed.get()) is not None:
            work(*item)

    threading.Thread(target=handle_all, name="handler", daemon=True).start()
    return handed


def delivered(
    queue: str, method: pika.spec.Basic.Deliver, props: pika.BasicProperties, body: bytes
) -> Message:
    """A delivery from `queue` as the handler sees it; a retry counts as redelivered, so
    that the worker checks what an earlier attempt left (statuses, the log)."""
    headers = dict(props.headers or {})
    attempt = attempt_of(headers)
    return Message(
        body=body,
        message_id=props.message_id,
        redelivered=bool(method.redelivered) or attempt > 1,
        headers=headers,
        timestamp=props.timestamp,
        queue=queue,
        priority=props.priority or 0,
        attempt=attempt,
    )
