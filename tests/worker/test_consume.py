"""The worker on a real RabbitMQ: acks after the verdict, cancels through the exchange, drains."""

import threading
import time
from collections.abc import Callable, Iterator

import pika
import pytest

from tasks import amqp, queues
from tasks.cancel import Cancel
from tasks.job import Job
from tasks.store import Store
from tasks.worker.config import WorkerConfig
from tasks.worker.service import Worker
from tests.fixtures_images import ImagesServerFixture
from tests.rabbitmq import RabbitMQ
from tests.worker.conftest import JobFactory
from tests.worker.fakes import FakeStatuses


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def queue_depth(rabbitmq: RabbitMQ, name: str) -> tuple[int, int]:
    """(ready, unacked) messages of queue `name`."""
    for line in rabbitmq.ctl(
        "list_queues", "name", "messages_ready", "messages_unacknowledged", "--no-table-headers"
    ).splitlines():
        parts = line.split()
        if parts and parts[0] == name:
            return int(parts[1]), int(parts[2])
    raise AssertionError(f"no queue {name}")


def publish(job: Job) -> None:
    publisher = amqp.Publisher()
    publisher.publish(job.queue, job.to_json(), message_id=job.id, priority=job.priority)
    publisher.close()


def publish_cancel(cancel: Cancel, url: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    connection.channel().basic_publish(queues.CANCEL_EXCHANGE, "", cancel.to_json())
    connection.close()


class Running:
    def __init__(self, config: WorkerConfig, store: Store):
        self.statuses, self.store = FakeStatuses(), store
        self.worker = Worker(config, self.statuses, self.store)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.worker.serve, args=(self.stop,))

    def described(self, prefix: str) -> bool:
        return any(s.description.startswith(prefix) for _, _, s in self.statuses.posted)


@pytest.fixture
def running(
    amqp_url: str, direct_config: WorkerConfig, images_server: ImagesServerFixture
) -> Iterator[Running]:
    # Declare the queues before the worker connects, so the first publish is routable.
    amqp.Publisher().close()
    store = images_server.store()
    worker = Running(direct_config, store)
    worker.thread.start()
    yield worker
    worker.stop.set()
    worker.thread.join()
    store.close()


def test_job_is_acked_after_its_final_status(
    running: Running, make_job: JobFactory, rabbitmq: RabbitMQ
) -> None:
    job = make_job()
    publish(job)
    wait_until(lambda: running.described("Success"), "success")
    wait_until(lambda: queue_depth(rabbitmq, "tasks") == (0, 0), "the ack")
    assert running.statuses.states() == [
        ("pending", "In progress [w1]"),
        ("success", "Success [w1]"),
    ]
    assert b"hello from unit-tests" in running.store.get(f"logs/{job.id}/log")
    assert running.store.get(f"logs/{job.id}/deep/er/nested.txt") == b"nested\n"


def test_cancel_message_stops_the_running_job(
    running: Running, make_job: JobFactory, amqp_url: str, rabbitmq: RabbitMQ
) -> None:
    job = make_job(command=["sh", "-c", "echo started; sleep 120"], pr=3)
    publish(job)
    wait_until(lambda: running.described("In progress"), "the job to start")
    wait_until(lambda: queue_depth(rabbitmq, "tasks") == (0, 1), "the job held unacked")
    publish_cancel(Cancel(job.repo, 3, None, "PR closed"), amqp_url)
    wait_until(lambda: running.described("Cancelled"), "the cancel")
    wait_until(lambda: queue_depth(rabbitmq, "tasks") == (0, 0), "the ack")


def test_stop_finishes_the_running_job_and_takes_no_other(
    running: Running, make_job: JobFactory, rabbitmq: RabbitMQ
) -> None:
    first = make_job(command=["sh", "-c", "sleep 2; echo first done"])
    second = make_job()
    publish(first)
    wait_until(lambda: running.described("In progress"), "the first job to start")
    publish(second)
    running.worker.begin_drain()
    running.stop.set()
    running.thread.join(60)
    assert not running.thread.is_alive()
    assert running.statuses.states() == [
        ("pending", "In progress [w1]"),
        ("success", "Success [w1]"),
    ]
    assert queue_depth(rabbitmq, "tasks") == (1, 0)
