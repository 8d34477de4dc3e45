"""The bot when GitHub is down, on a real RabbitMQ: a bounded number of attempts, then a
dead letter; and `ouro bot` as a process stops at once on SIGTERM even in the middle of the
GitHub adapter's backoff (issue 15: it took up to ~15 s)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ouro import amqp, consumer, poison, queues
from tasks.bot import Bot
from tasks.botstate import BotState
from tasks.forge import ForgeUnavailable, Status
from tests.rabbitmq import drain, free_port
from tests.tasks.bot_fakes import FakeGitHub, load_map, payload


class DownGitHub(FakeGitHub):
    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        self.membership_calls.append(("latest", repo))
        raise ForgeUnavailable('502 {"message": "Bad Gateway"}', 502)


def send(url: str, event: str, data: object, delivery: str) -> None:
    publisher = amqp.Publisher(url)
    body = json.dumps({"event": event, "delivery": delivery, "request": data}).encode()
    publisher.publish(queues.WEBHOOK, body, message_id=delivery)
    publisher.close()


def test_github_outage_is_retried_a_bounded_number_of_times_then_dead_lettered(
    amqp_url: str, tmp_path: Path
) -> None:
    github = DownGitHub()
    tmap = load_map()
    publisher = amqp.Publisher(amqp_url, capabilities=tmap.capabilities())
    state = BotState(tmp_path / "state.sqlite")
    stop = threading.Event()
    bot = Bot(
        tmap,
        statuses=github,
        reader=github,
        conversation=github,
        publisher=publisher,
        state=state,
        wait=stop.wait,
    )
    attempts: list[int] = []

    def handle(message: amqp.Message) -> amqp.Result:
        attempts.append(message.attempt)
        return bot.handle(message)

    send(amqp_url, "pull_request", payload("pull_request.opened"), "d-down")
    thread = threading.Thread(
        target=consumer.consume,
        args=([queues.WEBHOOK], handle),
        kwargs={"capabilities": tmap.capabilities(), "stop": stop, "crash_delay": 0.01},
    )
    thread.start()
    dead: list[tuple[str | None, str]] = []
    try:
        deadline = time.monotonic() + 60
        while not dead and time.monotonic() < deadline:
            time.sleep(0.1)
            dead += [
                (p.message_id, str(p.headers[poison.REASON_HEADER]))
                for p, _ in drain(amqp_url, queues.WEBHOOK_DEAD)
            ]
        # Not remembered as processed: a replay once GitHub is back runs it.
        assert not state.seen("d-down")
    finally:
        stop.set()
        thread.join(30)
        publisher.close()
        state.close()
    assert attempts == [1, 2, 3, 4, 5]
    assert dead == [
        ("d-down", 'pull_request: 502 {"message": "Bad Gateway"} (gave up after 5 attempts)')
    ]
    assert drain(amqp_url, queues.WEBHOOK) == []


@pytest.mark.faults
def test_sigterm_during_a_github_outage_stops_the_bot_at_once(
    amqp_url: str, tmp_path: Path
) -> None:
    port = free_port()
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    env = {
        **os.environ,
        "AMQP_URL": amqp_url,
        # Nothing listens there: every GitHub call fails at once and is retried 1, 2, 4, 8 s.
        "GITHUB_API_URL": f"http://127.0.0.1:{port}",
        "GITHUB_TOKEN_FILE": str(token),
        "OURO_STATE_DIR": str(tmp_path / "state"),
        "OURO_TESTMAP": str(Path(__file__).parent / "payloads" / "testmap.yaml"),
    }
    send(amqp_url, "pull_request", payload("pull_request.opened"), "d-sigterm")
    lines: list[str] = []
    command = [sys.executable, "-m", "ouro", "bot", "--no-scan"]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(process.stderr or []))
        reader.start()
        deadline = time.monotonic() + 60
        while not any("retrying in 2s" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        # In the middle of the backoff: 2 + 4 + 8 s of it are left.
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, "".join(lines)
        stopped = time.monotonic() - signalled
        reader.join(10)
    print(f"\nbot stopped {stopped:.2f} s after SIGTERM during a GitHub outage")
    assert stopped < 3, "".join(lines)
    # The event is not lost: back on its queue, the attempt counted.
    ((props, _),) = drain(amqp_url, queues.WEBHOOK)
    assert props.message_id == "d-sigterm"
    assert props.headers[poison.ATTEMPTS_HEADER] == 1
