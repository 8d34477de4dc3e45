"""The bot's metrics (docs/tasks-bot.md, "Metrics"): what became of each event, how long it
took, and the jobs it queued."""

from prometheus_client import Counter, Histogram

from ouro import amqp

EVENTS = Counter(
    "ouro_bot_events_total",
    "Webhook events handled, by event type and outcome (processed, duplicate, dead_letter, "
    "retry, requeued)",
    ["event", "outcome"],
)
SECONDS = Histogram(
    "ouro_bot_event_seconds",
    "Time to handle one event, GitHub calls and publishing included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
JOBS = Counter("ouro_bot_jobs_queued_total", "Jobs published, by queue", ["queue"])
FIRST_STATUS = Histogram(
    "ouro_bot_event_to_status_seconds",
    "From the receiver queueing an event (whole seconds: the message's AMQP timestamp) to the "
    "bot's first status for it",
    buckets=(0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600),
)
# Event types are the sender's text: others are counted together, so that nobody can make
# the bot grow series by sending made-up events.
KNOWN_EVENTS = frozenset(
    {"pull_request", "issue_comment", "issues", "push", "ping", "status", "check_run"}
)


def outcome(result: amqp.Result, duplicate: bool) -> str:
    if duplicate:
        return "duplicate"
    if isinstance(result, amqp.DeadLetter):
        return "dead_letter"
    if isinstance(result, amqp.Retry):
        return "retry"
    return "requeued" if result is amqp.Outcome.REQUEUE else "processed"


def event_label(event: str) -> str:
    return event if event in KNOWN_EVENTS else "other"


def observe(event: str, result: amqp.Result, seconds: float, *, duplicate: bool = False) -> None:
    EVENTS.labels(event_label(event), outcome(result, duplicate)).inc()
    SECONDS.observe(seconds)
