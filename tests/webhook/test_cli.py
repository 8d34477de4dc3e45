"""`ouro webhook` as an operator runs it."""

import signal
from pathlib import Path

import pytest

from ouro.cli import main
from tests.fixtures_webhook import post_signed, run_receiver
from tests.rabbitmq import drain, free_port


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
    env = {"WEBHOOK_SECRET_FILE": str(tmp_path / "secret"), "AMQP_URL": amqp_url}
    log = tmp_path / "receiver.log"
    with run_receiver(port, env, log) as process:
        try:
            body = b'{"action": "opened"}'
            assert post_signed(url, secret, "pull_request", body, "cli-1") == 202
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    assert process.returncode == 0
    stderr = log.read_text()
    assert [props.message_id for props, _ in drain(amqp_url)] == ["cli-1"]
    # One line per delivery, with its id; never the secret or the payload.
    assert "delivery cli-1 event pull_request: 202 accepted" in stderr
    assert secret.decode() not in stderr
    assert '"action"' not in stderr
