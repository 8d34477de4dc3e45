"""Accepted deliveries/s and latency of the webhook receiver, at 1 and 32 concurrent clients.

Starts a throw-away RabbitMQ and `ouro webhook` (a process of its own, as deployed),
then posts signed ~8 KiB payloads over keep-alive connections for a fixed time per
concurrency level: through http.client, then through a lean raw-socket client (labelled
rows), and prints each side's CPU per delivery, the client's included, since all of them
share the machine. Run: `.venv/bin/python benchmarks/webhook.py`.
"""

import argparse
import http.client
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.support.procs import session_cpu_seconds
from tests.rabbitmq import RabbitMQ, free_port
from webhook.signature import sign

SECRET = b"benchmark secret"
CLIENT_PROCESSES = 4


def payload(size: int) -> bytes:
    """A pull_request-shaped body of about `size` bytes."""
    event = {
        "action": "synchronize",
        "number": 42,
        "pull_request": {
            "head": {"sha": "a" * 40, "ref": "feature"},
            "base": {"ref": "main"},
            "user": {"login": "someone"},
            "body": "",
        },
        "repository": {"full_name": "owner/project"},
    }
    padding = size - len(json.dumps(event))
    event["pull_request"]["body"] = "x" * max(padding, 0)  # type: ignore[index]
    return json.dumps(event).encode()


def client(port: int, body: bytes, until: float, results: list[tuple[int, float]]) -> None:
    """Post signed deliveries until `until`; append (status, seconds) for each."""
    signature = sign(SECRET, body)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        while time.monotonic() < until:
            started = time.monotonic()
            conn.request(
                "POST",
                "/",
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "pull_request",
                    "X-GitHub-Delivery": str(uuid.uuid4()),
                    "X-Hub-Signature-256": signature,
                },
            )
            response = conn.getresponse()
            response.read()
            results.append((response.status, time.monotonic() - started))
    finally:
        conn.close()


