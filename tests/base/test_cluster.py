"""A three-node RabbitMQ cluster loses a node under load, and the deployment goes on.

The real `ouro webhook` and `ouro bot` run as processes against a cluster of three nodes
(`AMQP_URL` lists them). Signed pushes stream in; the node that leads the `webhook` queue,
and that every component is connected to (the first address), is SIGKILLed mid-stream.
Every delivery answered 202 must become a job, through quorum queues that elect a new
leader among the two survivors; at most one becomes two (see the last assertions).
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pika.exceptions
import pytest
import requests

from ouro import amqp, queues
from tasks.job import Job
from tests.fixtures_webhook import post_signed, run_receiver
from tests.rabbitmq import RabbitCluster, free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.faults

SECRET = b"cluster secret"
REPO = "acme/widget"
TESTMAP = f"""
defaults:
  image: localhost/ouro-tasks:latest
repos:
  {REPO}:
    main:
      unit: {{}}
"""
BEFORE_KILL = 150
AFTER_KILL = 150


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RabbitCluster]:
    running = RabbitCluster(tmp_path / "cluster")
    running.start()
    yield running
    running.stop()


def push(delivery: str) -> tuple[bytes, str]:
    """A signed push to main whose head names the delivery, so its job can be traced back."""
    sha = hashlib.sha256(delivery.encode()).hexdigest()[:40]
    payload = {
        "ref": "refs/heads/main",
        "after": sha,
        "deleted": False,
        "repository": {"full_name": REPO, "clone_url": f"https://github.com/{REPO}.git"},
    }
    return json.dumps(payload).encode(), sha


def test_a_killed_node_loses_no_accepted_delivery(cluster: RabbitCluster, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(SECRET + b"\n")
    (tmp_path / "testmap.yaml").write_text(TESTMAP)
    env = {
        "AMQP_URL": cluster.url,
        "WEBHOOK_SECRET_FILE": str(tmp_path / "secret"),
        "OURO_TESTMAP": str(tmp_path / "testmap.yaml"),
        "OURO_STATE_DIR": str(tmp_path / "state"),
        # No token: the bot logs its statuses instead of posting them (a dry run).
        "GITHUB_TOKEN": "",
        "GITHUB_TOKEN_FILE": str(tmp_path / "no-token"),
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    receiver = run_receiver(port, env, tmp_path / "receiver.log")
    with (tmp_path / "bot.log").open("ab") as bot_log:
        bot = subprocess.Popen(
            [sys.executable, "-m", "ouro", "bot", "--no-scan"],
            env={**os.environ, **env},
            stderr=bot_log,
        )
    # (sha, code, answered at)
    results: list[tuple[str, int, float]] = []
    stop = threading.Event()

    def sender() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                delivery = str(uuid.uuid4())
                body, sha = push(delivery)
                code = post_signed(url, SECRET, "push", body, delivery, session=session)
                results.append((sha, code, time.monotonic()))
                if code != 202:
                    time.sleep(0.05)

    def accepted() -> int:
        return sum(1 for _, code, _ in results if code == 202)

    senders = [threading.Thread(target=sender) for _ in range(4)]
    for thread in senders:
        thread.start()
    try:
        wait_until(lambda: accepted() >= BEFORE_KILL, "deliveries before the kill")
        victim = cluster.leader(queues.WEBHOOK)
        assert victim is cluster.nodes[0], "the leader is the node every component reached"
        victim.kill()
        killed_at = time.monotonic()
        before = accepted()
        wait_until(lambda: accepted() >= before + AFTER_KILL, "deliveries after the kill", 120)
    finally:
        stop.set()
        for thread in senders:
            thread.join()

    survivors = ",".join(node.url for node in cluster.nodes if node.process is not None)
    sent = {sha for sha, _, _ in results}
    accepted_shas = {sha for sha, code, _ in results if code == 202}
    jobs: Counter[str] = Counter()

    def all_jobs_in() -> bool:
        take_jobs(survivors, jobs)
        return accepted_shas <= set(jobs)

    try:
        wait_until(all_jobs_in, "a job for every accepted delivery", 120)
        time.sleep(2)
        all_jobs_in()
    finally:
        for process in (receiver, bot):
            process.send_signal(signal.SIGTERM)
        for process in (receiver, bot):
            process.wait(timeout=60)
    answered_after = [at - killed_at for _, code, at in results if code == 202 and at > killed_at]
    refused = [code for _, code, at in results if code != 202]
    lost = accepted_shas - set(jobs)
    twice = [sha for sha, count in jobs.items() if count > 1]
    print(
        f"\n3-node cluster, leader of `webhook` SIGKILLed: {len(accepted_shas)} deliveries "
        f"accepted, {len(refused)} refused ({sorted(Counter(refused).items())}), "
        f"{len(lost)} lost, {len(twice)} jobs twice; first 202 after the kill at "
        f"{min(answered_after):.2f} s"
    )
    assert set(Counter(code for _, code, _ in results)) <= {202, 503}
    assert not lost
    # At least once, not exactly once: the bot handles one message at a time, and a job
    # publish whose confirm died with the node is published again when the event is retried
    # (seen in about half the runs). Jobs carry no id a worker could deduplicate by.
    assert len(twice) <= 1
    # A 503 may hide a delivery the cluster did store (its confirm was lost): a job for it
    # is fine, a job for nothing sent is not.
    assert set(jobs) <= sent
    assert receiver.returncode == 0
    assert bot.returncode == 0


def take_jobs(url: str, jobs: Counter[str]) -> None:
    """Consume the jobs on `tasks`, counting each head as it comes: a drain cut short by a
    queue still electing its leader keeps what it took, and the next round goes on."""
    try:
        connection = amqp.connect(url)
    except amqp.BrokerUnavailable:
        return
    try:
        channel = connection.channel()
        while True:
            method, _, body = channel.basic_get(queues.TASKS, auto_ack=True)
            if method is None:
                return
            jobs[Job.from_json(body).sha] += 1
    except pika.exceptions.AMQPError:
        return
    finally:
        if connection.is_open:
            connection.close()
