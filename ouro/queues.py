"""Every queue and exchange, declared in one place with its arguments.

Declaring is idempotent in AMQP as long as the arguments match, so each
component calls `declare` at start; a mismatch is a broker error that names
the queue, which is what an operator needs to see.
"""

from typing import TYPE_CHECKING

from ouro import validate

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel

WEBHOOK = "webhook"
# Messages the bot could not process, with the reason in the `x-ouro-reason` header.
WEBHOOK_DEAD = "webhook.dead"
TASKS = "tasks"
# Fanout: every worker binds a private queue and stops jobs that match a cancel message.
CANCEL_EXCHANGE = "cancel"
MAX_PRIORITY = 9

_DURABLE_QUEUES: dict[str, dict[str, object]] = {
    WEBHOOK: {},
    WEBHOOK_DEAD: {},
}


def tasks_queue(capability: str | None) -> str:
    """The queue for jobs that need `capability` (None: any worker can run them)."""
    if capability is None:
        return TASKS
    return f"{TASKS}.{validate.capability(capability)}"


def declare(channel: "BlockingChannel", capabilities: tuple[str | None, ...] = (None,)) -> None:
    """Declare the webhook queues, the cancel exchange, and the tasks queue per capability."""
    for name, arguments in _DURABLE_QUEUES.items():
        channel.queue_declare(name, durable=True, arguments=arguments)
    channel.exchange_declare(CANCEL_EXCHANGE, exchange_type="fanout", durable=True)
    for capability in capabilities:
        channel.queue_declare(
            tasks_queue(capability),
            durable=True,
            arguments={"x-max-priority": MAX_PRIORITY},
        )