def lean_clients(
    port: int, body: bytes, until: float, count: int, results: list[tuple[int, float]]
) -> None:
    """`count` keep-alive connections driven by one thread: prebuilt request bytes (only the
    delivery id changes) and a response read as the receiver shapes it. What the receiver
    alone can take, with less of the shared CPU going to the client than through http.client.
    """
    signature = sign(SECRET, body)
    head = (
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-GitHub-Event: pull_request\r\n"
        f"X-Hub-Signature-256: {signature}\r\nX-GitHub-Delivery: "
    ).encode()
    tail = b"\r\n\r\n" + body
    prefix = uuid.uuid4().hex[:8]
    sent = 0
    selector = selectors.DefaultSelector()

    def send(connection: socket.socket) -> None:
        nonlocal sent
        sent += 1
        # As long as a uuid, unique per process and cheaper to make.
        delivery = f"{prefix}-{sent:027d}".encode()
        connection.sendall(head + delivery + tail)
        selector.modify(connection, selectors.EVENT_READ, (time.monotonic(), bytearray()))

    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    for connection in connections:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        selector.register(connection, selectors.EVENT_READ, None)
        send(connection)
    try:
        while connections:
            for key, _ in selector.select():
                connection = key.fileobj
                assert isinstance(connection, socket.socket)
                started, response = key.data
                chunk = connection.recv(65536)
                if not chunk:
                    raise ConnectionError("the receiver closed a connection")
                response += chunk
                end = response.find(b"\r\n\r\n")
                if end < 0:
                    continue
                length = int(response.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
                if len(response) < end + 4 + length:
                    continue
                results.append((int(response[9:12]), time.monotonic() - started))
                if time.monotonic() < until:
                    send(connection)
                else:
                    selector.unregister(connection)
                    connection.close()
                    connections.remove(connection)
    finally:
        for connection in connections:
            connection.close()
        selector.close()


def client_process(
    port: int, body: bytes, until: float, clients: int, lean: bool
) -> tuple[list[tuple[int, float]], float]:
    """(status, seconds) per request, and the CPU seconds the process used."""
    cpu_started = time.process_time()
    results: list[tuple[int, float]] = []
    if lean:
        lean_clients(port, body, until, clients, results)
    else:
        workers = [
            threading.Thread(target=client, args=(port, body, until, results))
            for _ in range(clients)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return results, time.process_time() - cpu_started


def run_level(
    port: int, body: bytes, clients: int, seconds: float, sessions: dict[str, int], *, lean: bool
) -> dict[str, float]:
    cpu_before = {name: session_cpu_seconds(session) for name, session in sessions.items()}
    started = time.monotonic()
    until = started + seconds
    # Client threads spread over processes, so the clients' own GIL does not add to the
    # latencies measured.
    processes = min(clients, CLIENT_PROCESSES)
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        parts = list(
            pool.map(
                client_process,
                [port] * processes,
                [body] * processes,
                [until] * processes,
                shares,
                [lean] * processes,
            )
        )
        results = [result for part, _ in parts for result in part]
        client_cpu = sum(cpu for _, cpu in parts)
    elapsed = time.monotonic() - started
    accepted = sum(1 for code, _ in results if code == 202)
    cuts = statistics.quantiles([seconds for _, seconds in results], n=100)
    ms_per_delivery = 1000 / max(accepted, 1)
    cpu = {
        f"{name}_cpu_ms": (session_cpu_seconds(session) - cpu_before[name]) * ms_per_delivery
        for name, session in sessions.items()
    }
    return {
        **cpu,
        "client_cpu_ms": client_cpu * 1000 / max(accepted, 1),
        "clients": clients,
        "accepted": accepted,
        "refused": len(results) - accepted,
        "per_second": accepted / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


def wait_until_ready(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        if time.monotonic() > deadline:
            raise TimeoutError("the receiver did not become ready")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per level (%(default)s)")
    parser.add_argument("--size", type=int, default=8192, help="payload bytes (%(default)s)")
    parser.add_argument("--clients", default="1,32", help="levels (%(default)s)")
    parser.add_argument(
        "--client", choices=("both", "http.client", "lean"), default="both", help="(%(default)s)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ouro-bench-") as tmp:
        broker = RabbitMQ(Path(tmp) / "rabbitmq", name="ourobench")
        broker.start()
        secret_file = Path(tmp) / "secret"
        secret_file.write_bytes(SECRET)
        port = free_port()
        env = {**os.environ, "AMQP_URL": broker.url, "WEBHOOK_SECRET_FILE": str(secret_file)}
        command = [sys.executable, "-m", "ouro", "webhook", "--host", "127.0.0.1"]
        command += ["--port", str(port)]
        receiver = subprocess.Popen(
            command, env=env, stderr=subprocess.DEVNULL, start_new_session=True
        )
        assert broker.process is not None
        sessions = {"receiver": receiver.pid, "broker": broker.process.pid}
        try:
            body = payload(args.size)
            wait_until_ready(port)
            run_level(port, body, 1, 1, sessions, lean=False)  # warms up
            print(f"payload {len(body)} bytes, {args.seconds:g} s per level, {os.cpu_count()} CPUs")
            # http.client rows first (the figures the aim is stated in), then the lean
            # client's, which leave more of the shared CPU to the receiver and broker.
            for lean in (False, True) if args.client == "both" else (args.client == "lean",):
                for clients in (int(c) for c in args.clients.split(",")):
                    figures = run_level(port, body, clients, args.seconds, sessions, lean=lean)
                    print(
                        f"{'lean client' if lean else 'http.client'} {clients:3d} clients: "
                        f"{figures['per_second']:5.0f} accepted/s  "
                        f"p50 {figures['p50_ms']:5.1f} ms  p99 {figures['p99_ms']:5.1f} ms  "
                        f"({figures['accepted']:.0f} accepted, {figures['refused']:.0f} refused; "
                        f"CPU per delivery: receiver {figures['receiver_cpu_ms']:.2f} ms, "
                        f"broker {figures['broker_cpu_ms']:.2f} ms, "
                        f"client {figures['client_cpu_ms']:.2f} ms)"
                    )
            # The machine may be shared: the figures mean little without its load.
            print("load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
        finally:
            receiver.terminate()
            receiver.wait(timeout=30)
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
