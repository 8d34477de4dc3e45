"""Every queue and exchange, declared in one place with its arguments.

Declaring is idempotent in AMQP as long as the arguments match, so each
component calls `declare` at start; a mismatch is a broker error that names
the queue, which is what an operator needs to see.
"""

import re
from typing import TYPE_CHECKING

from ouro import validate
from ouro.config import ConfigError, setting

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel

WEBHOOK = "webhook"
TASKS = "tasks"
# Fanout: every worker binds a private queue and stops jobs that match a cancel message.
CANCEL_EXCHANGE = "cancel"
# Fanout: when asked, the receiver mirrors every accepted delivery here, and a shadow bot of a
# new release consumes a queue bound to it (docs/tasks-bot.md, "Shadow mode").
SHADOW_EXCHANGE = "webhook.shadow"
# A stopped shadow bot must not fill the broker's disk: its queue keeps the newest this many
# deliveries, dropping the oldest.
SHADOW_MAX_LENGTH = 50_000
MAX_PRIORITY = 9
# Every source of messages has a dead-letter queue `<source>.dead`: messages that could not
# be processed, with the reason in the `x-ouro-reason` header (ouro/poison.py), kept until
# `ouro queue replay` hands them back. Capabilities cannot contain a dot, so no
# `tasks.<capability>` queue can be mistaken for a dead-letter queue.
DEAD_SUFFIX = ".dead"


def dead_letter_queue(source: str) -> str:
    """The dead-letter queue of queue (or fanout exchange) `source`."""
    return source + DEAD_SUFFIX


def is_dead_letter_queue(name: str) -> bool:
    return name.endswith(DEAD_SUFFIX)


_SHADOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

WEBHOOK_DEAD = dead_letter_queue(WEBHOOK)
TASKS_DEAD = dead_letter_queue(TASKS)
CANCEL_DEAD = dead_letter_queue(CANCEL_EXCHANGE)

# Quorum queues are replicated on every node of a cluster and survive losing a minority of
# them; on one node they cost a little throughput. Classic queues live on one node only, but
# give the tasks queues ten priority levels on RabbitMQ 3.x, where a quorum queue has none
# (RabbitMQ 4 gives quorum queues two: 0-4 normal, 5-9 high). A queue's type cannot change
# once declared, so `AMQP_QUEUE_TYPE` is chosen per deployment (docs/tasks-bot.md).
QUEUE_TYPES = ("quorum", "classic")
# NACK_STUCK: on RabbitMQ 3.10, a channel whose first publish to a quorum queue came while
# the queue had no leader (a node just lost) nacks every later publish, even once a new
# leader is elected; a new channel publishes fine. So every publisher drops its channel
# after a nack (tests/base/test_cluster.py shows it).


def replay_target(dead: str) -> tuple[str, str]:
    """(exchange, routing key) that the messages of dead-letter queue `dead` came through."""
    if not is_dead_letter_queue(dead):
        raise ValueError(f"{dead!r:.80} is not a dead-letter queue")
    source = dead.removesuffix(DEAD_SUFFIX)
    if source == CANCEL_EXCHANGE:
        return CANCEL_EXCHANGE, ""
    if source in (WEBHOOK, TASKS):
        return "", source
    capability = source.removeprefix(f"{TASKS}.")
    if capability != source:
        # Raises InvalidValue (a ValueError) for what no capability can be.
        return "", tasks_queue(capability)
    raise ValueError(f"{dead!r:.80} is not a dead-letter queue of ours")


def shadow_name(name: str, what: str) -> str:
    """`name` if it can name a shadow exchange or queue: not one of production's."""
    taken = name in (WEBHOOK, TASKS, CANCEL_EXCHANGE) or name.startswith(f"{TASKS}.")
    if taken or is_dead_letter_queue(name) or not _SHADOW_NAME.fullmatch(name):
        raise ConfigError(f"{what} {name!r:.80} is not a name for a shadow of its own")
    return name


def tasks_queue(capability: str | None) -> str:
    """The queue for jobs that need `capability` (None: any worker can run them)."""
    if capability is None:
        return TASKS
    return f"{TASKS}.{validate.capability(capability)}"


def dead_letter_queues(capabilities: tuple[str | None, ...] = (None,)) -> list[str]:
    """Every dead-letter queue, for these capabilities' tasks queues."""
    return [
        WEBHOOK_DEAD,
        *(dead_letter_queue(tasks_queue(c)) for c in capabilities),
        CANCEL_DEAD,
    ]


def queue_type() -> str:
    """`AMQP_QUEUE_TYPE`: the type of every durable queue, `quorum` unless set."""
    chosen = setting("AMQP_QUEUE_TYPE")
    if chosen not in QUEUE_TYPES:
        raise ConfigError(f"AMQP_QUEUE_TYPE must be one of {', '.join(QUEUE_TYPES)}")
    return chosen


def declare(channel: "BlockingChannel", capabilities: tuple[str | None, ...] = (None,)) -> None:
    """Declare the webhook queues, the cancel exchange, the tasks queue per capability, and
    every dead-letter queue, all durable and of `queue_type()`."""
    kind = queue_type()
    plain: dict[str, object] = {"x-queue-type": kind}
    tasks = {**plain, "x-max-priority": MAX_PRIORITY} if kind == "classic" else plain
    for name in (WEBHOOK, WEBHOOK_DEAD, CANCEL_DEAD):
        channel.queue_declare(name, durable=True, arguments=plain)
    channel.exchange_declare(CANCEL_EXCHANGE, exchange_type="fanout", durable=True)
    for capability in capabilities:
        channel.queue_declare(tasks_queue(capability), durable=True, arguments=tasks)
        # Without priorities: nothing consumes it, `ouro queue replay` takes it in order.
        channel.queue_declare(
            dead_letter_queue(tasks_queue(capability)), durable=True, arguments=plain
        )


def declare_shadow(channel: "BlockingChannel", exchange: str, queue: str | None = None) -> None:
    """The shadow fanout exchange; with `queue`, a shadow bot's queue bound to it (durable, of
    `queue_type()`, at most `SHADOW_MAX_LENGTH` deliveries) and its dead-letter queue."""
    channel.exchange_declare(exchange, exchange_type="fanout", durable=True)
    if queue is None:
        return
    plain: dict[str, object] = {"x-queue-type": queue_type()}
    bounded = {**plain, "x-max-length": SHADOW_MAX_LENGTH}
    channel.queue_declare(queue, durable=True, arguments=bounded)
    channel.queue_declare(dead_letter_queue(queue), durable=True, arguments=plain)
    channel.queue_bind(queue, exchange)
