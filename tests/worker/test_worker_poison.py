"""Poison messages and jobs that cannot run, against `ouro worker` processes with a real
RabbitMQ, mock-github and images-server (issue 15).

A job message with `created: "soon"` or null, `secrets: [5]`, nesting 1000 deep, bytes
that are not UTF-8… came back to the worker every 5 s for ever; a deeply nested cancel made
every worker exit. Now each is dead-lettered at once and the workers go on. A job that
cannot run for the worker's reasons (a secret it lacks) ends `error` saying why and is
kept in `tasks.dead`, from where `ouro queue replay` runs it once the cause is fixed.
"""

import json
import time

import pika
import pytest

from ouro import amqp, poison, queues
from ouro.cli import main
from tests.rabbitmq import drain
from tests.waiting import wait_until
from tests.worker import test_acceptance
from tests.worker.helpers import queue_depth
from tests.worker.test_acceptance import Stack

# The acceptance tests' fixture: worker processes with a real broker, GitHub and store.
stack = test_acceptance.stack

pytestmark = pytest.mark.faults


def publish_raw(stack: Stack, body: bytes, message_id: str, exchange: str = "") -> None:
    publisher = amqp.Publisher(stack.rabbitmq.url)
    routing = "" if exchange else queues.TASKS
    publisher.publish(routing, body, message_id=message_id, exchange=exchange)
    publisher.close()


def test_poison_job_messages_are_dead_lettered_at_once_and_the_worker_goes_on(
    stack: Stack,
) -> None:
    worker = stack.worker("wa", "--direct")
    template = json.loads(stack.job().to_json())
    deep = "[" * 1000 + "]" * 1000
    bodies = {
        "created-soon": {**template, "created": "soon"},
        "created-null": {**template, "created": None},
        "secrets-5": {**template, "secrets": [5]},
        "lone-surrogate": {**template, "context": "unit-\ud800"},
    }
    raw = {name: json.dumps(body).encode() for name, body in bodies.items()}
    raw["nested-1000"] = json.dumps(template).replace('"env": {}', f'"env": {deep}').encode()
    raw["not-utf8"] = json.dumps(template).encode().replace(b"unit-tests", b"unit-\xff")
    raw["not-json"] = b"\x00garbage"
    for name, body in raw.items():
        publish_raw(stack, body, name)
    good = stack.job()
    assert stack.final(good)[:2] == ("success", "Success [wa]")
    wait_until(lambda: queue_depth(stack.rabbitmq, "tasks.dead")[0] == len(raw), "dead letters")
    dead = {p.message_id: p for p, _ in drain(stack.rabbitmq.url, queues.TASKS_DEAD)}
    assert set(dead) == set(raw)
    for props in dead.values():
        assert str(props.headers[poison.REASON_HEADER]).startswith("malformed job: ")
        # At once: no retries for what cannot succeed.
        assert props.headers[poison.ATTEMPTS_HEADER] == 1
    assert "created must be a number" in str(dead["created-soon"].headers[poison.REASON_HEADER])
    assert "nested too deeply" in str(dead["nested-1000"].headers[poison.REASON_HEADER])
    assert worker.poll() is None
    assert queue_depth(stack.rabbitmq, "tasks") == (0, 0)


