"""The poison-message policy, one for every consumer (`ouro.consumer.consume` and the worker's
cancel queue).

A handler ends each message in one of four ways:

- `Outcome.ACK`: done.
- `Outcome.REQUEUE`: handed back through no fault of the message (a draining worker, a
  rate limit waited out): not counted as an attempt.
- `DeadLetter(reason)`: it can never succeed as it is (malformed, invalid, refused): it
  is published at once to its queue's dead-letter queue (`<queue>.dead`, `ouro.queues`)
  with the reason in `x-ouro-reason`, and acked.
- `Retry(reason)`: it failed for a reason that may pass (GitHub, the store or the broker
  unavailable): after a backoff it is published again to its queue, the failed attempts
  counted in `x-ouro-attempts`; the `MAX_ATTEMPTS`th failure dead-letters it instead.
- `Decline(pause)`: not for this consumer (outside a canary worker's share): requeued at
  once, uncounted, and this consumer takes nothing for `pause` seconds, or the broker would
  offer it the same message straight back.
- `HandOver(headers)`: not for this consumer nor any like it (a job a canary worker failed):
  published again to its queue at once with `headers` added, uncounted, and acked.

A handler that raises counts as `Retry`: a bug may be transient (an unexpected network
error) or not, and either way the message must neither be lost nor loop for ever.
Publishing again (rather than nacking) is what lets the count travel with the message;
the copy goes to the back of its queue, so one failing message does not block the others.
Every step publishes with confirms before the original is acked: at worst a message is
both dead-lettered (or republished) and redelivered, never lost.
"""

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ouro import queues

log = logging.getLogger(__name__)

REASON_HEADER = "x-ouro-reason"
# Failed attempts before this delivery.
ATTEMPTS_HEADER = "x-ouro-attempts"
# The queue (or exchange) a dead letter came from.
SOURCE_HEADER = "x-ouro-source"
OUR_HEADERS = (REASON_HEADER, ATTEMPTS_HEADER, SOURCE_HEADER)
# Set by the broker on each delivery (quorum queues count them); never carried over.
BROKER_HEADERS = ("x-delivery-count",)
MAX_ATTEMPTS = 5
# Backoff before attempt n+1: `base * 2**(n-1)` (5, 10, 20, 40 s by default), at most this.
MAX_BACKOFF = 600.0
REASON_LENGTH = 500


class Outcome(Enum):
    ACK = "ack"
    # Put the message back for another consumer (e.g. a draining worker hands its job back).
    REQUEUE = "requeue"


@dataclass(frozen=True)
class DeadLetter:
    """Not transient: to the dead-letter queue at once, with `reason`."""

    reason: str


@dataclass(frozen=True)
class Retry:
    """Transient: again after a backoff whose base is `delay` (None: the consumer's),
    at most `MAX_ATTEMPTS` attempts in all, then dead-lettered."""

    reason: str
    delay: float | None = None


@dataclass(frozen=True)
class Decline:
    """Back to its queue at once for another consumer; this one pauses `pause` seconds."""

    pause: float


@dataclass(frozen=True)
class HandOver:
    """Published again to its queue at once, marked with `headers`, for another consumer."""

    headers: Mapping[str, object]


Result = Outcome | DeadLetter | Retry | Decline | HandOver


@dataclass(frozen=True)
class Message:
    body: bytes
    message_id: str | None
    # Handled before: redelivered by the broker, or a retry of ours.
    redelivered: bool
    headers: dict[str, object]
    timestamp: int | None
    # The queue it was consumed from (for the cancel fanout: the exchange).
    queue: str = ""
    priority: int = 0
    # 1 for the first attempt; `MAX_ATTEMPTS` is the last one before the dead-letter queue.
    attempt: int = 1

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= MAX_ATTEMPTS


def carried(headers: Mapping[str, object]) -> dict[str, object]:
    """The headers a message keeps when published again: the publisher's own, without the
    policy's or the broker's."""
    return {k: v for k, v in headers.items() if k not in OUR_HEADERS + BROKER_HEADERS}


