"""AsyncPublisher against a real broker: one connection, many confirms in flight."""

import asyncio

import pytest

from ouro import amqp, queues
from tests.rabbitmq import RabbitMQ, drain
from webhook.publisher import AsyncPublisher


def test_concurrent_publishes_are_all_confirmed_and_stored(amqp_url: str) -> None:
    async def main() -> None:
        publisher = AsyncPublisher()
        waiters = [publisher.publish(queues.WEBHOOK, b"{}", message_id=f"m{i}") for i in range(800)]
        await asyncio.gather(*waiters)
        await publisher.close()

    asyncio.run(main())
    stored = [str(props.message_id) for props, _ in drain(amqp_url, queues.WEBHOOK)]
    assert sorted(stored) == sorted(f"m{i}" for i in range(800))


def test_unroutable_publish_is_an_error(amqp_url: str) -> None:
    async def main() -> None:
        publisher = AsyncPublisher()
        with pytest.raises(amqp.BrokerUnavailable, match="unroutable"):
            await publisher.publish("no-such-queue", b"{}", message_id="x")
        # The connection stays usable after a returned message.
        await publisher.publish(queues.TASKS, b"{}", message_id="y", priority=3)
        await publisher.close()

    asyncio.run(main())
    [(props, body)] = drain(amqp_url, queues.TASKS)
    assert (props.message_id, props.priority, body) == ("y", 3, b"{}")


def test_reconnects_after_broker_restart(private_rabbitmq: RabbitMQ) -> None:
    async def main() -> None:
        publisher = AsyncPublisher(private_rabbitmq.url, retry_interval=0)
        await publisher.publish(queues.WEBHOOK, b"1", message_id="before")
        private_rabbitmq.stop()
        with pytest.raises(amqp.BrokerUnavailable):
            await publisher.publish(queues.WEBHOOK, b"2", message_id="during")
        with pytest.raises(amqp.BrokerUnavailable):
            await publisher.check()
        private_rabbitmq.start()
        await publisher.check()
        await publisher.publish(queues.WEBHOOK, b"3", message_id="after")
        await publisher.close()

    asyncio.run(main())
    assert [props.message_id for props, _ in drain(private_rabbitmq.url, queues.WEBHOOK)] == [
        "before",
        "after",
    ]


def test_no_confirm_within_the_bound_is_an_error(private_rabbitmq: RabbitMQ) -> None:
    """A broker that takes the message but does not confirm it (a memory alarm blocks its
    publishers) makes the publish fail once the bound has passed, never wait for ever."""

    async def main() -> float:
        publisher = AsyncPublisher(private_rabbitmq.url, confirm_timeout=1.0)
        await publisher.publish(queues.WEBHOOK, b"1", message_id="before")
        private_rabbitmq.ctl("set_vm_memory_high_watermark", "0")
        try:
            started = asyncio.get_running_loop().time()
            with pytest.raises(amqp.BrokerUnavailable):
                await publisher.publish(queues.WEBHOOK, b"2", message_id="blocked")
            waited = asyncio.get_running_loop().time() - started
        finally:
            private_rabbitmq.ctl("set_vm_memory_high_watermark", "0.4")
        await publisher.close()
        return waited

    waited = asyncio.run(main())
    # The bound, plus at most one sweep of the pending confirms (every 0.5 s).
    assert 1.0 <= waited < 2.5
