"""`Decline` and `HandOver` (ouro/poison.py) against a real broker: how a canary worker leaves
jobs to the stable workers without spinning on the broker, and hands a job over marked."""

import threading
import time

from ouro import amqp, consumer, queues
from tests.rabbitmq import drain

PAUSE = 0.5


def _consumer(handler: amqp.Handler, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(
        target=consumer.consume, args=([queues.TASKS], handler), kwargs={"stop": stop}
    )
    thread.start()
    return thread


def test_a_declined_message_goes_to_another_consumer_without_spinning(amqp_url: str) -> None:
    publisher = amqp.Publisher()
    count = 8
    for i in range(count):
        publisher.publish(queues.TASKS, b"{}", message_id=f"m{i}")
    publisher.close()
    declined: list[str | None] = []
    taken: list[str] = []
    stop = threading.Event()

    def decline(message: amqp.Message) -> amqp.Result:
        declined.append(message.message_id)
        return amqp.Decline(PAUSE)

    def take(message: amqp.Message) -> amqp.Result:
        # A busy stable worker: while it works, the decliner is the only free consumer.
        time.sleep(0.3)
        taken.append(message.message_id or "")
        if len(taken) == count:
            stop.set()
        return amqp.Outcome.ACK

    start = time.monotonic()
    threads = [_consumer(decline, stop), _consumer(take, stop)]
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - start
    assert not any(t.is_alive() for t in threads)
    print(f"\n{count} messages in {elapsed:.1f}s; declined {len(declined)} times; order {taken}")
    assert sorted(taken) == sorted(f"m{i}" for i in range(count))
    # At most one delivery per pause: without the pause, the decliner would be offered the
    # head of the queue again within milliseconds, thousands of times over.
    assert len(declined) <= elapsed / PAUSE + 2
    assert drain(amqp_url, queues.TASKS) == []


def test_a_handed_over_message_comes_back_marked_and_uncounted(amqp_url: str) -> None:
    publisher = amqp.Publisher()
    publisher.publish(queues.TASKS, b"{}", message_id="job", priority=3, headers={"own": "kept"})
    publisher.close()
    seen: list[amqp.Message] = []
    stop = threading.Event()

    def handler(message: amqp.Message) -> amqp.Result:
        seen.append(message)
        if "x-mark" not in message.headers:
            return amqp.HandOver({"x-mark": "broken"})
        stop.set()
        return amqp.Outcome.ACK

    _consumer(handler, stop).join(timeout=30)
    assert [m.message_id for m in seen] == ["job", "job"]
    again = seen[1]
    assert again.headers["x-mark"] == "broken"
    assert again.headers["own"] == "kept"
    assert again.attempt == 1
    assert again.priority == 3
    assert again.timestamp == seen[0].timestamp
    assert drain(amqp_url, queues.TASKS) == []
