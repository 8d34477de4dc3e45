"""Helpers of the worker's broker tests: waiting, queue depths, publishing, reading statuses."""

import time
import uuid
from typing import Any

import pika
import requests

from ouro import amqp, queues
from tasks.cancel import Cancel
from tasks.job import Job
from tests.fixtures_mock_github import MockGitHubFixture
from tests.rabbitmq import RabbitMQ
from tests.worker.conftest import TEST_IMAGE


def queue_depth(rabbitmq: RabbitMQ, name: str) -> tuple[int, int]:
    """(ready, unacked) messages of queue `name`, as of now: a quorum queue's counts lag by
    up to a tick (100 ms on the test brokers)."""
    time.sleep(0.3)
    for line in rabbitmq.ctl(
        "list_queues", "name", "messages_ready", "messages_unacknowledged", "--no-table-headers"
    ).splitlines():
        parts = line.split()
        if parts and parts[0] == name:
            return int(parts[1]), int(parts[2])
    raise AssertionError(f"no queue {name}")


def publish(job: Job, url: str) -> None:
    publisher = amqp.Publisher(url)
    publisher.publish(job.queue, job.to_json(), message_id=job.id, priority=job.priority)
    publisher.close()


def publish_cancel(cancel: Cancel, url: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    connection.channel().basic_publish(queues.CANCEL_EXCHANGE, "", cancel.to_json())
    connection.close()


def statuses(github: MockGitHubFixture, job: Job) -> list[tuple[str, str, str | None]]:
    """(state, description, target_url) of `job`'s context on mock-github, oldest first."""
    response = requests.get(
        f"{github.url}/repos/{job.repo}/commits/{job.sha}/statuses",
        headers={"Authorization": f"token {github.token}"},
        timeout=10,
    )
    response.raise_for_status()
    return [
        (s["state"], s["description"], s["target_url"])
        for s in reversed(response.json())
        if s["context"] == job.context
    ]


def publish_new_job(
    github: MockGitHubFixture, repo: str, clone_url: str, url: str, **fields: Any
) -> Job:
    """A `unit-tests` job running `.ci/run` on a new commit of `repo` (`fields` override
    any field), published to the broker at `url`."""
    values: dict[str, Any] = {
        "id": f"job-{uuid.uuid4().hex[:12]}",
        "repo": repo,
        "sha": github.control.push(repo, {"change": uuid.uuid4().hex}),
        "context": "unit-tests",
        "command": ["sh", ".ci/run"],
        "image": TEST_IMAGE,
        "clone_url": clone_url,
    }
    job = Job(**{**values, **fields})
    publish(job, url)
    return job
