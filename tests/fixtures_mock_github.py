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

`mock_github_tls` is the same over HTTPS, its certificate (for 127.0.0.1 and localhost)
signed by a throw-away CA whose certificate is `.ca_file`.

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
from ouro.deploy.secrets import make_ca, make_leaf

MOCK_GITHUB_TOKEN = "mock-github-test-token"


@dataclass
class MockGitHubFixture:
    url: str
    token: str
    token_file: Path
    control: MockGitHubControl
    server: MockGitHub
    ca_file: Path | None = None

    def set_webhook(self, url: str, secret: bytes | str | None) -> None:
        """Deliver every repository's events to `url`, signed with `secret`."""
        if isinstance(secret, bytes):
            secret = secret.decode()
        self.control.set_webhook(url, secret)


def _serve(tmp_path: Path, ca: Path | None = None) -> Iterator[MockGitHubFixture]:
    """The mock on a free loopback port; over HTTPS with a certificate from `ca` if given."""
    tls = None
    if ca is not None:
        make_ca(ca, "mock-github test CA")
        make_leaf(ca, ca, "server", "localhost", server_names=("localhost", "127.0.0.1"))
        tls = (ca / "server.pem", ca / "server.key")
    server = MockGitHub(tmp_path / "mock-github", tls=tls)
    server.add_token(MOCK_GITHUB_TOKEN, "ouro-bot")
    token_file = tmp_path / "mock-github-token"
    token_file.write_text(MOCK_GITHUB_TOKEN + "\n")
    server.start()
    ca_file = ca / "ca.pem" if ca else None
    control = MockGitHubControl(server.url, ca_file=ca_file)
    try:
        yield MockGitHubFixture(server.url, MOCK_GITHUB_TOKEN, token_file, control, server, ca_file)
    finally:
        control.close()
        server.close()


@pytest.fixture
def mock_github(tmp_path: Path) -> Iterator[MockGitHubFixture]:
    yield from _serve(tmp_path)


@pytest.fixture
def mock_github_tls(tmp_path: Path) -> Iterator[MockGitHubFixture]:
    yield from _serve(tmp_path, tmp_path / "mock-github-ca")


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
