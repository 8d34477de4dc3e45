"""The bot's and the worker's probes (`/readyz`, `/healthz` beside `/metrics`), as their
Deployments ask them: real `ouro bot` and `ouro worker` processes, a real broker that the
test stops and starts again."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fixtures_images import ImagesServerFixture
from tests.fixtures_mock_github import MockGitHubFixture
from tests.rabbitmq import RabbitMQ, free_port
from tests.tasks.bot_fakes import PAYLOADS

OURO = str(Path(sys.executable).parent / "ouro")


def probe(port: int, path: str) -> tuple[int, str]:
    try:
        answer = requests.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except requests.ConnectionError:
        return 0, "no answer"
    return answer.status_code, answer.text.strip()


def await_probe(port: int, path: str, code: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    seen = (0, "")
    while time.monotonic() < deadline:
        seen = probe(port, path)
        if seen[0] == code:
            return seen[1]
        time.sleep(0.3)
    raise AssertionError(f"{path} answered {seen}, not {code}, within {timeout}s")


@pytest.fixture
def consumers(
    tmp_path: Path,
    private_rabbitmq: RabbitMQ,
    mock_github: MockGitHubFixture,
    images_server: ImagesServerFixture,
) -> Iterator[dict[str, int]]:
    """An `ouro bot` and an `ouro worker`, each serving its probes on a port of its own."""
    env = {
        **os.environ,
        **images_server.env,
        "AMQP_URL": private_rabbitmq.url,
        "GITHUB_API_URL": mock_github.url,
        "GITHUB_TOKEN_FILE": str(mock_github.token_file),
        "OURO_TESTMAP": str(PAYLOADS / "testmap.yaml"),
        "OURO_STATE_DIR": str(tmp_path / "bot-state"),
        "OURO_WORKER_WORK_DIR": str(tmp_path / "work"),
        "OURO_WORKER_SECRETS_DIR": str(tmp_path / "job-secrets"),
    }
    (tmp_path / "work").mkdir()
    (tmp_path / "job-secrets").mkdir()
    ports = {"bot": free_port(), "worker": free_port()}
    commands = {
        "bot": [OURO, "bot", "--no-scan", "--image-scan-hours", "0"],
        "worker": [OURO, "worker", "--direct", "--name", "probed"],
    }
    processes = []
    for name, argv in commands.items():
        with (tmp_path / f"{name}.log").open("ab") as log:
            processes.append(
                subprocess.Popen(
                    [*argv, "--metrics-port", str(ports[name])],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    yield ports
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


def test_ready_while_consuming_unready_without_the_broker_and_ready_again(
    consumers: dict[str, int], private_rabbitmq: RabbitMQ
) -> None:
    for port in consumers.values():
        assert await_probe(port, "/readyz", 200) == "connected and consuming"
        assert probe(port, "/healthz") == (200, "alive")
        # The probes are served beside the metrics, not instead of them.
        assert "# TYPE" in requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    private_rabbitmq.stop()
    for port in consumers.values():
        assert "reconnecting" in await_probe(port, "/readyz", 503, timeout=30)
        # Reconnecting is the consumer's own work: a restart would not help, so it is alive.
        assert probe(port, "/healthz") == (200, "alive")
    private_rabbitmq.start()
    for port in consumers.values():
        assert await_probe(port, "/readyz", 200) == "connected and consuming"
