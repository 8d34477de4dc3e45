"""Fixtures for tests that need GitHub: a real mock-github server and a webhook receiver.

`mock_github` starts mock-github in-process on a free port with a fresh data
directory and one token (user `ouro-bot`). It yields a `MockGitHubFixture`:

    def test_x(mock_github, monkeypatch):
        monkeypatch.setenv("GITHUB_API_URL", mock_github.url)          # PyGithub base_url
        monkeypatch.setenv("GITHUB_TOKEN_FILE", str(mock_github.token_file))
        mock_github.set_webhook("http://127.0.0.1:PORT/", b"secret")  # signed deliveries
        c = mock_github.control                                        # MockGitHubControl
        c.create_repo("acme/widget", files={".ci/run": "#!/bin/sh\\ntrue\\n"})
        pr = c.open_pr("acme/widget", "fix", files={"a": "1"}, user="alice")
        ...  # clone from pr["head"]["repo"]["clone_url"]; fetch refs/pull/N/head
        assert [d["event"] for d in c.deliveries()] == [...]

Every control call returns after the webhooks it caused were delivered, so a
test needs no polling for them. Other users get tokens with
`control.add_user("bob", token="bob-token")`; orgs with `control.add_org_member`.

`hook_recorder` is a small HTTP server that records each POST (headers and
body) and answers `status` (200 unless a test changes it).
"""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mock_github.control import MockGitHubControl
from mock_github.server import MockGitHub

MOCK_GITHUB_TOKEN = "mock-github-test-token"


@dataclass
class MockGitHubFixture:
    url: str
    token: str
    token_file: Path
    control: MockGitHubControl
    server: MockGitHub

    def set_webhook(self, url: str, secret: bytes | str | None) -> None:
        """Deliver every repository's events to `url`, signed with `secret`."""
        if isinstance(secret, bytes):
            secret = secret.decode()
        self.control.set_webhook(url, secret)


@pytest.fixture
def mock_github(tmp_path: Path) -> Iterator[MockGitHubFixture]:
    server = MockGitHub(tmp_path / "mock-github")
    server.add_token(MOCK_GITHUB_TOKEN, "ouro-bot")
    token_file = tmp_path / "mock-github-token"
    token_file.write_text(MOCK_GITHUB_TOKEN + "\n")
    server.start()
    control = MockGitHubControl(server.url)
    try:
        yield MockGitHubFixture(server.url, MOCK_GITHUB_TOKEN, token_file, control, server)
    finally:
        control.close()
        server.close()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HookRecorder:
    url: str
    status: int = 200
    received: list[Received] = field(default_factory=list)


class _Receive(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        receiver: HookRecorder = self.server.receiver  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receiver.received.append(Received(self.path, dict(self.headers.items()), body))
        self.send_response(receiver.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hook_recorder() -> Iterator[HookRecorder]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receive)
    receiver = HookRecorder(f"http://127.0.0.1:{httpd.server_address[1]}/")
    httpd.receiver = receiver  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    yield receiver
    httpd.shutdown()
    thread.join()
    httpd.server_close()
