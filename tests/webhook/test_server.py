"""The receiver over real HTTP against the real broker: every response code of the contract."""

import json
import re
import socket
import uuid
from pathlib import Path

import pytest
import requests

from tests.fixtures_webhook import RunningReceiver
from tests.rabbitmq import drain
from webhook.server import MAX_BODY
from webhook.signature import sign


def headers(event: str = "push", delivery: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        **extra,
    }


def post_signed(
    hook: RunningReceiver, body: bytes, event: str = "push", **extra: str
) -> requests.Response:
    return requests.post(
        hook.url,
        data=body,
        headers=headers(event, **{"X-Hub-Signature-256": sign(hook.secret, body), **extra}),
        timeout=30,
    )


def raw_request(url: str, head: str) -> bytes:
    """Send `head` (request line and headers) and no body; the raw response."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode())
        response = b""
        while chunk := conn.recv(4096):
            response += chunk
    return response


def test_accepted_delivery_is_on_the_queue_as_received(
    webhook_receiver: RunningReceiver, amqp_url: str
) -> None:
    # Odd spacing and key order: the bot must get the bytes GitHub signed.
    body = b'{"zen": "Keep it logically awesome.",  "after": "\xc3\xa9", "n": 1.50}'
    delivery = str(uuid.uuid4())
    response = requests.post(
        webhook_receiver.url,
        data=body,
        headers=headers(
            "push", delivery, **{"X-Hub-Signature-256": sign(webhook_receiver.secret, body)}
        ),
        timeout=30,
    )
    assert response.status_code == 202
    [(props, message)] = drain(amqp_url)
    assert props.message_id == delivery
    assert props.delivery_mode == 2
    assert json.loads(message) == {
        "event": "push",
        "delivery": delivery,
        "request": {"zen": "Keep it logically awesome.", "after": "é", "n": 1.5},
    }
    assert message.endswith(b'"request": ' + body + b"}")


def test_fixture_deliver_signs_with_the_fixture_secret(
    webhook_receiver: RunningReceiver, amqp_url: str
) -> None:
    code, delivery = webhook_receiver.deliver("pull_request", {"action": "opened"})
    assert code == 202
    assert [props.message_id for props, _ in drain(amqp_url)] == [delivery]


def test_org_ping_without_repository_is_200_and_not_published(
    webhook_receiver: RunningReceiver, amqp_url: str
) -> None:
    code, _ = webhook_receiver.deliver("ping", {"zen": "Design for failure.", "hook_id": 1})
    assert code == 200
    assert drain(amqp_url) == []


def test_ignored_event_types_are_still_accepted(
    webhook_receiver: RunningReceiver, amqp_url: str
) -> None:
    code, delivery = webhook_receiver.deliver("star", {"action": "created"})
    assert code == 202
    assert [props.message_id for props, _ in drain(amqp_url)] == [delivery]


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(None, id="missing"),
        pytest.param(sign(b"some other secret", b"{}"), id="wrong-secret"),
        pytest.param(sign(b"test webhook secret", b"{ }"), id="tampered-body"),
        pytest.param("sha1=" + "0" * 40, id="sha1-prefix"),
        pytest.param("sha256=\xe9" + "0" * 63, id="non-ascii"),
    ],
)
def test_unsigned_or_badly_signed_is_401(
    webhook_receiver: RunningReceiver, amqp_url: str, signature: str | None
) -> None:
    extra = {"X-Hub-Signature-256": signature} if signature else {}
    response = requests.post(webhook_receiver.url, data=b"{}", headers=headers(**extra), timeout=30)
    assert response.status_code == 401
    assert drain(amqp_url) == []


def test_sha1_only_signature_is_401(webhook_receiver: RunningReceiver, amqp_url: str) -> None:
    # GitHub still sends X-Hub-Signature (HMAC-SHA1); it is not enough on its own.
    response = requests.post(
        webhook_receiver.url,
        data=b"{}",
        headers=headers(**{"X-Hub-Signature": "sha1=" + "0" * 40}),
        timeout=30,
    )
    assert response.status_code == 401
    assert drain(amqp_url) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"a": NaN}',
        b'{"a": 1e400}',
        b'{"a": "\\ud800"}',
        b"\xff\xfe{}",
        b'{"a": 1} {}',
        b"",
    ],
    ids=repr,
)
def test_signed_body_that_is_not_a_json_object_is_400(
    webhook_receiver: RunningReceiver, amqp_url: str, body: bytes
) -> None:
    assert post_signed(webhook_receiver, body).status_code == 400
    assert drain(amqp_url) == []


@pytest.mark.parametrize("missing", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_missing_github_header_is_400(
    webhook_receiver: RunningReceiver, amqp_url: str, missing: str
) -> None:
    body = b"{}"
    sent = headers(**{"X-Hub-Signature-256": sign(webhook_receiver.secret, body)})
    del sent[missing]
    response = requests.post(webhook_receiver.url, data=body, headers=sent, timeout=30)
    assert response.status_code == 400
    assert missing in response.text
    assert drain(amqp_url) == []


def test_body_over_25_mib_is_413_before_it_is_sent(webhook_receiver: RunningReceiver) -> None:
    # Only the headers go out: the receiver must answer from Content-Length alone.
    response = raw_request(
        webhook_receiver.url,
        "POST / HTTP/1.1\nHost: x\nX-GitHub-Event: push\nX-GitHub-Delivery: d\n"
        f"X-Hub-Signature-256: sha256=00\nContent-Length: {MAX_BODY + 1}\n\n",
    )
    assert response.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(
    ("length_header", "expected"),
    [("", b"411"), ("Transfer-Encoding: chunked\n", b"411"), ("Content-Length: -1\n", b"400")],
)
def test_missing_or_bad_content_length_is_refused(
    webhook_receiver: RunningReceiver, length_header: str, expected: bytes
) -> None:
    response = raw_request(
        webhook_receiver.url,
        f"POST / HTTP/1.1\nHost: x\nX-GitHub-Event: push\nX-GitHub-Delivery: d\n{length_header}\n",
    )
    assert response.startswith(b"HTTP/1.1 " + expected + b" ")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD"])
def test_other_methods_are_405(webhook_receiver: RunningReceiver, method: str) -> None:
    response = requests.request(method, webhook_receiver.url, timeout=30)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"


def test_healthz_is_ok_with_the_broker_up(webhook_receiver: RunningReceiver) -> None:
    response = requests.get(webhook_receiver.url + "healthz", timeout=30)
    assert response.status_code == 200


def test_metrics_count_deliveries_by_event_and_code(webhook_receiver: RunningReceiver) -> None:
    assert webhook_receiver.deliver("push", {})[0] == 202
    assert webhook_receiver.deliver("push", {})[0] == 202
    assert webhook_receiver.deliver("ping", {})[0] == 200
    unsigned = requests.post(
        webhook_receiver.url, data=b"{}", headers=headers("issues"), timeout=30
    )
    assert unsigned.status_code == 401
    response = requests.get(webhook_receiver.url + "metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = dict(re.findall(r"^(ouro_webhook_\S+) (\S+)$", response.text, flags=re.MULTILINE))
    assert float(samples['ouro_webhook_deliveries_total{code="202",event="push"}']) == 2
    assert float(samples['ouro_webhook_deliveries_total{code="200",event="ping"}']) == 1
    # Before the signature is checked the event name is not trusted with a series of its own.
    assert float(samples['ouro_webhook_deliveries_total{code="401",event="-"}']) == 1
    assert float(samples["ouro_webhook_publish_seconds_count"]) == 2
    assert float(samples['ouro_webhook_publish_seconds_bucket{le="+Inf"}']) == 2
    assert float(samples["ouro_webhook_publish_seconds_sum"]) > 0
    assert float(samples["ouro_webhook_broker_up"]) == 1


def test_secret_rotation_without_restart(
    webhook_receiver: RunningReceiver, amqp_url: str, tmp_path: Path
) -> None:
    old, new = webhook_receiver.secret, b"the new secret"
    body = b'{"action": "opened"}'

    def post_with(secret: bytes) -> int:
        return requests.post(
            webhook_receiver.url,
            data=body,
            headers=headers(**{"X-Hub-Signature-256": sign(secret, body)}),
            timeout=30,
        ).status_code

    assert (post_with(old), post_with(new)) == (202, 401)
    webhook_receiver.secret_file.write_bytes(old + b"\n" + new + b"\n")
    assert (post_with(old), post_with(new)) == (202, 202)
    # Rename into place, as a secret mount or `install` does.
    replacement = tmp_path / "replacement"
    replacement.write_bytes(new + b"\n")
    replacement.replace(webhook_receiver.secret_file)
    assert (post_with(old), post_with(new)) == (401, 202)
    assert len(drain(amqp_url)) == 4


def test_unknown_path_is_404(webhook_receiver: RunningReceiver) -> None:
    assert requests.get(webhook_receiver.url + "nope", timeout=30).status_code == 404
