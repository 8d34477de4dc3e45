"""The depth of every queue, as gauges of the bot's `/metrics` (docs/tasks-bot.md, "Metrics").

The bot measures them because it is the one component that knows every queue (the test
map names each capability's) and runs once: receivers and workers are many and each knows
only its own queues. A thread passive-declares each queue every `INTERVAL` seconds on a
connection of its own (a pika connection serves one thread), which costs the broker one
round trip per queue.
"""

import logging
import threading

import pika
from prometheus_client import Gauge

from ouro import amqp, queuedepth
from tasks import queue_inspect

log = logging.getLogger(__name__)

INTERVAL = 15.0
MESSAGES = Gauge(
    "ouro_queue_messages", "Messages in the queue (ready and unacknowledged)", ["queue"]
)
CONSUMERS = Gauge("ouro_queue_consumers", "Consumers of the queue", ["queue"])


def update(connection: pika.BlockingConnection, watched: list[str]) -> None:
    for depth in queuedepth.measure(connection, watched):
        MESSAGES.labels(depth.queue).set(depth.messages)
        CONSUMERS.labels(depth.queue).set(depth.consumers)


def watch(
    capabilities: tuple[str | None, ...], stop: threading.Event, interval: float = INTERVAL
) -> None:
    """Update the gauges until `stop` is set; a broker outage waits for the next round."""
    # The webhook queue, each tasks queue, and every dead-letter queue.
    watched = queue_inspect.default_queues(capabilities)
    connection = None
    while not stop.is_set():
        try:
            if connection is None or connection.is_closed:
                connection = amqp.connect()
            update(connection, watched)
        except Exception as error:
            log.warning("queue depths not measured (%s); next try in %g s", error, interval)
            connection = None
        stop.wait(interval)
    if connection is not None and connection.is_open:
        connection.close()
