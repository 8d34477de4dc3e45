"""`ouro mock-github`: the server as a process, and the verbs over the control API."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from ouro.cli import main
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture
from webhook.signature import verify


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def mock_process(data: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`ouro mock-github --data DATA OPTIONS` as a process on a free port, until SIGTERM
    (which must end it cleanly); yields its URL."""
    port = free_port()
    argv = [
        sys.executable,
        "-c",
        "import sys; from ouro.cli import main; sys.exit(main())",
        "mock-github",
        f"--port={port}",
        f"--data={data}",
        *options,
    ]
    process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/_mock/healthz", timeout=2).close()
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mock-github did not start: {process.communicate()[1]}")
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr


@pytest.fixture
def served(tmp_path: Path, hook_recorder: HookRecorder) -> Iterator[str]:
    (tmp_path / "secret").write_text("hook-secret\nnext-line-ignored\n")
    (tmp_path / "tokens").write_text("# tokens\nbot-token\nalice-token alice\n")
    env = {**os.environ, "WEBHOOK_SECRET_FILE": str(tmp_path / "secret")}
    with mock_process(
        tmp_path / "data",
        f"--webhook-url={hook_recorder.url}",
        f"--token-file={tmp_path / 'tokens'}",
        env=env,
    ) as url:
        yield url


def test_serve_with_token_file_and_webhook(
    served: str, hook_recorder: HookRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mock-github", "create-repo", "--url", served, "acme/cli", "README:=hi"]) == 0
    repo = json.loads(capsys.readouterr().out)
    assert repo["clone_url"] == f"{served}/acme/cli.git"
    (ping,) = hook_recorder.received
    assert ping.headers["X-GitHub-Event"] == "ping"
    verify([b"hook-secret"], ping.body, ping.headers["X-Hub-Signature-256"])

    with requests.Session() as http:
        me = http.get(f"{served}/user", headers={"Authorization": "token alice-token"}, timeout=10)
        assert me.json()["login"] == "alice"
        me = http.get(f"{served}/user", headers={"Authorization": "token bot-token"}, timeout=10)
        assert me.json()["login"] == "ouro-bot"


def test_verbs(
    mock_github: MockGitHubFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = mock_github.url
    project = tmp_path / "project"
    (project / ".ci").mkdir(parents=True)
    (project / ".ci" / "run").write_text("#!/bin/sh\ntrue\n")
    (project / "ignored.log").write_text("x")
    (project / ".gitignore").write_text("*.log\n")
    base = ["mock-github"]
    assert main([*base, "create-repo", "--url", url, "acme/p", "--directory", str(project)]) == 0
    local = tmp_path / "change.txt"
    local.write_text("changed\n")
    assert main([*base, "open-pr", "--url", url, "acme/p", "fix", f"c.txt={local}"]) == 0
    assert main([*base, "push", "--url", url, "acme/p", "--branch", "fix", "d.txt:=d"]) == 0
    assert main([*base, "comment", "--url", url, "acme/p", "1", "/retest", "--user", "bob"]) == 0
    capsys.readouterr()
    assert main([*base, "comment", "--url", url, "acme/p", "7", "hello"]) == 1
    assert "404" in capsys.readouterr().err

    with requests.Session() as http:
        listing = http.get(f"{url}/repos/acme/p/contents?ref=main", timeout=10).json()
        assert sorted(e["name"] for e in listing) == [".ci", ".gitignore"]
        pull = http.get(f"{url}/repos/acme/p/pulls/1", timeout=10).json()
        files = http.get(f"{url}/repos/acme/p/contents/c.txt?ref=fix", timeout=10).json()
        assert files["sha"]
        assert pull["commits"] == 2
        comments = http.get(f"{url}/repos/acme/p/issues/1/comments", timeout=10).json()
        assert [(c["user"]["login"], c["body"]) for c in comments] == [("bob", "/retest")]


def test_app_verbs(
    mock_github: MockGitHubFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, key = mock_github.url, tmp_path / "app.pem"
    base = ["mock-github"]
    mock_github.control.create_repo("acme/p", files={"a": "1\n"})
    capsys.readouterr()
    made = ["register-app", "--url", url, "ouro-ci", "--owner", "acme", "--key-file", str(key)]
    assert main([*base, *made, "--token-lifetime", "60"]) == 0
    app = json.loads(capsys.readouterr().out)
    assert "pem" not in app
    assert key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert key.stat().st_mode & 0o777 == 0o600
    assert main([*base, "install-app", "--url", url, "ouro-ci", "acme", "--repo", "p"]) == 0
    installation = json.loads(capsys.readouterr().out)
    assert (installation["app_id"], installation["repository_selection"]) == (app["id"], "selected")
    # The key file is never overwritten.
    assert main([*base, *made]) == 2
    assert "exists" in capsys.readouterr().err


def test_serve_needs_both_tls_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["mock-github", f"--data={tmp_path}", "--port=0"]
    assert main([*argv, f"--tls-cert={tmp_path / 'cert.pem'}"]) == 2
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err
    assert main([*argv, f"--tls-cert={tmp_path / 'x'}", f"--tls-key={tmp_path / 'y'}"]) == 2
    assert "cannot serve" in capsys.readouterr().err
