"""Fixtures shared by every component's tests."""

from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

from tests.rabbitmq import RabbitMQ

pytest_plugins = [
    "tests.chromium",
    "tests.fixtures_images",
    "tests.fixtures_mock_github",
    "tests.fixtures_webhook",
    "tests.worker.running",
]


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    """One broker for the whole run; tests that restart it use `private_rabbitmq`."""
    if not RabbitMQ.available():
        pytest.fail("rabbitmq-server is not installed: run the README's set-up (apt-get)")
    broker = RabbitMQ(tmp_path_factory.mktemp("rabbitmq"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def private_rabbitmq(tmp_path: Path) -> Iterator[RabbitMQ]:
    """A broker of the test's own, which it may stop and start."""
    broker = RabbitMQ(tmp_path / "rabbitmq")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def amqp_url(rabbitmq: RabbitMQ, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shared broker's URL, set as AMQP_URL, with every queue emptied before the test."""
    monkeypatch.setenv("AMQP_URL", rabbitmq.url)
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq.url))
    channel = connection.channel()
    for line in rabbitmq.ctl("list_queues", "name", "--no-table-headers").splitlines():
        if line.strip():
            channel.queue_delete(line.strip())
    connection.close()
    return rabbitmq.url
