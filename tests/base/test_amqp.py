"""The AMQP layer against a real broker: confirms, priorities, reconnects, consuming."""

import json
import threading
import time

import pika
import pytest

from ouro import amqp, consumer, queues
from ouro.config import ConfigError
from tests.rabbitmq import RabbitMQ, drain


def queue_rows(broker: RabbitMQ) -> dict[str, str]:
    listing = broker.ctl(
        "list_queues", "name", "durable", "type", "arguments", "--no-table-headers"
    )
    return {line.split("\t")[0]: line for line in listing.splitlines() if line}


def test_declares_every_queue_durable_and_quorum(amqp_url: str, rabbitmq: RabbitMQ) -> None:
    publisher = amqp.Publisher(capabilities=(None, "kvm"))
    publisher.publish(queues.WEBHOOK, b"{}", message_id="d1")
    publisher.close()
    rows = queue_rows(rabbitmq)
    assert set(rows) == {
        *("webhook", "tasks", "tasks.kvm"),
        # Every source's dead letters (ouro/poison.py).
        *("webhook.dead", "tasks.dead", "tasks.kvm.dead", "cancel.dead"),
    }
    assert all("\ttrue\tquorum\t" in row for row in rows.values()), rows
    # RabbitMQ 3.x refuses priorities on quorum queues.
    assert not any("x-max-priority" in row for row in rows.values())


def test_classic_queues_give_the_tasks_queues_priorities(
    private_rabbitmq: RabbitMQ, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMQP_URL", private_rabbitmq.url)
    monkeypatch.setenv("AMQP_QUEUE_TYPE", "classic")
    publisher = amqp.Publisher(capabilities=(None, "kvm"))
    for i, priority in enumerate([1, 9, 5]):
        publisher.publish(queues.TASKS, b"{}", message_id=f"j{i}", priority=priority)
    publisher.close()
    rows = queue_rows(private_rabbitmq)
    assert all("\ttrue\tclassic\t" in row for row in rows.values()), rows
    assert "x-max-priority" in rows["tasks.kvm"]
    assert "x-max-priority" not in rows["tasks.kvm.dead"]
    drained = drain(private_rabbitmq.url, queues.TASKS)
    assert [props.message_id for props, _ in drained] == ["j1", "j2", "j0"]


def test_an_unknown_queue_type_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMQP_QUEUE_TYPE", "stream")
    with pytest.raises(ConfigError, match="AMQP_QUEUE_TYPE must be one of quorum, classic"):
        queues.queue_type()


def test_unroutable_publish_is_an_error(amqp_url: str) -> None:
    publisher = amqp.Publisher()
    with pytest.raises(amqp.BrokerUnavailable, match="unroutable"):
        publisher.publish("no-such-queue", b"{}", message_id="x")
    publisher.close()


def test_publish_all_stores_every_message_in_order(amqp_url: str) -> None:
    publisher = amqp.Publisher()
    publisher.publish_all([amqp.Outgoing(queues.TASKS, b"{}", f"m{i}") for i in range(5)])
    publisher.close()
    assert [props.message_id for props, _ in drain(amqp_url, queues.TASKS)] == [
        f"m{i}" for i in range(5)
    ]


def test_publish_all_names_the_message_the_broker_could_not_route(amqp_url: str) -> None:
    publisher = amqp.Publisher()
    batch = [
        amqp.Outgoing(queues.TASKS, b"{}", "first"),
        amqp.Outgoing("no-such-queue", b"{}", "lost"),
        amqp.Outgoing(queues.TASKS, b"{}", "third"),
    ]
    with pytest.raises(amqp.BrokerUnavailable, match="message lost unroutable to no-such-queue"):
        publisher.publish_all(batch)
    publisher.publish(queues.TASKS, b"{}", message_id="after")
    publisher.close()
    assert [p.message_id for p, _ in drain(amqp_url, queues.TASKS)] == ["first", "third", "after"]


def test_publish_all_names_the_message_the_broker_refused(amqp_url: str) -> None:
    # A queue that is always full and refuses what would overflow it: the broker nacks.
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    full = {"x-max-length": 0, "x-overflow": "reject-publish"}
    connection.channel().queue_declare("full", arguments=full)
    connection.close()
    publisher = amqp.Publisher()
    batch = [amqp.Outgoing(queues.TASKS, b"{}", "first"), amqp.Outgoing("full", b"{}", "nacked")]
    with pytest.raises(amqp.BrokerUnavailable, match="broker refused message nacked"):
        publisher.publish_all(batch)
    # The next publish goes out on a new channel (NACK_STUCK in ouro/queues.py).
    publisher.publish(queues.TASKS, b"{}", message_id="after")
    publisher.close()
    assert [p.message_id for p, _ in drain(amqp_url, queues.TASKS)] == ["first", "after"]


def test_publisher_reconnects_after_broker_restart(private_rabbitmq: RabbitMQ) -> None:
    publisher = amqp.Publisher(private_rabbitmq.url)
    publisher.publish(queues.WEBHOOK, b"1", message_id="before")
    private_rabbitmq.stop()
    with pytest.raises(amqp.BrokerUnavailable):
        publisher.publish(queues.WEBHOOK, b"2", message_id="during")
    private_rabbitmq.start()
    publisher.publish(queues.WEBHOOK, b"3", message_id="after")
    publisher.close()
    # Persistent messages on a durable queue survive the restart.
    assert [props.message_id for props, _ in drain(private_rabbitmq.url, queues.WEBHOOK)] == [
        "before",
        "after",
    ]


def test_consume_acks_after_handler_and_requeues_on_crash(amqp_url: str) -> None:
    publisher = amqp.Publisher()
    for i in range(3):
        publisher.publish(queues.TASKS, json.dumps(i).encode(), message_id=f"m{i}")
    publisher.close()
    seen: list[tuple[str | None, bool]] = []
    stop = threading.Event()
    m1_seen_at: list[float] = []

    def handler(message: amqp.Message) -> amqp.Outcome:
        seen.append((message.message_id, message.redelivered))
        if message.message_id == "m1":
            m1_seen_at.append(time.monotonic())
            if not message.redelivered:
                raise RuntimeError("simulated bug")
        if len(seen) == 4:
            stop.set()
        return amqp.Outcome.ACK

    thread = threading.Thread(
        target=consumer.consume,
        args=([queues.TASKS], handler),
        kwargs={"stop": stop, "crash_delay": 1.0},
    )
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert sorted(seen) == [("m0", False), ("m1", False), ("m1", True), ("m2", False)]
    # Not at once: a message that crashes the handler every time must not spin.
    assert m1_seen_at[1] - m1_seen_at[0] >= 1.0
    time.sleep(0.2)
    assert drain(amqp_url, queues.TASKS) == []
