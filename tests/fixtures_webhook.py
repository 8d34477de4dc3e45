"""`webhook_receiver`: the real receiver, in-process on a free port, against the test broker.

Other components' tests (tasks bot, mock-github) post signed deliveries to `.url`
with `.deliver(...)` or with their own client and `.secret`.
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ouro.secretfile import SecretFile
from webhook.broker import Broker
from webhook.server import BODY_DEADLINE, Receiver
from webhook.signature import sign


@dataclass
class RunningReceiver:
    url: str
    secret: bytes
    secret_file: Path
    receiver: Receiver

    def deliver(self, event: str, payload: Any, delivery: str | None = None) -> tuple[int, str]:
        """POST `payload` as GitHub would, signed with `.secret`; (status code, delivery id)."""
        delivery = delivery or str(uuid.uuid4())
        body = json.dumps(payload).encode()
        return post_signed(self.url, self.secret, event, body, delivery), delivery


def post_signed(
    url: str,
    secret: bytes,
    event: str,
    body: bytes,
    delivery: str,
    *,
    session: requests.Session | None = None,
) -> int:
    """POST `body` to a receiver as GitHub would, signed with `secret`; the status code."""
    response = (session or requests).post(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(secret, body),
        },
        timeout=30,
    )
    return response.status_code


def run_receiver(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`ouro webhook` as an operator starts it, on 127.0.0.1:`port` with `env` added to this
    environment and its log in file `log`; returns once /healthz answers 200 (the broker
    reached)."""
    command = [sys.executable, "-m", "ouro", "webhook", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as stderr:
        process = subprocess.Popen(command, env={**os.environ, **env}, stderr=stderr)
    url = f"http://127.0.0.1:{port}/healthz"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return process
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError(f"the receiver did not become ready: {log.read_text()[-2000:]}")
        time.sleep(0.2)


def start_receiver(
    url: str,
    secret_file: Path,
    body_deadline: float = BODY_DEADLINE,
    shadow_exchange: str | None = None,
) -> tuple[Receiver, threading.Thread]:
    """A receiver serving on its own thread (mirroring to `shadow_exchange` if given); stop
    with `stop_receiver`."""
    receiver = Receiver(
        SecretFile(secret_file, "webhook secret"),
        Broker(url, shadow_exchange=shadow_exchange),
        body_deadline=body_deadline,
    )
    # Connects and declares the queues, so tests can read `webhook` before the first delivery.
    receiver.broker.up()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    return receiver, thread


def stop_receiver(receiver: Receiver, thread: threading.Thread) -> None:
    receiver.shutdown()
    thread.join()


@pytest.fixture
def webhook_receiver(amqp_url: str, tmp_path: Path) -> Iterator[RunningReceiver]:
    secret = b"test webhook secret"
    secret_file = tmp_path / "webhook.secret"
    secret_file.write_bytes(secret + b"\n")
    receiver, thread = start_receiver(amqp_url, secret_file)
    yield RunningReceiver(receiver.url, secret, secret_file, receiver)
    stop_receiver(receiver, thread)
