"""`ouro queue replay webhook.dead`: hand dead-lettered events back to the bot once their
cause is fixed (the bot, the test map, or what GitHub answered).

Each message is taken from the dead queue without ack, published to `webhook` with its
body and properties (message id, timestamp…) but without the reason header, and acked
from the dead queue only once the broker confirmed that publish. A failure before the
confirm leaves the message in the dead queue (closing the channel gives it back), so
nothing is lost; a connection lost between the confirm and the ack leaves it in both
queues, which is at-least-once delivery as everywhere else. The bot does not remember
dead-lettered deliveries as processed, so it processes a replayed one.
"""

import contextlib
import time
from collections.abc import Iterator

import pika.exceptions

from ouro import amqp, queues
from tasks.bot import REASON_HEADER
from tasks.queue_inspect import describe

# Dead-letter queue → the queue its messages came from.
REPLAYS = {queues.WEBHOOK_DEAD: queues.WEBHOOK}


class ReplayError(Exception):
    """The queue cannot be replayed."""


def replay(source: str, limit: int | None = None, url: str | None = None) -> Iterator[str]:
    """Move up to `limit` messages (default: all) of `source` back to their queue, oldest
    first; yields one line per message once it has moved.

    Only the messages there at the start are replayed: one that the bot dead-letters again
    meanwhile is not taken a second time, so a replay always ends.
    """
    target = REPLAYS.get(source)
    if target is None:
        raise ReplayError(f"cannot replay {source!r}: only {', '.join(REPLAYS)} can be replayed")
    connection = amqp.connect(url)
    try:
        channel = connection.channel()
        queues.declare(channel)
        channel.confirm_delivery()
        depth = channel.queue_declare(source, passive=True).method.message_count
        for _ in range(depth if limit is None else min(depth, limit)):
            method, props, body = channel.basic_get(source, auto_ack=False)
            if method is None:
                return
            line = describe(source, body, props, time.time())
            headers = {k: v for k, v in (props.headers or {}).items() if k != REASON_HEADER}
            props.headers = headers or None
            amqp.publish_confirmed(channel, target, body, props)
            channel.basic_ack(method.delivery_tag)
            yield f"replayed{line}"
    except pika.exceptions.AMQPError as error:
        raise amqp.BrokerUnavailable(f"replay of {source} interrupted: {error!r}") from None
    finally:
        if connection.is_open:
            # A broken connection has nothing left to release.
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()
