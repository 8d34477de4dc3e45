"""Acceptance: the bot end to end. mock-github delivers signed webhooks to the real
receiver, which publishes to a real RabbitMQ; the real bot (its `ouro bot` wiring,
on a thread) consumes them, posts statuses to the mock over HTTP and publishes jobs.

"Settled" means the bot has handled every delivery the receiver accepted (202): the
mock's control calls return after their deliveries were answered, and the receiver
answers 202 only once the message is on the broker, so the count is exact. Assertions
are made on what is then on the queues and at the mock, so "nothing new" is checked
after the event in question was really processed, not after a pause.
"""

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import github
import pika
import pytest

from ouro import amqp, queues
from ouro.cli import main
from tasks import testmap
from tasks.bot import Bot
from tasks.botstate import BotState
from tasks.cancel import Cancel
from tasks.github import open_reader, open_statuses
from tasks.job import Job
from tasks.queue_inspect import inspect
from tests.fixtures_mock_github import MockGitHubFixture
from tests.fixtures_webhook import RunningReceiver
from tests.rabbitmq import drain

REPO = "acme/widget"
NETWORKING = "fedora-41/networking"
CANCELS = "test.cancels"
TESTMAP = f"""
defaults:
  image: localhost/ouro-tasks:latest
trusted:
  users: [carol]
repos:
  {REPO}:
    main:
      unit-tests: {{}}
      {NETWORKING}:
        capability: kvm
        priority: 7
        timeout: 7200
        secrets: [images-upload]
        command: [make, check]
"""
NYT = "Not yet tested"
MANUAL = "Manual testing required"
WAIT = 30.0


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


class Stack:
    """The mock, the receiver, the broker and a running bot, with helpers to look at them."""

    def __init__(self, mock: MockGitHubFixture, receiver: RunningReceiver, url: str):
        self.mock = mock
        self.control = mock.control
        self.receiver = receiver
        self.url = url
        tmap = testmap.load()
        self._handled = 0
        # Deliveries posted straight to the receiver, which the mock does not list.
        self._direct = 0
        self._cond = threading.Condition()
        self.state = BotState.open_default()
        self.publisher = amqp.Publisher(capabilities=tmap.capabilities())
        self.stop = threading.Event()
        # As `ouro bot` builds it (tasks.cli._bot): the token makes it really post.
        self.bot = Bot(
            tmap,
            statuses=open_statuses(),
            reader=open_reader(),
            publisher=self.publisher,
            state=self.state,
            wait=self.stop.wait,
        )
        self.thread = threading.Thread(
            target=amqp.consume,
            args=([queues.WEBHOOK], self._handle),
            kwargs={"capabilities": tmap.capabilities(), "stop": self.stop},
        )
        self.thread.start()
        self.github = github.Github(
            base_url=mock.url,
            auth=github.Auth.Token(mock.token),
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def _handle(self, message: amqp.Message) -> amqp.Outcome:
        try:
            return self.bot.handle(message)
        finally:
            with self._cond:
                self._handled += 1
                self._cond.notify_all()

    def settle(self) -> None:
        """Wait until the bot has handled every delivery the receiver accepted.

        The bot's own status posts make the mock deliver `status` events (GitHub does too)
        before the post returns, so within the handling of a message: once the bot has
        handled as many messages as were accepted and no new delivery appeared meanwhile,
        nothing is left in flight.
        """
        while True:
            accepted = self._accepted()
            self._wait_handled(accepted)
            if self._accepted() == accepted:
                assert self._handled == accepted
                return

    def _wait_handled(self, count: int) -> None:
        with self._cond:
            done = self._cond.wait_for(lambda: self._handled >= count, timeout=WAIT)
            assert done, f"the bot handled {self._handled} of {count} deliveries"

    def _accepted(self) -> int:
        codes = [d["status_code"] for d in self.control.deliveries()]
        assert set(codes) <= {200, 202}, f"a delivery failed: {codes}"
        return codes.count(202) + self._direct

    def deliver(self, event: str, payload: Any) -> None:
        """Post a signed delivery with a new id straight to the receiver."""
        code, _ = self.receiver.deliver(event, payload)
        assert code == 202
        self._direct += 1

    def replayed(self, count: int) -> None:
        """Count messages put back on the webhook queue by `ouro queue replay`."""
        self._direct += count

    def jobs(self) -> dict[str, list[tuple[pika.BasicProperties, Job]]]:
        """The jobs now on each tasks queue (consumed), by queue."""
        found = {}
        for queue in (queues.TASKS, "tasks.kvm"):
            found[queue] = [(p, Job.from_json(b)) for p, b in drain(self.url, queue)]
        return found

    def cancels(self) -> list[Cancel]:
        return [Cancel.from_json(b) for _, b in drain(self.url, CANCELS)]

    def statuses(self, sha: str) -> list[tuple[str, str, str]]:
        """Every status of `sha` at the mock, newest first, read with PyGithub."""
        commit = self.github.get_repo(REPO).get_commit(sha)
        return [(s.context, s.state, s.description) for s in commit.get_statuses()]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=WAIT)
        self.publisher.close()
        self.state.close()
        self.github.close()


