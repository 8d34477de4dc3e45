"""`ouro queue replay <queue>.dead`: hand dead letters back once their cause is fixed —
events to the bot (`webhook.dead`: the bot, the test map, or what GitHub answered), jobs
to the workers (`tasks.dead`, `tasks.<capability>.dead`: a secret configured, the store's
token renewed, GitHub back), cancels to the `cancel` exchange (`cancel.dead`).

Each message is taken from the dead queue without ack, published to where it came from
with its body and properties (message id, priority, timestamp…) but without the policy's
headers (`ouro.poison`: the reason, and the attempts, so a replayed message gets all its
attempts again), and acked from the dead queue only once the broker confirmed that
publish. A failure before the confirm leaves the message in the dead queue (closing the
connection it was read on gives it back), so nothing is lost; a connection lost between
the confirm and the ack leaves it in both queues, which is at-least-once delivery as
everywhere else. The bot does not remember dead-lettered deliveries as processed, so it
processes a replayed one; a worker runs a replayed job again.
"""

import contextlib
import time
from collections.abc import Iterator

import pika.exceptions

from ouro import amqp, poison, queues
from tasks.queue_inspect import describe


class ReplayError(Exception):
    """The queue cannot be replayed."""


def replay(source: str, limit: int | None = None, url: str | None = None) -> Iterator[str]:
    """Move up to `limit` messages (default: all) of `source` back to their queue, oldest
    first; yields one line per message once it has moved.

    Only the messages there at the start are replayed: one that the bot dead-letters again
    meanwhile is not taken a second time, so a replay always ends.
    """
    try:
        exchange, target = queues.replay_target(source)
    except ValueError:
        raise ReplayError(
            f"cannot replay {source!r:.80}: only dead-letter queues can be replayed "
            "(webhook.dead, tasks.dead, tasks.<capability>.dead, cancel.dead)"
        ) from None
    # The target's queue too, so that a replay to a queue nobody declared yet is routed.
    capability = target.removeprefix(f"{queues.TASKS}.")
    capabilities = (None,) if capability == target else (None, capability)
    publisher = amqp.Publisher(url, capabilities)
    connection = amqp.connect(url)
    try:
        channel = connection.channel()
        queues.declare(channel, capabilities)
        depth = channel.queue_declare(source, passive=True).method.message_count
        for _ in range(depth if limit is None else min(depth, limit)):
            method, props, body = channel.basic_get(source, auto_ack=False)
            if method is None:
                return
            line = describe(source, body, props, time.time())
            # Every publisher's messages carry these properties (`amqp.message_properties`).
            publisher.publish(
                target,
                body,
                message_id=props.message_id or "",
                exchange=exchange,
                priority=props.priority or 0,
                headers=poison.carried(props.headers or {}) or None,
                timestamp=props.timestamp,
            )
            channel.basic_ack(method.delivery_tag)
            yield f"replayed{line}"
    except pika.exceptions.AMQPError as error:
        raise amqp.BrokerUnavailable(f"replay of {source} interrupted: {error!r}") from None
    finally:
        publisher.close()
        if connection.is_open:
            # A broken connection has nothing left to release.
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()
