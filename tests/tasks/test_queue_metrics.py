"""The bot's queue-depth gauges, measured on a real RabbitMQ, and its event → first status
latency."""

import threading
import time
from pathlib import Path

from prometheus_client import REGISTRY

from ouro import amqp
from tasks import queuemetrics
from tasks.botstate import BotState
from tests.tasks.bot_fakes import FakeGitHub, payload
from tests.tasks.test_bot import FakePublisher, make_bot, message
from tests.waiting import wait_until


def gauge(name: str, queue: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"queue": queue})


def test_gauges_follow_every_queue_of_the_test_map(amqp_url: str) -> None:
    publisher = amqp.Publisher(capabilities=(None, "kvm"))
    for number in range(3):
        publisher.publish("tasks.kvm", b"{}", message_id=f"job-{number}")
    publisher.publish("webhook", b"{}", message_id="delivery-1")
    stop = threading.Event()
    watcher = threading.Thread(
        target=queuemetrics.watch, args=((None, "kvm"), stop), kwargs={"interval": 0.1}
    )
    watcher.start()
    try:
        wait_until(lambda: gauge("ouro_queue_messages", "tasks.kvm") == 3, "3 in tasks.kvm", 30)
        assert gauge("ouro_queue_messages", "webhook") == 1
        assert gauge("ouro_queue_messages", "tasks") == 0
        assert gauge("ouro_queue_messages", "tasks.kvm.dead") == 0
        assert gauge("ouro_queue_consumers", "tasks.kvm") == 0

        # Taken by a consumer: the next round sees the queue empty and its consumer.
        connection = amqp.connect()
        channel = connection.channel()
        channel.basic_qos(prefetch_count=10)
        channel.basic_consume("tasks.kvm", lambda *_: None)
        wait_until(
            lambda: (
                gauge("ouro_queue_messages", "tasks.kvm") == 0
                and gauge("ouro_queue_consumers", "tasks.kvm") == 1
            ),
            "the consumer and an empty queue",
            30,
        )
        connection.close()
    finally:
        stop.set()
        watcher.join()
        publisher.close()


def test_time_from_the_queued_event_to_its_first_status(tmp_path: Path) -> None:
    state = BotState(tmp_path / "state.sqlite")
    gh = FakeGitHub()
    bot = make_bot(state, gh, FakePublisher(gh))
    count = REGISTRY.get_sample_value("ouro_bot_event_to_status_seconds_count") or 0.0
    total = REGISTRY.get_sample_value("ouro_bot_event_to_status_seconds_sum") or 0.0
    queued = message("pull_request", payload("pull_request.opened"))
    queued = amqp.Message(queued.body, "d-1", False, {}, timestamp=int(time.time()) - 5)
    bot.handle(queued)
    # Several statuses were posted; only the first is timed.
    assert len(gh.posted) > 1
    assert REGISTRY.get_sample_value("ouro_bot_event_to_status_seconds_count") == count + 1
    waited = (REGISTRY.get_sample_value("ouro_bot_event_to_status_seconds_sum") or 0) - total
    assert 5 <= waited < 7
    # The same delivery again posts nothing, so nothing is timed.
    bot.handle(queued)
    assert REGISTRY.get_sample_value("ouro_bot_event_to_status_seconds_count") == count + 1
    state.close()
