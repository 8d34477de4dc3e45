"""How many messages wait in each queue, and how many consumers it has, by passive declares.

A passive declare answers from the queue's leader at once, where `rabbitmqctl list_queues`
lags by a tick on quorum queues. Used by the bot's gauge (tasks/queuemetrics.py) and by the
images-server's status page.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pika.exceptions

if TYPE_CHECKING:
    import pika


@dataclass(frozen=True)
class Depth:
    queue: str
    messages: int
    consumers: int


def measure(connection: "pika.BlockingConnection", names: list[str]) -> list[Depth]:
    """The depth of each queue of `names` that exists (a missing one is left out)."""
    depths = []
    for name in names:
        # A passive declare of a missing queue closes its channel: one channel per queue.
        channel = connection.channel()
        try:
            declared = channel.queue_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker:
            continue
        channel.close()
        method = declared.method
        depths.append(Depth(name, method.message_count, method.consumer_count))
    return depths
