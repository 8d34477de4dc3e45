"""No loss across a broker restart, and no client able to hold up the others."""

import contextlib
import json
import select
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fixtures_webhook import RunningReceiver, post_signed, start_receiver, stop_receiver
from tests.rabbitmq import RabbitMQ, drain
from webhook.signature import sign

SECRET = b"resilience secret"


@pytest.fixture
def receiver_on_private_broker(
    private_rabbitmq: RabbitMQ, tmp_path: Path
) -> Iterator[RunningReceiver]:
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET)
    receiver, thread = start_receiver(private_rabbitmq.url, secret_file)
    yield RunningReceiver(receiver.url, SECRET, secret_file, receiver)
    stop_receiver(receiver, thread)


def post(url: str, delivery: str) -> int:
    body = json.dumps({"action": "synchronize", "n": delivery}).encode()
    return post_signed(url, SECRET, "pull_request", body, delivery)


@pytest.mark.faults
def test_no_accepted_delivery_is_lost_across_a_broker_restart(
    receiver_on_private_broker: RunningReceiver, private_rabbitmq: RabbitMQ
) -> None:
    url = receiver_on_private_broker.url
    # (delivery, code, sent after the broker was down, answered before it came back)
    results: list[tuple[str, int, bool, bool]] = []
    broker_down = threading.Event()
    broker_starting = threading.Event()
    stop = threading.Event()

    def sender() -> None:
        while not stop.is_set():
            delivery = str(uuid.uuid4())
            during = broker_down.is_set()
            code = post(url, delivery)
            results.append((delivery, code, during, not broker_starting.is_set()))
            if code == 503:
                # Outage: pace the retries rather than spin two cores.
                time.sleep(0.02)

    def accepted() -> int:
        return sum(1 for r in results if r[1] == 202)

    senders = [threading.Thread(target=sender) for _ in range(4)]
    for thread in senders:
        thread.start()
    try:
        while accepted() < 100:
            time.sleep(0.05)
        private_rabbitmq.stop()
        broker_down.set()
        while not any(r[2] and r[3] for r in results):
            time.sleep(0.05)
        health = requests.get(url + "healthz", timeout=30)
        broker_starting.set()
        private_rabbitmq.start()
        broker_back = time.monotonic()
        recovered_from = accepted()
        while accepted() == recovered_from:
            time.sleep(0.01)
        recovery = time.monotonic() - broker_back
        while accepted() < recovered_from + 100:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in senders:
            thread.join()

    assert health.status_code == 503
    during_outage = [
        code for _, code, sent_down, answered_down in results if sent_down and answered_down
    ]
    assert during_outage
    assert set(during_outage) == {503}
    assert {code for _, code, _, _ in results} <= {202, 503}
    queued = Counter(props.message_id for props, _ in drain(private_rabbitmq.url))
    accepted_ids = {delivery for delivery, code, _, _ in results if code == 202}
    lost = [delivery for delivery in accepted_ids if queued[delivery] == 0]
    print(
        f"\nbroker restarted under load: {len(accepted_ids)} deliveries accepted, "
        f"{len(lost)} lost, {sum(1 for n in queued.values() if n > 1)} duplicated, "
        f"{sum(1 for _, code, _, _ in results if code == 503)} answered 503; "
        f"first 202 {recovery:.2f} s after the broker was back"
    )
    assert all(queued[delivery] == 1 for delivery in accepted_ids)
    # A 503 may hide a message the broker did store (the confirm was lost); never twice.
    assert set(queued) <= {delivery for delivery, _, _, _ in results}
    assert max(queued.values()) == 1
    assert requests.get(url + "healthz", timeout=30).status_code == 200


@pytest.mark.faults
def test_slow_client_does_not_hold_up_another_delivery(
    webhook_receiver: RunningReceiver,
) -> None:
    host, port = webhook_receiver.url.removeprefix("http://").rstrip("/").split(":")
    body = json.dumps({"action": "opened", "padding": "x" * 2000}).encode()
    head = (
        "POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: pull_request\r\n"
        "X-GitHub-Delivery: slow\r\n"
        f"X-Hub-Signature-256: {sign(webhook_receiver.secret, body)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    release = threading.Event()
    trickling = threading.Event()
    replies: list[bytes] = []

    def slow_client() -> None:
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall(head)
            sent = 0
            while not release.is_set():
                conn.sendall(body[sent : sent + 3])
                sent += 3
                if sent >= 6:
                    trickling.set()
                release.wait(0.5)
            conn.sendall(body[sent:])
            replies.append(conn.recv(4096))

    slow = threading.Thread(target=slow_client)
    slow.start()
    try:
        assert trickling.wait(30)
        assert webhook_receiver.deliver("push", {"fast": True})[0] == 202
        # The fast one is done while the slow body is still incomplete.
        assert not replies
        assert slow.is_alive()
    finally:
        release.set()
        slow.join()
    assert replies[0].startswith(b"HTTP/1.1 202 ")


def test_client_trickling_its_body_past_the_deadline_gets_408(
    amqp_url: str, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET)
    receiver, thread = start_receiver(amqp_url, secret_file, body_deadline=1.0)
    host, port = receiver.url.removeprefix("http://").rstrip("/").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
                b"X-GitHub-Delivery: trickle\r\nContent-Length: 1000\r\n\r\n"
            )
            reply = b""
            # Three bytes every 0.2 s would take 66 s; the receiver gives up first.
            while not reply:
                # Once the receiver has answered and closed, a send may fail; the answer
                # is still there to read.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    conn.sendall(b"{  ")
                ready, _, _ = select.select([conn], [], [], 0.2)
                if ready:
                    reply = conn.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408 ")
    finally:
        stop_receiver(receiver, thread)
