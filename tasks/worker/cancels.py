"""The worker's cancel queue: an exclusive, auto-delete queue bound to the `cancel` fanout.

It is consumed on a channel of its own, auto-acked: the jobs channel's prefetch of 1 is
taken by the running job, and a cancel must get through precisely then. Its callback runs
on the connection's thread, where an exception would end the consumer and with it the
worker (a deeply nested cancel message once stopped every worker at once), so nothing
escapes it: a cancel that cannot be used goes to `cancel.dead` with the reason, as the
poison-message policy (`ouro.poison`) has it. Every worker bound to the fanout keeps its
own copy there.
"""

import logging
from collections.abc import Callable

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from ouro import amqp, consumer, poison, queues
from ouro.jsonutil import PayloadError
from ouro.validate import InvalidValue
from tasks.cancel import Cancel

log = logging.getLogger(__name__)


class CancelQueue:
    def __init__(
        self,
        on_cancel: Callable[[Cancel], None],
        url: str | None,
        capabilities: tuple[str | None, ...],
    ):
        self._on_cancel = on_cancel
        self._dead = poison.Rerouter(lambda: amqp.Publisher(url, capabilities))

    def on_connected(self, connection: pika.BlockingConnection, _: BlockingChannel) -> None:
        """`consumer.consume`'s hook: bind and consume, on every (re)connection."""
        channel = connection.channel()
        declared = channel.queue_declare("", exclusive=True, auto_delete=True)
        name = declared.method.queue
        channel.queue_bind(name, queues.CANCEL_EXCHANGE)
        channel.basic_consume(name, self._on_message, auto_ack=True)

    def _on_message(
        self,
        _channel: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        props: pika.BasicProperties,
        body: bytes,
    ) -> None:
        try:
            self._on_cancel(Cancel.from_json(body))
        except (PayloadError, InvalidValue) as error:
            self._dead_letter(method, props, body, f"malformed cancel message: {error}")
        except Exception as error:
            log.exception("cancel message %s failed", props.message_id)
            self._dead_letter(method, props, body, f"{type(error).__name__}: {error}")

    def _dead_letter(
        self, method: pika.spec.Basic.Deliver, props: pika.BasicProperties, body: bytes, why: str
    ) -> None:
        message = consumer.delivered(queues.CANCEL_EXCHANGE, method, props, body)
        try:
            self._dead.dead_letter(message, why)
        except (amqp.BrokerUnavailable, pika.exceptions.AMQPError) as error:
            # Auto-acked already: logging it is all that is left to do.
            log.error("cancel message %s lost (%s): %r", props.message_id, why, error)

    def close(self) -> None:
        self._dead.close()
