"""`ouro queue inspect`: each queue's depth and its messages in human form, not consumed.

Browsing uses `basic_get` without ack on one channel, then one `basic_nack(multiple,
requeue)` at the end. RabbitMQ puts requeued messages back ahead of the others in
their order (a classic priority queue keeps each message's priority), so the order is
preserved (tests/tasks/test_bot_broker.py). While the browse holds them (milliseconds
for the default limit), consumers skip these messages, and they come back with
the `redelivered` flag set (and a quorum queue's `x-delivery-count` one higher) —
harmless here, since workers and the bot are idempotent and treat a redelivery like
a delivery.
"""

import json
import shlex
import time
from dataclasses import dataclass

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from ouro import amqp, poison, queues
from ouro.jsonutil import PayloadError
from ouro.validate import InvalidValue
from tasks.job import Job


@dataclass(frozen=True)
class QueueView:
    name: str
    depth: int
    consumers: int
    lines: list[str]


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


def describe(queue: str, body: bytes, props: pika.BasicProperties, now: float) -> str:
    """One message in human form; never raises, whatever the message holds."""
    headers = props.headers or {}
    reason = headers.get(poison.REASON_HEADER)
    # A dead letter's reason, and how many attempts it had (`ouro.poison`).
    why = f"  reason: {poison.clean_reason(str(reason))}" if reason else ""
    source = queue.removesuffix(queues.DEAD_SUFFIX)
    message_id = poison.clean_reason(str(props.message_id))[:60]
    if source == queues.TASKS or source.startswith(f"{queues.TASKS}."):
        try:
            job = Job.from_json(body)
        except (PayloadError, InvalidValue) as error:
            return f"  (invalid job {message_id!r}: {error}){why}"
        pr = f"#{job.pr}" if job.pr else f"{job.base_ref or ''}@{job.sha[:12]}"
        return (
            f"  {job.id}  {job.repo} {pr}  {job.context}  prio {props.priority or 0}"
            f"  age {_age(now - job.created)}{why}\n    $ {shlex.join(job.command)}"
        )
    stamp = props.timestamp
    age = f"  age {_age(now - stamp)}" if isinstance(stamp, int) else ""
    try:
        data = json.loads(body)
        event = data.get("event", "?") if isinstance(data, dict) else "?"
        if source == queues.CANCEL_EXCHANGE and isinstance(data, dict):
            event = f"cancel {data.get('repo', '?')}#{data.get('pr', '?')}"
    except (UnicodeDecodeError, ValueError, RecursionError):
        event = "(not JSON)"
    return f"  {message_id}  {poison.clean_reason(str(event))[:60]}{age}{why}"


def _browse(channel: BlockingChannel, name: str, limit: int) -> tuple[int, int, list[str]]:
    declared = channel.queue_declare(name, passive=True)
    depth, consumers = declared.method.message_count, declared.method.consumer_count
    lines: list[str] = []
    last_tag = None
    now = time.time()
    for _ in range(min(depth, limit)):
        method, props, body = channel.basic_get(name, auto_ack=False)
        if method is None:
            break
        last_tag = method.delivery_tag
        lines.append(describe(name, body, props, now))
    if last_tag is not None:
        channel.basic_nack(last_tag, multiple=True, requeue=True)
    if depth > limit:
        lines.append(f"  … {depth - limit} more")
    return depth, consumers, lines


def inspect(names: list[str], limit: int = 100, url: str | None = None) -> list[QueueView]:
    connection = amqp.connect(url)
    try:
        views = []
        for name in names:
            # A passive declare of a missing queue closes the channel: one channel per queue.
            channel = connection.channel()
            try:
                depth, consumers, lines = _browse(channel, name, limit)
            except pika.exceptions.ChannelClosedByBroker as error:
                views.append(QueueView(name, 0, 0, [f"  (unavailable: {error.reply_text})"]))
                continue
            channel.close()
            views.append(QueueView(name, depth, consumers, lines))
        return views
    finally:
        connection.close()


def default_queues(capabilities: tuple[str | None, ...]) -> list[str]:
    return [
        queues.WEBHOOK,
        *(queues.tasks_queue(c) for c in capabilities),
        *queues.dead_letter_queues(capabilities),
    ]


def render(views: list[QueueView]) -> str:
    out = []
    for view in views:
        out.append(f"{view.name}: {view.depth} message(s), {view.consumers} consumer(s)")
        out.extend(view.lines)
    return "\n".join(out)
