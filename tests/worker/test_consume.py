"""`Worker.serve` on a real RabbitMQ, mock-github and images-server: acks after the verdict,
cancels through the exchange, drains, drops a job that GitHub or the store refuses."""

import logging
import uuid

import pytest
import requests

from ouro import poison
from ouro.store import StoreError, StoreRefused
from tasks.cancel import Cancel
from tasks.job import Job
from tests.fixtures_images import ImagesServerFixture
from tests.rabbitmq import RabbitMQ, drain
from tests.waiting import wait_until
from tests.worker.helpers import publish_cancel, queue_depth
from tests.worker.running import REPO, STORE_DOWN, Running


def test_job_is_acked_after_its_final_status(running: Running, rabbitmq: RabbitMQ) -> None:
    job = running.publish()
    wait_until(lambda: running.described(job, "Success"), "success")
    wait_until(lambda: queue_depth(rabbitmq, "tasks") == (0, 0), "the ack")
    assert running.states(job) == [("pending", "In progress [w1]"), ("success", "Success [w1]")]
    assert b"hello from unit-tests" in running.store.get(f"logs/{job.id}/log")
    assert running.store.get(f"logs/{job.id}/deep/er/nested.txt") == b"nested\n"


def test_cancel_message_stops_the_running_job(running: Running, rabbitmq: RabbitMQ) -> None:
    job = running.publish(command=["sh", "-c", "echo started; sleep 120"], pr=3)
    wait_until(lambda: running.described(job, "In progress"), "the job to start")
    wait_until(lambda: queue_depth(rabbitmq, "tasks") == (0, 1), "the job held unacked")
    publish_cancel(Cancel(job.repo, 3, None, "PR closed"), running.amqp_url)
    wait_until(lambda: running.described(job, "Cancelled"), "the cancel")
    wait_until(lambda: queue_depth(rabbitmq, "tasks") == (0, 0), "the ack")


def test_stop_finishes_the_running_job_and_takes_no_other(
    running: Running, rabbitmq: RabbitMQ
) -> None:
    first = running.publish(command=["sh", "-c", "sleep 2; echo first done"])
    wait_until(lambda: running.described(first, "In progress"), "the first job to start")
    second = running.publish()
    running.worker.begin_drain()
    running.stop.set()
    running.thread.join(60)
    assert not running.thread.is_alive()
    assert running.states(first) == [("pending", "In progress [w1]"), ("success", "Success [w1]")]
    assert running.states(second) == []
    assert queue_depth(rabbitmq, "tasks") == (1, 0)


def error_lines(caplog: pytest.LogCaptureFixture, job: Job) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.getMessage().startswith(f"job {job.id}:")
    ]


def test_job_whose_final_status_github_refuses_is_dead_lettered(
    running: Running, rabbitmq: RabbitMQ, caplog: pytest.LogCaptureFixture
) -> None:
    # GitHub keeps at most 1000 statuses per commit and context: fill all but one, which
    # "In progress" takes, so that the final status is refused (422).
    sha = running.github.control.push(REPO, {"change": uuid.uuid4().hex})
    with requests.Session() as session:
        session.headers["Authorization"] = f"token {running.github.token}"
        for number in range(999):
            session.post(
                f"{running.github.url}/repos/{REPO}/statuses/{sha}",
                json={"state": "pending", "context": "unit-tests", "description": f"{number}"},
                timeout=10,
            ).raise_for_status()
    job = running.publish(sha=sha)
    wait_until(lambda: error_lines(caplog, job) != [], "the refusal")
    wait_until(lambda: queue_depth(rabbitmq, "tasks.dead") == (1, 0), "the dead letter")
    assert queue_depth(rabbitmq, "tasks") == (0, 0)
    [line] = error_lines(caplog, job)
    assert line.startswith(f"job {job.id}: GitHub refused the final status (")
    assert "422" in line
    assert "reached the maximum number of statuses" in line
    assert line.endswith("; dead-lettering the job, running it again cannot succeed")
    assert running.states(job)[-1] == ("pending", "In progress [w1]")


@pytest.mark.parametrize("running", ["revoked-token"], indirect=True)
def test_job_whose_log_the_store_refuses_is_dead_lettered(
    running: Running, rabbitmq: RabbitMQ, caplog: pytest.LogCaptureFixture
) -> None:
    job = running.publish()
    wait_until(lambda: error_lines(caplog, job) != [], "the refusal")
    wait_until(lambda: queue_depth(rabbitmq, "tasks.dead") == (1, 0), "the dead letter")
    assert queue_depth(rabbitmq, "tasks") == (0, 0)
    assert error_lines(caplog, job) == [
        f"job {job.id}: the store refused the live log (PUT logs/{job.id}/index.html: "
        "HTTP 401 the bearer token is not valid); dead-lettering the job, running it again "
        "cannot succeed"
    ]
    # GitHub still answers, so the commit does not stay "In progress".
    wait_until(lambda: len(running.states(job)) == 2, "the error status")
    assert running.states(job) == [
        ("pending", "In progress [w1]"),
        ("error", "Log store refused the upload [w1]"),
    ]


@pytest.mark.parametrize("running", [STORE_DOWN], indirect=True)
def test_store_outage_is_retried_five_times_then_dead_lettered_saying_why(
    running: Running, rabbitmq: RabbitMQ
) -> None:
    """Before: requeued for ever (every 10 s, or at once with no pause configured)."""
    job = running.publish()
    wait_until(lambda: queue_depth(rabbitmq, "tasks.dead") == (1, 0), "the dead letter")
    assert queue_depth(rabbitmq, "tasks") == (0, 0)
    assert running.states(job) == [("pending", "In progress [w1]")] * 5 + [
        ("error", "Gave up: the store was unavailable [w1]")
    ]
    ((props, body),) = drain(running.amqp_url, "tasks.dead")
    assert Job.from_json(body) == job
    reason = str(props.headers[poison.REASON_HEADER])
    assert reason.startswith("the store did not take the live log: ")
    assert reason.endswith("(gave up after 5 attempts)")


def test_a_checksum_mismatch_is_not_a_refusal(images_server: ImagesServerFixture) -> None:
    """The images-server's 422 means the bytes arrived damaged: worth another attempt,
    where a refusal (StoreRefused) made the worker drop the job for good."""
    store = images_server.store()
    try:
        with pytest.raises(StoreError, match="HTTP 422") as caught:
            store.put(f"logs/{uuid.uuid4().hex}/log", b"content", sha256="0" * 64)
        assert not isinstance(caught.value, StoreRefused)
    finally:
        store.close()
