"""Hostile requests at the receiver's HTTP edges, through the real receiver and a real broker.

Each of these had no answer, or the wrong one, from the threaded receiver this one
replaced (docs/webhook.md, "What it answers" and "Limits").
"""

import json
import selectors
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fixtures_webhook import (
    RunningReceiver,
    post_signed,
    run_receiver,
    start_receiver,
    stop_receiver,
)
from tests.rabbitmq import drain, free_port
from webhook.payload import MAX_NESTING
from webhook.signature import sign


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    return host, int(port)


def exchange(url: str, request: bytes, timeout: float = 30) -> bytes:
    """Send raw `request` bytes; everything the receiver answers until it closes (or 2 s)."""
    with socket.create_connection(address(url), timeout=timeout) as conn:
        conn.sendall(request)
        conn.settimeout(2)
        response = b""
        try:
            while chunk := conn.recv(65536):
                response += chunk
        except TimeoutError:
            pass
    return response


def signed_request(secret: bytes, body: bytes, *length_lines: bytes) -> bytes:
    lines = length_lines or (b"Content-Length: %d" % len(body),)
    return (
        b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
        b"X-GitHub-Delivery: " + str(uuid.uuid4()).encode() + b"\r\n"
        b"X-Hub-Signature-256: "
        + sign(secret, body).encode()
        + b"\r\n"
        + b"".join(line + b"\r\n" for line in lines)
        + b"Connection: close\r\n\r\n"
        + body
    )


@pytest.mark.parametrize(
    "value",
    [b"\xb2", b"\xb9", b"+2", b"2 2", b"0x2", b"2_0", b"-0", b""],
    ids=["sup-two", "sup-one", "plus", "space", "hex", "underscore", "minus", "empty"],
)
def test_content_length_must_be_ascii_digits(
    webhook_receiver: RunningReceiver, amqp_url: str, value: bytes
) -> None:
    # `"²".isdigit()` is true; the old receiver then raised in int() and sent no answer.
    request = signed_request(webhook_receiver.secret, b"{}", b"Content-Length: " + value)
    assert exchange(webhook_receiver.url, request).startswith(b"HTTP/1.1 400 ")
    assert drain(amqp_url) == []


def test_two_different_content_lengths_are_400(
    webhook_receiver: RunningReceiver, amqp_url: str
) -> None:
    # RFC 9112 §6.3: a proxy may read the other one (request smuggling). The old receiver
    # took the first and accepted the delivery.
    body = b'{"a": 1}'
    for lines in (
        (b"Content-Length: %d" % len(body), b"Content-Length: 3"),
        (b"Content-Length: %d, 3" % len(body),),
    ):
        request = signed_request(webhook_receiver.secret, body, *lines)
        assert exchange(webhook_receiver.url, request).startswith(b"HTTP/1.1 400 ")
    assert drain(amqp_url) == []


def test_identical_content_lengths_are_folded(
    webhook_receiver: RunningReceiver, amqp_url: str
) -> None:
    body = b'{"a": 1}'
    same = b"Content-Length: %d" % len(body)
    for lines in ((same, same), (same + b", %d" % len(body),)):
        request = signed_request(webhook_receiver.secret, body, *lines)
        assert exchange(webhook_receiver.url, request).startswith(b"HTTP/1.1 202 ")
    assert len(drain(amqp_url)) == 2


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 1000, 100_000])
def test_deeply_nested_signed_json_is_400(
    webhook_receiver: RunningReceiver, amqp_url: str, depth: int
) -> None:
    # The old receiver's json.loads raised RecursionError at ~1000: no answer at all.
    body = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    response = exchange(webhook_receiver.url, signed_request(webhook_receiver.secret, body))
    assert response.startswith(b"HTTP/1.1 400 ")
    assert b"nested too deeply" in response
    assert drain(amqp_url) == []


def test_nesting_up_to_the_bound_and_brackets_in_strings_are_accepted(
    webhook_receiver: RunningReceiver, amqp_url: str
) -> None:
    inner = MAX_NESTING - 1
    body = b'{"a": ' + b"[" * inner + b"]" * inner + b', "s": "' + b"[{" * 500 + b'\\"["}'
    response = exchange(webhook_receiver.url, signed_request(webhook_receiver.secret, body))
    assert response.startswith(b"HTTP/1.1 202 ")
    assert len(drain(amqp_url)) == 1


@pytest.mark.parametrize(
    "head",
    [
        b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event : push\r\n",  # space before the colon
        b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n folded\r\n",
        b"POST / HTTP/1.1\r\nX-GitHub-Event: push\r\n",  # no Host
        b"POST / HTTP/1.1\r\nHost: x\r\nHost: y\r\n",
        b"POST / HTTP/2.0\r\nHost: x\r\n",
        b"POST http://x/ HTTP/1.1\r\nHost: x\r\n",
    ],
    ids=["space-before-colon", "folded", "no-host", "two-hosts", "version", "absolute-form"],
)
def test_ambiguous_heads_are_400(webhook_receiver: RunningReceiver, head: bytes) -> None:
    response = exchange(webhook_receiver.url, head + b"Content-Length: 2\r\n\r\n{}")
    assert response.startswith(b"HTTP/1.1 400 ")


