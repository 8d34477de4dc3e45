"""The receiver's mirror to a shadow exchange, against the real broker: every accepted
delivery is copied there, and a mirror that fails is counted and logged while production
still gets its 202 and its message."""

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ouro import amqp, queues
from tests.fixtures_webhook import RunningReceiver, start_receiver, stop_receiver
from tests.rabbitmq import drain


@pytest.fixture
def exchange() -> str:
    # Exchanges outlive the queues the shared broker's fixture empties: one per test.
    return f"shadow-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def mirroring(amqp_url: str, tmp_path: Path, exchange: str) -> Iterator[RunningReceiver]:
    secret = b"shadow test secret"
    secret_file = tmp_path / "webhook.secret"
    secret_file.write_bytes(secret + b"\n")
    receiver, thread = start_receiver(amqp_url, secret_file, shadow_exchange=exchange)
    yield RunningReceiver(receiver.url, secret, secret_file, receiver)
    stop_receiver(receiver, thread)


def mirrored(hook: RunningReceiver, expected: dict[str, float]) -> dict[str, float]:
    """The mirror counters, once they equal `expected` (a mirror's confirm or failure comes
    after the 202) or after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        text = requests.get(hook.url + "metrics", timeout=30).text
        series = r'^ouro_webhook_shadow_mirrored_total\{result="(\w+)"\} (\S+)$'
        found = {r: float(v) for r, v in re.findall(series, text, re.MULTILINE)}
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def declare(url: str, exchange: str, queue: str | None = None, kind: str = "fanout") -> None:
    connection = amqp.connect(url)
    try:
        if kind == "fanout":
            queues.declare_shadow(connection.channel(), exchange, queue)
        else:
            connection.channel().exchange_declare(exchange, exchange_type=kind)
    finally:
        connection.close()


def test_accepted_deliveries_are_mirrored_byte_for_byte(
    mirroring: RunningReceiver, amqp_url: str, exchange: str
) -> None:
    declare(amqp_url, exchange, "shadow-test")
    sent = [mirroring.deliver("push", {"n": n}) for n in range(3)]
    assert [code for code, _ in sent] == [202] * 3
    # Refused, so not accepted, so not mirrored either.
    assert requests.post(mirroring.url, data=b"{}", timeout=30).status_code == 400
    assert mirrored(mirroring, {"ok": 3}) == {"ok": 3}
    production = {p.message_id: body for p, body in drain(amqp_url)}
    # In any order: a mirror is published after the answer, so the first one may still wait
    # for the mirror's connection while the next delivery's goes straight out.
    shadow = {p.message_id: (p, body) for p, body in drain(amqp_url, "shadow-test")}
    assert sorted(shadow) == sorted(delivery for _, delivery in sent)
    assert {d: body for d, (_, body) in shadow.items()} == production
    requests_seen = [json.loads(shadow[d][1])["request"] for _, d in sent]
    assert requests_seen == [{"n": n} for n in range(3)]
    assert {p.delivery_mode for p, _ in shadow.values()} == {2}


def test_a_mirror_nobody_listens_to_is_counted_not_refused(
    mirroring: RunningReceiver, amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # No queue is bound to the exchange: the mirror publish comes back unroutable.
    code, delivery = mirroring.deliver("push", {"n": 1})
    assert code == 202
    assert [p.message_id for p, _ in drain(amqp_url)] == [delivery]
    assert mirrored(mirroring, {"failed": 1}) == {"failed": 1}
    assert f"delivery {delivery} not mirrored to the shadow" in caplog.text


def test_an_exchange_that_cannot_be_declared_costs_production_nothing(
    amqp_url: str, tmp_path: Path, exchange: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Someone else's exchange of another type has the name: every declare of ours fails.
    declare(amqp_url, exchange, kind="direct")
    secret_file = tmp_path / "webhook.secret"
    secret_file.write_bytes(b"s\n")
    receiver, thread = start_receiver(amqp_url, secret_file, shadow_exchange=exchange)
    hook = RunningReceiver(receiver.url, b"s", secret_file, receiver)
    try:
        sent = [hook.deliver("push", {"n": n}) for n in range(2)]
        assert [code for code, _ in sent] == [202, 202]
        assert mirrored(hook, {"failed": 2}) == {"failed": 2}
    finally:
        stop_receiver(receiver, thread)
    assert [p.message_id for p, _ in drain(amqp_url)] == [delivery for _, delivery in sent]
    assert f"cannot declare shadow exchange {exchange}" in caplog.text
