"""The bot, `ouro queue inspect` and `ouro queue replay` against a real RabbitMQ (GitHub
faked: the acceptance tests with mock-github and the real receiver live in
test_bot_integration.py)."""

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ouro import amqp, consumer, poison, queues
from ouro.cli import main
from tasks.bot import Bot
from tasks.botstate import BotState
from tasks.job import Job
from tasks.queue_inspect import inspect
from tests.rabbitmq import RabbitMQ, drain
from tests.tasks.bot_fakes import FakeGitHub, load_map, payload
from tests.waiting import wait_until


def send(url: str, event: str, data: object, delivery: str) -> None:
    publisher = amqp.Publisher(url)
    body = json.dumps({"event": event, "delivery": delivery, "request": data}).encode()
    publisher.publish(queues.WEBHOOK, body, message_id=delivery)
    publisher.close()


class RunningBot:
    def __init__(self, url: str, state_path: Path):
        self.github = FakeGitHub()
        tmap = load_map()
        self.publisher = amqp.Publisher(url, capabilities=tmap.capabilities())
        self.state = BotState(state_path)
        self.handled = threading.Semaphore(0)
        self.stop = threading.Event()
        self.bot = Bot(
            tmap,
            statuses=self.github,
            reader=self.github,
            conversation=self.github,
            publisher=self.publisher,
            state=self.state,
            wait=self.stop.wait,
        )

        def handle(message: amqp.Message) -> amqp.Result:
            try:
                return self.bot.handle(message)
            finally:
                self.handled.release()

        self.thread = threading.Thread(
            target=consumer.consume,
            args=([queues.WEBHOOK], handle),
            kwargs={"url": url, "capabilities": tmap.capabilities(), "stop": self.stop},
        )
        self.thread.start()

    def wait(self, count: int) -> None:
        for _ in range(count):
            assert self.handled.acquire(timeout=30), "the bot did not handle the message"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.publisher.close()
        self.state.close()


@pytest.fixture
def running_bot(amqp_url: str, tmp_path: Path) -> Iterator[RunningBot]:
    bot = RunningBot(amqp_url, tmp_path / "state.sqlite")
    yield bot
    bot.close()


def test_jobs_reach_their_queues_once(amqp_url: str, running_bot: RunningBot) -> None:
    send(amqp_url, "pull_request", payload("pull_request.opened"), "d-1")
    send(amqp_url, "pull_request", payload("pull_request.opened"), "d-1")
    send(amqp_url, "pull_request", payload("pull_request.reopened"), "d-2")
    running_bot.wait(3)
    running_bot.close()
    (plain,) = drain(amqp_url, queues.TASKS)
    (kvm,) = drain(amqp_url, "tasks.kvm")
    assert Job.from_json(plain[1]).context == "unit-tests"
    assert (Job.from_json(kvm[1]).context, kvm[0].priority) == ("fedora-41/networking", 7)
    assert kvm[0].delivery_mode == 2
    assert drain(amqp_url, queues.WEBHOOK) == []
    assert len(running_bot.github.posted) == 2


def test_garbage_is_dead_lettered_not_redelivered(amqp_url: str, running_bot: RunningBot) -> None:
    publisher = amqp.Publisher(amqp_url)
    publisher.publish(queues.WEBHOOK, b"\x00garbage", message_id="g-1")
    publisher.close()
    send(amqp_url, "push", {"ref": "refs/heads/main"}, "g-2")
    send(amqp_url, "push", payload("push.main"), "ok-1")
    running_bot.wait(3)
    running_bot.close()
    dead = drain(amqp_url, queues.WEBHOOK_DEAD)
    assert [(p.message_id, p.headers[poison.REASON_HEADER]) for p, _ in dead] == [
        (
            "g-1",
            "message is not JSON: unexpected character, expected a JSON value: "
            "line 1 column 1 (char 0)",
        ),
        ("g-2", "push: missing field repository"),
    ]
    assert dead[0][1] == b"\x00garbage"
    assert len(drain(amqp_url, queues.TASKS)) == 1
    assert drain(amqp_url, queues.WEBHOOK) == []