def test_a_deeply_nested_cancel_stops_no_worker(stack: Stack) -> None:
    workers = [stack.worker("wa", "--direct"), stack.worker("wb", "--direct")]
    # Both bound to the fanout: each has its own cancel queue.
    wait_until(lambda: fanout_queues(stack) == 2, "both cancel queues")
    nested = b'{"repo": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    publish_raw(stack, nested, "cancel-deep", exchange=queues.CANCEL_EXCHANGE)
    publish_raw(stack, b'{"repo": "\xff"}', "cancel-bytes", exchange=queues.CANCEL_EXCHANGE)
    # Each worker keeps its copy of each (before the fix: both workers exited).
    wait_until(
        lambda: dead_cancels(stack) == 4 or any(w.poll() is not None for w in workers),
        "the dead cancels",
    )
    time.sleep(0.5)
    assert [w.poll() for w in workers] == [None, None]
    assert dead_cancels(stack) == 4
    reasons = {
        str(p.headers[poison.REASON_HEADER]) for p, _ in drain(stack.rabbitmq.url, "cancel.dead")
    }
    assert reasons == {
        "malformed cancel message: cancel message is nested too deeply (deeper than 64 levels)",
        "malformed cancel message: cancel message is not JSON: str is not valid UTF-8: "
        "surrogates not allowed: line 1 column 1 (char 0)",
    }
    # They still work, and still cancel.
    job = stack.job(command=["sh", "-c", "echo started; sleep 120"], pr=9)
    stack.started(job)
    publish_raw(
        stack,
        json.dumps({"repo": job.repo, "pr": 9, "keep_sha": None, "reason": "closed"}).encode(),
        "cancel-ok",
        exchange=queues.CANCEL_EXCHANGE,
    )
    assert stack.final(job)[:2] == ("error", "Cancelled")


def dead_cancels(stack: Stack) -> int:
    listing = stack.rabbitmq.ctl("list_queues", "name", "messages", "--no-table-headers")
    found = [line.split() for line in listing.splitlines()]
    return next((int(count) for name, count in found if name == queues.CANCEL_DEAD), 0)


def fanout_queues(stack: Stack) -> int:
    listing = stack.rabbitmq.ctl("list_bindings", "source_name", "--no-table-headers")
    return sum(1 for line in listing.splitlines() if line.strip() == queues.CANCEL_EXCHANGE)


def test_job_that_cannot_run_says_why_and_runs_when_replayed_after_the_fix(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.worker("wa", "--direct")
    job = stack.job(secrets=["token", "deploy-key"])
    url = stack.log_url(job)
    assert stack.final(job) == ("error", "Secret 'deploy-key' not configured [wa]", url)
    assert "Secret 'deploy-key' not configured" in stack.file(job, "log").decode()
    wait_until(lambda: queue_depth(stack.rabbitmq, "tasks.dead") == (1, 0), "the dead letter")
    # `ouro queue` reads AMQP_URL, set by the fixture.
    assert main(["queue", "inspect", "tasks.dead"]) == 0
    shown = capsys.readouterr().out
    assert f"  {job.id}  {job.repo} " in shown
    assert f"reason: job {job.id}: Secret 'deploy-key' not configured [wa]" in shown
    # The operator configures the secret, then replays.
    (stack.secrets / "deploy-key").write_text("a-deploy-key-value\n")
    assert main(["queue", "replay", "tasks.dead"]) == 0
    assert capsys.readouterr().out.endswith("1 message(s) replayed\n")
    wait_until(lambda: stack.statuses(job)[-1][0] == "success", "the replayed job")
    assert stack.statuses(job)[-2:] == [
        ("pending", "In progress [wa]", url),
        ("success", "Success [wa]", url),
    ]
    assert queue_depth(stack.rabbitmq, "tasks.dead") == (0, 0)


def test_replay_puts_jobs_back_on_their_own_queue(stack: Stack) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(stack.rabbitmq.url))
    queues.declare(connection.channel(), (None, "kvm"))
    connection.close()
    publisher = amqp.Publisher(stack.rabbitmq.url, capabilities=(None, "kvm"))
    publisher.publish(
        "tasks.kvm.dead",
        b"{}",
        message_id="k1",
        priority=7,
        headers={poison.REASON_HEADER: "why", poison.ATTEMPTS_HEADER: 5, "x-other": "kept"},
    )
    publisher.close()
    assert main(["queue", "replay", "tasks.kvm.dead"]) == 0
    ((props, body),) = drain(stack.rabbitmq.url, "tasks.kvm")
    assert (props.message_id, props.priority, body) == ("k1", 7, b"{}")
    # A replayed job gets all its attempts again.
    assert props.headers == {"x-other": "kept"}
