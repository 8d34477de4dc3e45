"""`ouro webhook` as an operator runs it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ouro.cli import main
from tests.rabbitmq import drain, free_port
from webhook.signature import sign


def test_unreadable_secret_file_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET_FILE", str(tmp_path / "missing"))
    assert main(["webhook", "--port", "0"]) == 2
    assert "Configuration error: cannot read webhook secret" in capsys.readouterr().err


def test_empty_secret_file_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "secret").write_text("\n")
    monkeypatch.setenv("WEBHOOK_SECRET_FILE", str(tmp_path / "secret"))
    assert main(["webhook", "--port", "0"]) == 2
    assert "is empty" in capsys.readouterr().err


def test_serves_deliveries_and_stops_on_sigterm(amqp_url: str, tmp_path: Path) -> None:
    secret = b"cli secret"
    (tmp_path / "secret").write_bytes(secret + b"\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "WEBHOOK_SECRET_FILE": str(tmp_path / "secret"), "AMQP_URL": amqp_url}
    command = [sys.executable, "-m", "ouro", "webhook", "--host", "127.0.0.1", "--port", str(port)]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as process:
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(url + "healthz", timeout=5).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the receiver did not become ready"
                time.sleep(0.2)
            body = b'{"action": "opened"}'
            response = requests.post(
                url,
                data=body,
                headers={
                    "X-GitHub-Event": "pull_request",
                    "X-GitHub-Delivery": "cli-1",
                    "X-Hub-Signature-256": sign(secret, body),
                },
                timeout=30,
            )
            assert response.status_code == 202
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0
    assert [props.message_id for props, _ in drain(amqp_url)] == ["cli-1"]
    # One line per delivery, with its id; never the secret or the payload.
    assert "delivery cli-1 event pull_request: 202 accepted" in stderr
    assert secret.decode() not in stderr
    assert '"action"' not in stderr