@pytest.fixture
def quick_receiver(amqp_url: str, tmp_path: Path) -> Iterator[RunningReceiver]:
    """A receiver with a 1 s header deadline and room for 20 connections."""
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(b"edge secret\n")
    receiver, thread = start_receiver(amqp_url, secret_file)
    receiver.header_deadline = 1.0
    receiver.max_connections = 20
    yield RunningReceiver(receiver.url, b"edge secret", secret_file, receiver)
    stop_receiver(receiver, thread)


def test_client_trickling_its_headers_past_the_deadline_gets_408(
    quick_receiver: RunningReceiver,
) -> None:
    started = time.monotonic()
    with socket.create_connection(address(quick_receiver.url), timeout=30) as conn:
        reply = b""
        for byte in b"POST / HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n" * 10:
            try:
                conn.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            conn.settimeout(0.1)
            try:
                reply = conn.recv(4096)
            except TimeoutError:
                continue
            break
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 3


def test_idle_keep_alive_connection_is_closed_after_the_header_deadline(
    quick_receiver: RunningReceiver,
) -> None:
    with socket.create_connection(address(quick_receiver.url), timeout=5) as conn:
        started = time.monotonic()
        assert conn.recv(4096) == b""  # closed without a word
    assert time.monotonic() - started < 3


def test_connections_over_the_bound_get_503_and_the_bound_frees_up(
    quick_receiver: RunningReceiver,
) -> None:
    held = [socket.create_connection(address(quick_receiver.url)) for _ in range(20)]
    try:
        time.sleep(0.3)
        with socket.create_connection(address(quick_receiver.url), timeout=5) as extra:
            assert extra.recv(4096).startswith(b"HTTP/1.1 503 ")
    finally:
        for conn in held:
            conn.close()
    time.sleep(0.3)
    assert requests.get(quick_receiver.url + "healthz", timeout=5).status_code == 200


def threads_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads")))


@pytest.mark.faults
def test_a_thousand_clients_trickling_headers_starve_no_delivery(
    amqp_url: str, tmp_path: Path
) -> None:
    """`ouro webhook` as a process: 1,000 connections send a header byte every 0.5 s while
    good clients post deliveries. Every delivery gets 202 quickly, the process keeps a
    handful of threads, and after the 10 s header deadline the trickling ones are cut off.
    (The old receiver held a thread per trickling client: 1,004 threads.)"""
    secret = b"slow secret"
    (tmp_path / "secret").write_bytes(secret + b"\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {"WEBHOOK_SECRET_FILE": str(tmp_path / "secret"), "AMQP_URL": amqp_url}
    process = run_receiver(port, env, tmp_path / "receiver.log")
    slow: list[socket.socket] = []
    try:
        started = time.monotonic()
        for _ in range(1000):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.setblocking(False)
            slow.append(conn)
        connected = time.monotonic()
        stop = threading.Event()
        cut_off: set[int] = set()
        threads_seen: list[int] = []

        def trickle() -> None:
            head = b"POST / HTTP/1.1\r\nHost: x\r\n" + b"X-Padding: y\r\n" * 1000
            sent = 0
            selector = selectors.DefaultSelector()
            for index, conn in enumerate(slow):
                selector.register(conn, selectors.EVENT_READ, index)
            while not stop.wait(0.5):
                for index, conn in enumerate(slow):
                    if index not in cut_off:
                        try:
                            conn.send(head[sent : sent + 1])
                        except OSError:
                            cut_off.add(index)
                sent += 1
                for key, _ in selector.select(0):
                    cut_off.add(key.data)
                    selector.unregister(key.fileobj)
                threads_seen.append(threads_of(process.pid))

        trickler = threading.Thread(target=trickle)
        trickler.start()
        latencies: list[float] = []
        codes: list[int] = []
        try:
            with requests.Session() as session:
                while time.monotonic() - started < 13:
                    body = json.dumps({"action": "opened", "n": len(codes)}).encode()
                    sent_at = time.monotonic()
                    delivery = str(uuid.uuid4())
                    code = post_signed(url, secret, "pull_request", body, delivery, session=session)
                    latencies.append(time.monotonic() - sent_at)
                    codes.append(code)
                    time.sleep(0.01)
            # The last trickling client connected later: its deadline ends 10 s after that.
            while len(cut_off) < 1000 and time.monotonic() - connected < 14:
                time.sleep(0.2)
        finally:
            stop.set()
            trickler.join()
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99)]
        print(
            f"\n1,000 trickling clients: {len(codes)} deliveries, "
            f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {latencies[-1] * 1000:.1f} ms; receiver threads max {max(threads_seen)}; "
            f"1,000 connected in {connected - started:.1f} s, {len(cut_off)} cut off "
            f"{time.monotonic() - connected:.1f} s after"
        )
        assert set(codes) == {202}
        assert len(codes) > 100
        assert p99 < 1.0
        assert max(threads_seen) <= 12
        # The header deadline (10 s) has passed for every trickling client.
        assert len(cut_off) == 1000
        assert len(drain(amqp_url)) == len(codes)
    finally:
        for conn in slow:
            conn.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
