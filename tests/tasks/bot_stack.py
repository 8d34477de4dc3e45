"""The bot's acceptance stack, shared by the tests that drive it: mock-github delivers
signed webhooks to the real receiver, which publishes to a real RabbitMQ; the real bot
(its `ouro bot` wiring, on a thread) consumes them, posts statuses to the mock over HTTP
and publishes jobs. The fixtures `world` and `stack` are registered in conftest.py.

"Settled" means the bot has handled every delivery the receiver accepted (202): the
mock's control calls return after their deliveries were answered, and the receiver
answers 202 only once the message is on the broker, so the count is exact.
"""

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pika
import pytest

from ouro import amqp, consumer, queues
from tasks import testmap
from tasks.bot import Bot
from tasks.botstate import BotState
from tasks.cancel import Cancel
from tasks.github import open_statuses
from tasks.github_conversation import open_conversation
from tasks.github_reader import open_reader
from tasks.job import Job
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
            conversation=open_conversation(),
            publisher=self.publisher,
            state=self.state,
            wait=self.stop.wait,
        )
        self.thread = threading.Thread(
            target=consumer.consume,
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

    def _handle(self, message: amqp.Message) -> amqp.Result:
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
