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
from dataclasses import asdict
from typing import Any

import github
import pika
import pytest

from ouro import queues
from ouro.cli import main
from tasks.cancel import Cancel
from tasks.github_reader import open_reader
from tasks.job import Job
from tasks.queue_inspect import inspect
from tests.fixtures_mock_github import MockGitHubFixture
from tests.fixtures_webhook import RunningReceiver
from tests.rabbitmq import drain
from tests.tasks.bot_stack import MANUAL, NETWORKING, NYT, REPO, WAIT, Stack
from tests.waiting import wait_until


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
        # An ordinary test: no other revision, no image refresh.
        **dict.fromkeys(
            ("source_url", "source_sha", "tooling_url", "tooling_sha", "refresh"), None
        ),
        **dict.fromkeys(("push_branch", "issue"), None),
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
        *("source_url", "source_sha", "tooling_url", "tooling_sha", "refresh", "push_branch"),
        "issue",
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
    # The consumer publishes the dead letter once the bot's handler has returned.
    wait_until(lambda: inspect([queues.WEBHOOK_DEAD])[0].depth == 1, "the dead letter")
    (dead,) = inspect([queues.WEBHOOK_DEAD])
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