def test_queue_inspect_shows_jobs_without_consuming_or_reordering(
    amqp_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    publisher = amqp.Publisher(amqp_url)
    for i, priority in enumerate([1, 9, 5]):
        job = Job(
            id=f"j{i}",
            repo="o/r",
            sha="a" * 40,
            context=f"c{i}",
            command=["make", "check", "ARGS=a b; $(x)"],
            image="img",
            clone_url="https://example.org/o/r.git",
            pr=7,
            base_ref="main",
            priority=priority,
        )
        publisher.publish(queues.TASKS, job.to_json(), message_id=job.id, priority=priority)
    publisher.publish(
        queues.WEBHOOK_DEAD, b"x", message_id="dead-1", headers={poison.REASON_HEADER: "why"}
    )
    publisher.close()
    (view,) = inspect([queues.TASKS], url=amqp_url)
    assert view.depth == 3
    # Quorum queues on RabbitMQ 3 keep publishing order (no priorities).
    assert [line.split()[0] for line in view.lines] == ["j0", "j1", "j2"]
    assert view.lines[0].endswith("\n    $ make check 'ARGS=a b; $(x)'")
    assert "o/r #7  c1  prio 9  age " in view.lines[1]
    assert main(["queue", "inspect", queues.WEBHOOK_DEAD, "no-such-queue"]) == 0
    out = capsys.readouterr().out
    assert "webhook.dead: 1 message(s), 0 consumer(s)\n  dead-1  (not JSON)" in out
    assert "reason: why" in out
    assert "no-such-queue: 0 message(s)" in out
    assert "NOT_FOUND" in out
    # Nothing was consumed and the order is intact.
    assert [p.message_id for p, _ in drain(amqp_url, queues.TASKS)] == ["j0", "j1", "j2"]
    assert len(drain(amqp_url, queues.WEBHOOK_DEAD)) == 1


def dead_letter_two(amqp_url: str, running_bot: RunningBot) -> None:
    """Two messages that the real bot dead-letters; the bot is stopped afterwards, so that
    what is replayed stays on the webhook queue to be looked at."""
    publisher = amqp.Publisher(amqp_url)
    publisher.publish(queues.WEBHOOK, b"\x00garbage", message_id="g-1")
    publisher.close()
    send(amqp_url, "push", {"ref": "refs/heads/main"}, "g-2")
    running_bot.wait(2)
    running_bot.close()


def test_replay_moves_dead_letters_back_once(
    amqp_url: str, running_bot: RunningBot, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter_two(amqp_url, running_bot)
    (dead,) = inspect([queues.WEBHOOK_DEAD], url=amqp_url)
    assert dead.depth == 2
    assert main(["queue", "replay", queues.WEBHOOK_DEAD]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("replayed  g-1  (not JSON)  age ")
    assert lines[0].endswith(
        "reason: message is not JSON: unexpected character, expected a JSON value: "
        "line 1 column 1 (char 0)"
    )
    assert lines[1].startswith("replayed  g-2  push  age ")
    assert lines[1].endswith("reason: push: missing field repository")
    assert lines[2] == "2 message(s) replayed"
    (dead,) = inspect([queues.WEBHOOK_DEAD], url=amqp_url)
    assert dead.depth == 0
    # Nothing left to replay: a second run moves nothing, and duplicates nothing.
    assert main(["queue", "replay", queues.WEBHOOK_DEAD]) == 0
    assert capsys.readouterr().out == "0 message(s) replayed\n"
    replayed = drain(amqp_url, queues.WEBHOOK)
    assert [(p.message_id, p.headers) for p, _ in replayed] == [("g-1", None), ("g-2", None)]
    assert replayed[0][1] == b"\x00garbage"
    assert json.loads(replayed[1][1])["delivery"] == "g-2"
    assert [(p.delivery_mode, p.content_type) for p, _ in replayed] == [(2, "application/json")] * 2


def test_replayed_delivery_is_processed_again_not_dropped_as_seen(
    amqp_url: str, running_bot: RunningBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead_letter_two(amqp_url, running_bot)
    assert main(["queue", "replay", queues.WEBHOOK_DEAD, "--limit", "1"]) == 0
    # The first one only; the other stays dead.
    (dead,) = inspect([queues.WEBHOOK_DEAD], url=amqp_url)
    assert dead.depth == 1
    assert main(["queue", "replay", queues.WEBHOOK_DEAD]) == 0
    # A bot with the same state: it processes both again (their cause is not fixed here,
    # so they die again), rather than dropping g-2 as a delivery processed before.
    again = RunningBot(amqp_url, tmp_path / "state.sqlite")
    try:
        again.wait(2)
    finally:
        again.close()
    assert "already processed" not in caplog.text
    dead_again = drain(amqp_url, queues.WEBHOOK_DEAD)
    assert [p.message_id for p, _ in dead_again] == ["g-1", "g-2"]
    assert drain(amqp_url, queues.WEBHOOK) == []


def test_replay_refuses_other_queues(amqp_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    send(amqp_url, "push", payload("push.main"), "ok-1")
    assert main(["queue", "replay", queues.WEBHOOK]) == 1
    assert main(["queue", "replay", queues.TASKS]) == 1
    err = capsys.readouterr().err
    assert "cannot replay 'webhook': only dead-letter queues can be replayed" in err
    assert "cannot replay 'tasks'" in err
    assert main(["queue", "replay", queues.WEBHOOK_DEAD, "--limit", "0"]) == 1
    assert len(drain(amqp_url, queues.WEBHOOK)) == 1


def test_a_refused_replay_leaves_the_dead_letters_where_they_were(
    amqp_url: str,
    rabbitmq: RabbitMQ,
    running_bot: RunningBot,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Read on one connection, published on another: a publish the broker refuses (here a
    policy that lets at most nothing into `webhook`; a quorum queue still takes one message
    when empty) leaves that message unacked, so it is back in the dead queue, and the replay
    stops there."""
    dead_letter_two(amqp_url, running_bot)
    rule = json.dumps({"max-length": 0, "overflow": "reject-publish"})
    rabbitmq.ctl("set_policy", "refuse-webhook", "^webhook$", rule, "--apply-to", "queues")
    try:
        wait_until(
            lambda: "refuse-webhook" in rabbitmq.ctl("list_queues", "name", "policy"),
            "the policy on the webhook queue",
        )
        assert main(["queue", "replay", queues.WEBHOOK_DEAD]) == 1
    finally:
        rabbitmq.ctl("clear_policy", "refuse-webhook")
    captured = capsys.readouterr()
    moved = [line.split()[1] for line in captured.out.splitlines()]
    refused = captured.err.strip().removeprefix("broker refused message ")
    assert refused in ("g-1", "g-2")
    assert refused not in moved
    assert [p.message_id for p, _ in drain(amqp_url, queues.WEBHOOK)] == moved
    left = [p.message_id for p, _ in drain(amqp_url, queues.WEBHOOK_DEAD)]
    assert sorted(left + moved) == ["g-1", "g-2"]