@pytest.fixture
def world(
    mock_github: MockGitHubFixture,
    webhook_receiver: RunningReceiver,
    amqp_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[MockGitHubFixture, RunningReceiver, str]]:
    """Settings for the bot, the mock's organisation and repository, and the queues."""
    monkeypatch.setenv("GITHUB_API_URL", mock_github.url)
    monkeypatch.setenv("GITHUB_TOKEN_FILE", str(mock_github.token_file))
    monkeypatch.setenv("GITHUB_WRITE_INTERVAL", "0")
    monkeypatch.setenv("OURO_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "testmap.yaml").write_text(TESTMAP)
    monkeypatch.setenv("OURO_TESTMAP", str(tmp_path / "testmap.yaml"))
    c = mock_github.control
    # Organisation first, so the repository belongs to it. The bot's account is a member:
    # only a member's token sees private memberships (dave's).
    c.add_org_member("acme", "ouro-bot", public=False)
    c.add_org_member("acme", "dave", public=False)
    c.create_repo(REPO, files={".ci/run": "#!/bin/sh\ntrue\n"})
    c.add_collaborator(REPO, "alice")
    mock_github.set_webhook(webhook_receiver.url, webhook_receiver.secret)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    queues.declare(channel, (None, "kvm"))
    channel.queue_declare(CANCELS)
    channel.queue_bind(CANCELS, queues.CANCEL_EXCHANGE)
    connection.close()
    yield mock_github, webhook_receiver, amqp_url
    # Nothing the tests sent may end as a dead letter.
    assert drain(amqp_url, queues.WEBHOOK_DEAD) == []


@pytest.fixture
def stack(world: tuple[MockGitHubFixture, RunningReceiver, str]) -> Iterator[Stack]:
    running = Stack(*world)
    yield running
    running.close()
    assert drain(running.url, queues.WEBHOOK) == []


def job_fields(job: Job) -> dict[str, Any]:
    fields = asdict(job)
    del fields["id"], fields["created"], fields["log"]
    return fields


def expected_jobs(stack: Stack, sha: str, pr: int | None, base: str = "main") -> dict[str, Any]:
    common: dict[str, Any] = {
        "repo": REPO,
        "sha": sha,
        "pr": pr,
        "base_ref": base,
        "clone_url": f"{stack.mock.url}/{REPO}.git",
        "image": "localhost/ouro-tasks:latest",
        "env": {},
    }
    return {
        queues.TASKS: [
            {
                **common,
                "context": "unit-tests",
                "command": [".ci/run"],
                "capability": None,
                "secrets": [],
                "timeout": 3600,
                "priority": 5,
            }
        ],
        "tasks.kvm": [
            {
                **common,
                "context": NETWORKING,
                "command": ["make", "check"],
                "capability": "kvm",
                "secrets": ["images-upload"],
                "timeout": 7200,
                "priority": 7,
            }
        ],
    }


def check_jobs(
    found: dict[str, list[tuple[pika.BasicProperties, Job]]], expected: dict[str, Any]
) -> None:
    assert {q: [job_fields(j) for _, j in found[q]] for q in found} == expected
    for queue, messages in found.items():
        for props, job in messages:
            # Persistent, with the map's priority, and named by the job id.
            assert (props.delivery_mode, props.priority) == (2, job.priority), queue
            assert props.message_id == job.id
            assert job.log == f"logs/{job.id}/"
            assert job.id.startswith(job.context.replace("/", "-") + "-" + job.sha[:12] + "-")


NO_JOBS: dict[str, Any] = {queues.TASKS: [], "tasks.kvm": []}
PENDING = [(NETWORKING, "pending", NYT), ("unit-tests", "pending", NYT)]


def open_trusted_pr(stack: Stack) -> tuple[int, str]:
    pr = stack.control.open_pr(REPO, "fix", files={"a.c": "int a;\n"}, user="alice")
    stack.settle()
    return pr["number"], pr["head"]["sha"]


def test_opened_pr_gets_its_jobs_and_pending_statuses(stack: Stack) -> None:
    number, sha = open_trusted_pr(stack)
    check_jobs(stack.jobs(), expected_jobs(stack, sha, number))
    assert stack.statuses(sha) == PENDING
    assert stack.cancels() == []
    # The push of the branch (not in the map: dropped), `opened`, and the `status` events
    # of the bot's own posts (dropped), all accepted by the receiver.
    assert [(d["event"], d["status_code"]) for d in stack.control.deliveries()][1:] == [
        ("push", 202),
        ("pull_request", 202),
        ("status", 202),
        ("status", 202),
    ]


def test_redelivery_and_a_second_event_for_the_same_head_start_nothing(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    _, sha = open_trusted_pr(stack)
    assert len(stack.jobs()["tasks.kvm"]) == 1
    reader = open_reader()
    (opened,) = [
        d for d in reader.hook_deliveries(REPO) if d.event == "pull_request" and not d.redelivery
    ]
    caplog.set_level(logging.INFO, logger="tasks.bot")
    # GitHub's "Redeliver": the same GUID, through the hook deliveries API.
    reader.redeliver(REPO, opened)
    stack.settle()
    assert stack.jobs() == NO_JOBS
    assert stack.statuses(sha) == PENDING
    assert f"delivery {opened.guid} (pull_request) was already processed" in caplog.text
    # Another delivery (a new id) of the same head: deduplicated by (repo, sha, context).
    payload = next(
        d["request"]["payload"]
        for d in stack.control.deliveries("pull_request")
        if d["guid"] == opened.guid
    )
    stack.deliver("pull_request", payload)
    stack.settle()
    assert stack.jobs() == NO_JOBS
    assert stack.statuses(sha) == PENDING


def test_untrusted_pr_waits_for_a_trusted_test_command(stack: Stack) -> None:
    pr = stack.control.open_pr(REPO, "evil", files={"a.c": "$(rm -rf /)\n"}, user="mallory")
    number, sha = pr["number"], pr["head"]["sha"]
    stack.settle()
    manual = [(NETWORKING, "pending", MANUAL), ("unit-tests", "pending", MANUAL)]
    assert stack.statuses(sha) == manual
    assert stack.jobs() == NO_JOBS
    # The author cannot start her own code, nor can another outsider.
    stack.control.comment(REPO, number, "/test", user="mallory")
    stack.control.comment(REPO, number, "/test unit-tests", user="eve")
    stack.settle()
    assert stack.jobs() == NO_JOBS
    assert stack.statuses(sha) == manual
    # dave is a private org member: CONTRIBUTOR in the payload, trusted through the API.
    stack.control.comment(REPO, number, "/test", user="dave")
    stack.settle()
    check_jobs(stack.jobs(), expected_jobs(stack, sha, number))
    assert stack.statuses(sha) == PENDING + manual
    # A worker reports a failure; only a trusted /retest reruns it, and only that context.
    commit = stack.github.get_repo(REPO).get_commit(sha)
    commit.create_status("failure", description="2 tests failed", context="unit-tests")
    failed = [("unit-tests", "failure", "2 tests failed")]
    stack.control.comment(REPO, number, "/retest", user="mallory")
    stack.control.comment(REPO, number, "/retest", user="eve")
    stack.settle()
    assert stack.jobs() == NO_JOBS
    assert stack.statuses(sha) == failed + PENDING + manual
    stack.control.comment(REPO, number, "  /RETEST\r\nplease", user="dave")
    stack.settle()
    check_jobs(stack.jobs(), {**expected_jobs(stack, sha, number), "tasks.kvm": []})
    assert stack.statuses(sha) == [("unit-tests", "pending", NYT), *failed, *PENDING, *manual]


def test_push_to_the_pr_cancels_and_tests_the_new_head_and_closing_cancels(
    stack: Stack,
) -> None:
    number, first = open_trusted_pr(stack)
    stack.jobs()
    second = stack.control.push(REPO, {"a.c": "int b;\n"}, branch="fix", user="alice")
    assert second != first
    stack.settle()
    assert stack.cancels() == [Cancel(REPO, number, keep_sha=second, reason="new push")]
    check_jobs(stack.jobs(), expected_jobs(stack, second, number))
    assert stack.statuses(second) == PENDING
    assert stack.statuses(first) == PENDING
    assert [d["action"] for d in stack.control.deliveries("pull_request")] == [
        "opened",
        "synchronize",
    ]
    stack.control.close_pr(REPO, number, sender="alice")
    stack.settle()
    assert stack.cancels() == [Cancel(REPO, number, keep_sha=None, reason="pull request closed")]
    assert stack.jobs() == NO_JOBS


def test_push_to_a_mapped_branch_tests_it_without_a_pr(stack: Stack) -> None:
    sha = stack.control.push(REPO, {"b.c": "int c;\n"}, branch="main", user="alice")
    stack.settle()
    check_jobs(stack.jobs(), expected_jobs(stack, sha, None))
    assert stack.statuses(sha) == PENDING
    assert stack.cancels() == []


def test_job_messages_are_the_documented_json(stack: Stack) -> None:
    """The wire format a worker reads (docs/architecture.md, "The messages"), field by field."""
    _, sha = open_trusted_pr(stack)
    ((props, body),) = drain(stack.url, queues.TASKS)
    data = json.loads(body)
    assert set(data) == {
        *("id", "repo", "sha", "context", "command", "image", "clone_url", "capability"),
        *("pr", "base_ref", "env", "secrets", "timeout", "priority", "log", "created"),
    }
    assert (data["sha"], data["command"], props.content_type) == (
        sha,
        [".ci/run"],
        "application/json",
    )


def test_event_dead_lettered_on_a_4xx_is_processed_when_replayed_after_the_fix(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `/test` on a PR that GitHub did not know yet (404) dies; once the PR exists, the
    operator replays it and the bot runs what it asked for."""
    first, _ = open_trusted_pr(stack)
    stack.jobs()
    stack.control.comment(REPO, first, "/test", user="alice")
    stack.settle()
    stack.jobs()
    comment = stack.control.deliveries("issue_comment")[-1]["request"]["payload"]
    comment["issue"]["number"] = first + 1
    stack.deliver("issue_comment", comment)
    stack.settle()
    (dead,) = inspect([queues.WEBHOOK_DEAD])
    assert dead.depth == 1
    assert "reason: issue_comment: GitHub answered 404" in dead.lines[0]
    pr = stack.control.open_pr(REPO, "fix2", files={"b.c": "int b;\n"}, user="alice")
    assert pr["number"] == first + 1
    stack.settle()
    stack.jobs()
    assert main(["queue", "replay", queues.WEBHOOK_DEAD]) == 0
    assert capsys.readouterr().out.endswith("1 message(s) replayed\n")
    stack.replayed(1)
    stack.settle()
    # `/test` reruns every context of the new PR's head, though it has been queued already.
    check_jobs(stack.jobs(), expected_jobs(stack, pr["head"]["sha"], pr["number"]))
    (dead,) = inspect([queues.WEBHOOK_DEAD])
    assert dead.depth == 0


def test_ouro_tasks_run_scans_at_start_then_consumes_and_stops_on_sigterm(
    world: tuple[MockGitHubFixture, RunningReceiver, str],
) -> None:
    """The bot as an operator runs it. The PR is opened while no bot runs: the scan at
    start queues its jobs, and the waiting `opened` delivery then starts nothing more."""
    mock, _, url = world
    pr = mock.control.open_pr(REPO, "fix", files={"a.c": "int a;\n"}, user="alice")
    sha = pr["head"]["sha"]
    client = github.Github(base_url=mock.url, seconds_between_requests=None)
    commit = client.get_repo(REPO).get_commit(sha)

    def webhook_depth() -> int:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        try:
            declared = connection.channel().queue_declare(queues.WEBHOOK, passive=True)
            return int(declared.method.message_count)
        finally:
            connection.close()

    assert webhook_depth() == 2  # push and opened, waiting for the bot
    command = [sys.executable, "-m", "ouro", "bot"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        try:
            wait_until(
                lambda: (
                    [(s.context, s.description) for s in commit.get_statuses()]
                    == [(c, d) for c, _, d in PENDING]
                    and webhook_depth() == 0
                ),
                "the statuses of the scanned PR and an empty webhook queue",
            )
        finally:
            process.send_signal(signal.SIGTERM)
            _, log = process.communicate(timeout=WAIT)
    assert process.returncode == 0, log
    client.close()
    assert "scan: 2 job(s) queued" in log
    found = {q: [Job.from_json(b) for _, b in drain(url, q)] for q in (queues.TASKS, "tasks.kvm")}
    assert {q: [(j.context, j.sha, j.pr) for j in jobs] for q, jobs in found.items()} == {
        queues.TASKS: [("unit-tests", sha, pr["number"])],
        "tasks.kvm": [(NETWORKING, sha, pr["number"])],
    }
    # Left over at most: the `status` events of the bot's own posts, if it stopped first.
    left = [json.loads(b)["event"] for _, b in drain(url, queues.WEBHOOK)]
    assert set(left) <= {"status"}
