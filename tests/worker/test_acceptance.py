"""Acceptance: `ouro worker` processes against a real RabbitMQ, mock-github and images-server.

Jobs are published as the bot publishes them; statuses are read back from mock-github's
REST API, logs and attachments from the images-server over HTTP.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ouro import amqp
from tasks.cancel import Cancel
from tasks.job import Job
from tests.fixtures_images import ImagesServerFixture
from tests.fixtures_mock_github import MockGitHubFixture
from tests.rabbitmq import RabbitMQ, free_port
from tests.waiting import wait_until
from tests.worker.conftest import CI_RUN
from tests.worker.helpers import (
    publish_cancel,
    publish_new_job,
    queue_depth,
    statuses,
)

OURO = str(Path(sys.executable).parent / "ouro")
REPO = "acme/widget"
SECRET = "s3cr3t-T0KEN-value"


class Stack:
    """Everything a worker process talks to, and helpers to drive and observe it."""

    def __init__(
        self,
        tmp_path: Path,
        github: MockGitHubFixture,
        images: ImagesServerFixture,
        rabbitmq: RabbitMQ,
    ):
        self.github = github
        self.images = images
        self.rabbitmq = rabbitmq
        self.secrets = tmp_path / "secrets"
        self.secrets.mkdir()
        (self.secrets / "token").write_text(SECRET + "\n")
        self.work = tmp_path / "work"
        self.work.mkdir()
        self.logs = tmp_path / "worker-logs"
        self.logs.mkdir()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "AMQP_URL": rabbitmq.url,
            "GITHUB_API_URL": github.url,
            "GITHUB_TOKEN_FILE": str(github.token_file),
            "GITHUB_WRITE_INTERVAL": "0",
            **images.env,
            "OURO_WORKER_SECRETS_DIR": str(self.secrets),
            "OURO_WORKER_WORK_DIR": str(self.work),
        }
        created = github.control.create_repo(REPO, files={".ci/run": CI_RUN, "README": "hi\n"})
        self.clone_url = str(created["clone_url"])

    def worker(self, name: str, *options: str) -> "subprocess.Popen[bytes]":
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [OURO, "worker", "--name", name, *options],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def job(self, **overrides: Any) -> Job:
        fields: dict[str, Any] = {"secrets": ["token"], "timeout": 120, **overrides}
        return publish_new_job(self.github, REPO, self.clone_url, self.rabbitmq.url, **fields)

    def statuses(self, job: Job) -> list[tuple[str, str, str | None]]:
        return statuses(self.github, job)

    def final(self, job: Job) -> tuple[str, str, str | None]:
        wait_until(
            lambda: bool(self.statuses(job)) and self.statuses(job)[-1][0] != "pending",
            f"a final status of {job.id}",
        )
        return self.statuses(job)[-1]

    def started(self, job: Job) -> None:
        wait_until(
            lambda: any(d.startswith("In progress") for _, d, _ in self.statuses(job)),
            f"{job.id} to start",
        )

    def file(self, job: Job, name: str) -> bytes:
        response = requests.get(f"{self.images.url}/logs/{job.id}/{name}", timeout=10)
        response.raise_for_status()
        return response.content

    def log_url(self, job: Job) -> str:
        return f"{self.images.url}/logs/{job.id}/index.html"

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait()


@pytest.fixture
def stack(
    tmp_path: Path,
    amqp_url: str,
    rabbitmq: RabbitMQ,
    mock_github: MockGitHubFixture,
    images_server: ImagesServerFixture,
) -> Iterator[Stack]:
    # Declare the queues, so jobs published before a worker connects are routed.
    amqp.Publisher(amqp_url).close()
    found = Stack(tmp_path, mock_github, images_server, rabbitmq)
    yield found
    found.stop()


@pytest.fixture(params=["direct", "podman"])
def mode(request: pytest.FixtureRequest, stack: Stack) -> list[str]:
    """Worker options for each mode; the podman mode needs the test image."""
    if request.param == "direct":
        return ["--direct"]
    env: dict[str, str] = request.getfixturevalue("podman_env")
    if "CONTAINERS_CONF" in env:
        stack.env["CONTAINERS_CONF"] = env["CONTAINERS_CONF"]
    return []


def containers(stack: Stack) -> list[str]:
    return subprocess.run(
        ["podman", "ps", "--all", "--format", "{{.Names}}"],
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def test_job_posts_in_progress_then_success_with_log_and_attachments(
    stack: Stack, mode: list[str]
) -> None:
    stack.worker("wa", *mode)
    job = stack.job()
    url = stack.log_url(job)
    assert stack.final(job) == ("success", "Success [wa]", url)
    assert stack.statuses(job) == [
        ("pending", "In progress [wa]", url),
        ("success", "Success [wa]", url),
    ]
    log = stack.file(job, "log").decode()
    assert log.startswith(f"Job {job.id}: unit-tests for {REPO} at {job.sha}")
    assert "hello from unit-tests" in log
    assert "secret is ********" in log
    assert "Exit code: 0" in log
    assert stack.file(job, "deep/er/nested.txt") == b"nested\n"
    assert stack.file(job, "top.txt") == b"top\n"
    # The secret is in no file the images-server publishes for the job.
    for path in (stack.images.dir / "logs" / job.id).rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    wait_until(lambda: queue_depth(stack.rabbitmq, "tasks") == (0, 0), "the ack")


def test_failing_and_timed_out_jobs_are_failures(stack: Stack, mode: list[str]) -> None:
    stack.worker("wa", *mode)
    failing = stack.job(env={"EXIT_CODE": "2"})
    slow = stack.job(command=["sleep", "60"], timeout=2)
    assert stack.final(failing)[:2] == ("failure", "Tests failed [wa]")
    assert stack.final(slow)[:2] == ("failure", "Timeout after 2 seconds")


def test_cancel_for_its_pr_stops_the_job(stack: Stack, mode: list[str]) -> None:
    stack.worker("wa", *mode)
    job = stack.job(command=["sh", "-c", "echo started; sleep 120"], pr=4)
    stack.started(job)
    time.sleep(1)
    publish_cancel(Cancel(REPO, 4, "f" * 40, "new push"), stack.rabbitmq.url)
    assert stack.final(job)[:2] == ("error", "Cancelled")
    if not mode:
        assert f"ouro-job-{job.id}" not in containers(stack)


def test_worker_killed_mid_job_another_completes_it(stack: Stack) -> None:
    first = stack.worker("wa", "--direct")
    job = stack.job(command=["sh", "-c", "echo working; sleep 3"])
    stack.started(job)
    first.send_signal(signal.SIGKILL)
    first.wait()
    stack.worker("wb", "--direct")
    url = stack.log_url(job)
    assert stack.final(job) == ("success", "Success [wb]", url)
    assert stack.statuses(job) == [
        ("pending", "In progress [wa]", url),
        ("pending", "In progress [wb]", url),
        ("success", "Success [wb]", url),
    ]
    assert "started before ('In progress [wa]')" in stack.file(job, "log").decode()


def test_sigterm_finishes_the_running_job_and_takes_no_other(stack: Stack) -> None:
    worker = stack.worker("wa", "--direct")
    running = stack.job(command=["sh", "-c", "echo working; sleep 3; echo done"])
    stack.started(running)
    waiting = stack.job()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    assert stack.statuses(running)[-1][:2] == ("success", "Success [wa]")
    assert stack.statuses(waiting) == []
    assert queue_depth(stack.rabbitmq, "tasks") == (1, 0)


def test_sigterm_past_the_grace_period_hands_the_job_back(stack: Stack) -> None:
    stack.env["OURO_WORKER_GRACE"] = "1"
    worker = stack.worker("wa", "--direct")
    job = stack.job(command=["sh", "-c", "echo working; sleep 120"])
    stack.started(job)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    assert stack.statuses(job)[-1][:2] == ("pending", "Requeued: worker wa stopped")
    assert queue_depth(stack.rabbitmq, "tasks") == (1, 0)
    assert "handed back to the queue" in stack.file(job, "log").decode()


def github_requests(metrics_port: int) -> dict[tuple[str, str, str], float]:
    """The worker's count of GitHub requests made for jobs: (method, route, status) → n."""
    text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    found: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ouro_github_requests_total" and sample.labels["cause"] == "job":
                labels = sample.labels
                found[labels["method"], labels["endpoint"], labels["status"]] = sample.value
            if (
                sample.name == "ouro_github_requests_per_unit_count"
                and sample.labels["cause"] == "job"
            ):
                found["jobs", "", ""] = sample.value
    return found


def test_a_job_costs_github_one_write_per_status(stack: Stack) -> None:
    """ "In progress" and the result: two requests for the job, counted by the worker (the
    checkout is git, not the API)."""
    port = free_port()
    stack.worker("wa", "--direct", "--metrics-port", str(port))
    job = stack.job()
    assert stack.final(job)[0] == "success"
    expected = {("POST", "/repos/{owner}/{repo}/statuses/{sha}", "201"): 2, ("jobs", "", ""): 1}
    wait_until(lambda: github_requests(port) == expected, "the job's requests counted")