def attempt_of(headers: dict[str, object]) -> int:
    """This delivery's attempt number, from the count of failed ones in the headers."""
    failed = headers.get(ATTEMPTS_HEADER)
    if not isinstance(failed, int) or isinstance(failed, bool):
        return 1
    return min(max(failed, 0), MAX_ATTEMPTS - 1) + 1


def backoff(attempt: int, base: float) -> float:
    """Seconds to wait after attempt `attempt` (1-based) failed."""
    return float(min(base * 2 ** (attempt - 1), MAX_BACKOFF))


def clean_reason(reason: str) -> str:
    """One line of at most `REASON_LENGTH` characters that any header or log can hold (a
    reason may quote hostile text: a lone surrogate would make the publish itself fail)."""
    one_line = " ".join(reason.split())[:REASON_LENGTH]
    return one_line.encode("utf-8", "backslashreplace").decode("utf-8")


class Publisher(Protocol):
    def publish(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        exchange: str = "",
        priority: int = 0,
        headers: dict[str, object] | None = None,
        timestamp: int | None = None,
    ) -> None: ...

    def close(self) -> None: ...


class Rerouter:
    """Carries out `DeadLetter` and `Retry` with a publisher of its own (made when first
    needed; one thread at a time, as pika requires)."""

    def __init__(self, make_publisher: Callable[[], Publisher], *, retry_delay: float = 5.0):
        self._make_publisher = make_publisher
        self._publisher: Publisher | None = None
        self._retry_delay = retry_delay
        self._lock = threading.Lock()

    def settle(self, message: Message, result: Result, stop: threading.Event) -> Outcome:
        """What the original delivery becomes once `result` is carried out. Raises
        `ouro.amqp.BrokerUnavailable` if the dead letter or the retry could not be
        published: the caller then requeues the original, which loses nothing."""
        if isinstance(result, Outcome):
            return result
        if isinstance(result, Decline):
            return Outcome.REQUEUE
        if isinstance(result, HandOver):
            self._publish(
                message, message.queue, "", {**result.headers, ATTEMPTS_HEADER: message.attempt - 1}
            )
            log.info("message %s handed over on %s", message.message_id, message.queue)
            return Outcome.ACK
        if isinstance(result, DeadLetter):
            self.dead_letter(message, result.reason)
            return Outcome.ACK
        if message.last_attempt:
            self.dead_letter(message, f"{result.reason} (gave up after {message.attempt} attempts)")
            return Outcome.ACK
        delay = backoff(
            message.attempt, self._retry_delay if result.delay is None else result.delay
        )
        log.warning(
            "message %s on %s: attempt %d of %d failed (%s); again in %g s",
            message.message_id,
            message.queue,
            message.attempt,
            MAX_ATTEMPTS,
            clean_reason(result.reason),
            delay,
        )
        # On the handler's thread, not the connection's: heartbeats go on meanwhile. A stop
        # cuts the pause short; the attempt is counted all the same.
        stop.wait(delay)
        self._publish(message, message.queue, "", {ATTEMPTS_HEADER: message.attempt})
        return Outcome.ACK

    def dead_letter(self, message: Message, reason: str) -> None:
        reason = clean_reason(reason)
        dead = queues.dead_letter_queue(message.queue)
        self._publish(
            message,
            dead,
            "",
            {REASON_HEADER: reason, ATTEMPTS_HEADER: message.attempt, SOURCE_HEADER: message.queue},
        )
        log.warning("message %s dead-lettered to %s: %s", message.message_id, dead, reason)

    def _publish(
        self, message: Message, routing_key: str, exchange: str, ours: dict[str, object]
    ) -> None:
        kept = carried(message.headers)
        with self._lock:
            if self._publisher is None:
                self._publisher = self._make_publisher()
            self._publisher.publish(
                routing_key,
                message.body,
                exchange=exchange,
                message_id=message.message_id or "unknown",
                priority=message.priority,
                headers={**kept, **ours},
                timestamp=message.timestamp,
            )

    def close(self) -> None:
        with self._lock:
            publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.close()
