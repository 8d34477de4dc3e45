"""The poison-message policy (ouro/poison.py) through `consumer.consume` on a real broker: dead
letters at once, retries counted in a header with backoff and bounded, exceptions counted
as retries, hand-backs not counted, and what the dead letter carries."""

import itertools
import threading
import time
from collections.abc import Callable

import pytest

from ouro import amqp, consumer, poison, queues
from tests.rabbitmq import drain

Handler = Callable[[amqp.Message], amqp.Result]


def run(
    handler: Handler, until: Callable[[list[amqp.Message]], bool], crash_delay: float = 0.01
) -> list[amqp.Message]:
    """Consume `tasks` with `handler` until `until(messages seen)`; the messages seen."""
    seen: list[amqp.Message] = []
    stop = threading.Event()

    def recording(message: amqp.Message) -> amqp.Result:
        seen.append(message)
        try:
            return handler(message)
        finally:
            if until(seen):
                stop.set()

    thread = threading.Thread(
        target=consumer.consume,
        args=([queues.TASKS], recording),
        kwargs={"stop": stop, "crash_delay": crash_delay},
    )
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), f"still consuming after {len(seen)} message(s)"
    return seen


def publish(body: bytes = b"{}", message_id: str = "m1", priority: int = 7) -> None:
    publisher = amqp.Publisher()
    publisher.publish(
        queues.TASKS, body, message_id=message_id, priority=priority, headers={"x-keep": "kept"}
    )
    publisher.close()


def test_dead_letter_goes_at_once_with_its_reason_and_properties(amqp_url: str) -> None:
    publish(b"\x00poison")
    seen = run(lambda m: amqp.DeadLetter("malformed job: not JSON"), lambda s: len(s) == 1)
    assert [(m.queue, m.attempt, m.priority) for m in seen] == [("tasks", 1, 7)]
    ((props, body),) = drain(amqp_url, queues.TASKS_DEAD)
    assert body == b"\x00poison"
    assert (props.message_id, props.priority, props.delivery_mode) == ("m1", 7, 2)
    assert props.headers == {
        "x-keep": "kept",
        poison.REASON_HEADER: "malformed job: not JSON",
        poison.ATTEMPTS_HEADER: 1,
        poison.SOURCE_HEADER: "tasks",
    }
    assert drain(amqp_url, queues.TASKS) == []


def test_transient_failure_is_retried_with_backoff_five_times_then_dead_lettered(
    amqp_url: str,
) -> None:
    publish()
    times: list[float] = []

    def failing(message: amqp.Message) -> amqp.Result:
        times.append(time.monotonic())
        return amqp.Retry("GitHub did not take the final status", delay=0.1)

    seen = run(failing, lambda s: len(s) == poison.MAX_ATTEMPTS)
    assert [(m.attempt, m.redelivered) for m in seen] == [
        (1, False),
        (2, True),
        (3, True),
        (4, True),
        (5, True),
    ]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # 0.1, 0.2, 0.4, 0.8 s: a failing message does not spin.
    assert [round(g, 1) >= d for g, d in zip(gaps, [0.1, 0.2, 0.4, 0.8], strict=True)] == [True] * 4
    ((props, _),) = drain(amqp_url, queues.TASKS_DEAD)
    assert props.headers[poison.REASON_HEADER] == (
        "GitHub did not take the final status (gave up after 5 attempts)"
    )
    assert props.headers[poison.ATTEMPTS_HEADER] == 5
    assert drain(amqp_url, queues.TASKS) == []


def test_an_exception_is_a_bounded_retry_not_a_loop(amqp_url: str) -> None:
    publish()

    def crashing(message: amqp.Message) -> amqp.Result:
        raise RecursionError("maximum recursion depth exceeded")

    seen = run(crashing, lambda s: len(s) == poison.MAX_ATTEMPTS)
    assert len(seen) == poison.MAX_ATTEMPTS
    time.sleep(0.5)
    ((props, _),) = drain(amqp_url, queues.TASKS_DEAD)
    assert props.headers[poison.REASON_HEADER] == (
        "RecursionError: maximum recursion depth exceeded (gave up after 5 attempts)"
    )
    assert drain(amqp_url, queues.TASKS) == []


def test_a_retry_that_succeeds_is_acked_and_the_others_go_first(amqp_url: str) -> None:
    publish(message_id="m1")
    publish(message_id="m2")

    def once(message: amqp.Message) -> amqp.Result:
        if message.message_id == "m1" and message.attempt == 1:
            return amqp.Retry("store unavailable", delay=0)
        return amqp.Outcome.ACK

    seen = run(once, lambda s: len(s) == 3)
    # The retry goes to the back of the queue: one failing message blocks nobody.
    assert [(m.message_id, m.attempt) for m in seen] == [("m1", 1), ("m2", 1), ("m1", 2)]
    assert drain(amqp_url, queues.TASKS_DEAD) == []
    assert drain(amqp_url, queues.TASKS) == []


def test_a_hand_back_is_not_counted(amqp_url: str) -> None:
    publish()

    def drainy(message: amqp.Message) -> amqp.Result:
        return amqp.Outcome.REQUEUE

    seen = run(drainy, lambda s: len(s) == poison.MAX_ATTEMPTS + 2)
    assert {m.attempt for m in seen} == {1}
    time.sleep(0.3)
    assert drain(amqp_url, queues.TASKS_DEAD) == []
    assert len(drain(amqp_url, queues.TASKS)) == 1


@pytest.mark.parametrize(
    "reason", ["invalid GitHub login 'dave\ud800'", "two\nlines\r\nand more", "x" * 5000]
)
def test_any_reason_can_be_written(amqp_url: str, reason: str) -> None:
    publish()
    run(lambda m: amqp.DeadLetter(reason), lambda s: len(s) == 1)
    ((props, _),) = drain(amqp_url, queues.TASKS_DEAD)
    written = props.headers[poison.REASON_HEADER]
    assert "\n" not in written
    assert len(written) <= poison.REASON_LENGTH
    assert written == poison.clean_reason(reason)


def test_a_stop_cuts_the_backoff_short_and_still_counts_the_attempt(amqp_url: str) -> None:
    publish()
    stop = threading.Event()

    def failing(message: amqp.Message) -> amqp.Result:
        threading.Timer(0.3, stop.set).start()
        return amqp.Retry("GitHub unavailable", delay=600)

    started = time.monotonic()
    thread = threading.Thread(
        target=consumer.consume, args=([queues.TASKS], failing), kwargs={"stop": stop}
    )
    thread.start()
    thread.join(timeout=30)
    assert time.monotonic() - started < 10
    ((props, _),) = drain(amqp_url, queues.TASKS)
    assert props.headers[poison.ATTEMPTS_HEADER] == 1


def test_attempt_header_from_elsewhere_cannot_break_the_count() -> None:
    assert poison.attempt_of({}) == 1
    assert poison.attempt_of({poison.ATTEMPTS_HEADER: 2}) == 3
    for odd in ("4", True, -3, 10**9, None, 2.5):
        assert 1 <= poison.attempt_of({poison.ATTEMPTS_HEADER: odd}) <= poison.MAX_ATTEMPTS
