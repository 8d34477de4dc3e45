"""PipelinedPublisher against a real broker: many threads, one connection, confirms in flight."""

import threading

import pytest

from ouro import amqp, queues
from tests.rabbitmq import RabbitMQ, drain
from webhook.publisher import PipelinedPublisher


def test_concurrent_publishes_are_all_confirmed_and_stored(amqp_url: str) -> None:
    publisher = PipelinedPublisher()
    failures: list[BaseException] = []

    def publish_some(thread: int) -> None:
        try:
            for i in range(50):
                publisher.publish(queues.WEBHOOK, b"{}", message_id=f"t{thread}-{i}")
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=publish_some, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    publisher.close()
    assert failures == []
    stored = [str(props.message_id) for props, _ in drain(amqp_url, queues.WEBHOOK)]
    assert sorted(stored) == sorted(f"t{t}-{i}" for t in range(16) for i in range(50))


def test_unroutable_publish_is_an_error(amqp_url: str) -> None:
    publisher = PipelinedPublisher()
    with pytest.raises(amqp.BrokerUnavailable, match="unroutable"):
        publisher.publish("no-such-queue", b"{}", message_id="x")
    # The connection stays usable after a returned message.
    publisher.publish(queues.TASKS, b"{}", message_id="y", priority=3)
    publisher.close()
    [(props, body)] = drain(amqp_url, queues.TASKS)
    assert (props.message_id, props.priority, body) == ("y", 3, b"{}")


def test_reconnects_after_broker_restart(private_rabbitmq: RabbitMQ) -> None:
    publisher = PipelinedPublisher(private_rabbitmq.url, retry_interval=0)
    publisher.publish(queues.WEBHOOK, b"1", message_id="before")
    private_rabbitmq.stop()
    with pytest.raises(amqp.BrokerUnavailable):
        publisher.publish(queues.WEBHOOK, b"2", message_id="during")
    with pytest.raises(amqp.BrokerUnavailable):
        publisher.check()
    private_rabbitmq.start()
    publisher.check()
    publisher.publish(queues.WEBHOOK, b"3", message_id="after")
    publisher.close()
    assert [props.message_id for props, _ in drain(private_rabbitmq.url, queues.WEBHOOK)] == [
        "before",
        "after",
    ]
