"""The connection under PyGithub (`tasks.github_transport`) over real HTTP/1.1 on loopback:
one connection carries a client's requests; a kept connection the server closed meanwhile is
replaced before anything is sent on it; one the server drops as the request goes out, with
no answer, is replaced once; gzip answers are read; an answer cut off or malformed is a
transient forge error; an answer without a length ends with its connection; an informational
answer is skipped; a header with a line break is never sent. The mock-github tests exercise the
same class with GitHub's shapes, TLS and the proxy fallback included
(`test_github_requests.py`)."""

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tasks.forge import ForgeUnavailable, Status
from tasks.github import GitHubStatuses, github_client
from tasks.github_reader import GitHubReader
from tasks.github_transport import Connection

REPO_ANSWER = {"default_branch": "trunk", "full_name": "acme/widget"}


class Server(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[str, str]] = []
        self.connections = 0
        self.closed = threading.Semaphore(0)
        # What the next answers do: "keep", "close" (after the answer), "gzip", "cut", "drop"
        # (a connection's second request: closed unanswered), "drop-all" (every request).
        self.mode = "keep"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1
        self.answered = 0

    def finish(self) -> None:
        super().finish()
        self.server.closed.release()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append((self.command, self.path))
        mode = self.server.mode
        if mode == "drop-all" or (mode == "drop" and self.answered):
            self.close_connection = True
            return
        self.answered += 1
        data = json.dumps(REPO_ANSWER).encode()
        if mode == "gzip":
            assert "gzip" in self.headers.get("Accept-Encoding", "")
            data = gzip.compress(data)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if mode == "gzip":
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data) + (100 if mode == "cut" else 0)))
        self.end_headers()
        self.wfile.write(data)
        # "close": the server ends a kept-alive connection while the client is idle, as
        # servers and load balancers do after a while, without having said so.
        self.close_connection = mode in {"close", "cut"}

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    thread = threading.Thread(target=s.serve_forever, daemon=True)
    thread.start()
    yield s
    s.shutdown()
    s.server_close()


@pytest.fixture
def api(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter's settings for `server`, with no proxy in the way."""
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    monkeypatch.setenv("GITHUB_WRITE_INTERVAL", "0")
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def reader(api: None) -> GitHubReader:
    return GitHubReader(github_client("t0ken"), can_write=True, sleep=lambda _: True)


@pytest.fixture
def statuses(api: None) -> GitHubStatuses:
    # The adapter's retries end at once: each attempt shows in `Server.seen`.
    return GitHubStatuses(github_client("t0ken"), sleep=lambda _: True)


def test_a_client_keeps_one_connection(server: Server, reader: GitHubReader) -> None:
    for _ in range(5):
        assert reader.default_branch("acme/widget") == "trunk"
    assert server.seen == [("GET", "/repos/acme/widget")] * 5
    assert server.connections == 1


def test_a_connection_the_server_closed_is_replaced_and_nothing_is_sent_twice(
    server: Server, statuses: GitHubStatuses
) -> None:
    server.mode = "close"
    for n in range(3):
        statuses.post("acme/widget", "a" * 40, Status("unit-tests", "pending", f"try {n}"))
        # Closed for sure before the next request (else it is the race below).
        assert server.closed.acquire(timeout=5)
    assert server.seen == [("POST", f"/repos/acme/widget/statuses/{'a' * 40}")] * 3
    assert server.connections == 3


def test_a_kept_connection_dropped_unanswered_is_replaced_once(
    server: Server, statuses: GitHubStatuses
) -> None:
    server.mode = "drop"
    for n in range(3):
        statuses.post("acme/widget", "a" * 40, Status("unit-tests", "pending", f"try {n}"))
    # Each post after the first: dropped on the kept connection, then answered on a new one.
    post = ("POST", f"/repos/acme/widget/statuses/{'a' * 40}")
    assert server.seen == [post] * 5
    assert server.connections == 3


def test_a_new_connection_dropped_unanswered_is_a_transient_forge_error(
    server: Server, reader: GitHubReader
) -> None:
    assert reader.default_branch("acme/widget") == "trunk"
    server.mode = "drop-all"
    with pytest.raises(ForgeUnavailable, match=r"RemoteDisconnected|closed connection"):
        reader.default_branch("acme/widget")
    # The kept connection's try, then one new connection's; no more (the adapter's retries
    # end at once here).
    assert len(server.seen) == 3
    assert server.connections == 2


def test_a_gzip_answer_is_read(server: Server, reader: GitHubReader) -> None:
    server.mode = "gzip"
    assert reader.default_branch("acme/widget") == "trunk"


def test_an_answer_cut_off_is_a_transient_forge_error(server: Server, reader: GitHubReader) -> None:
    server.mode = "cut"
    with pytest.raises(ForgeUnavailable, match="IncompleteRead"):
        reader.default_branch("acme/widget")


def test_each_answer_is_recorded_with_its_path(server: Server) -> None:
    answers: list[tuple[str, str, int]] = []
    connection = Connection(
        "127.0.0.1", server.server_address[1], record=lambda *a: answers.append(a), timeout=5
    )
    connection.request("GET", "/repos/acme/widget?per_page=1", None, {})
    answer = connection.getresponse()
    connection.close()
    assert (answer.status, json.loads(answer.read())) == (200, REPO_ANSWER)
    assert ("content-type", "application/json") in [(k.lower(), v) for k, v in answer.getheaders()]
    assert answers == [("GET", "/repos/acme/widget?per_page=1", 200)]


class Canned:
    """A server on `host` that answers each connection's request with the next of the bytes
    put in `answers`, then closes the connection; the requests' heads land in `heads`."""

    def __init__(self, host: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, 0), family=family)
        self.host = host
        self.port: int = self.listener.getsockname()[1]
        self.answers: list[bytes] = []
        self.heads: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with client:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += client.recv(65536)
                self.heads.append(head)
                client.sendall(self.answers.pop(0))

    def ask(self) -> tuple[int, str]:
        connection = Connection(self.host, self.port, record=lambda *a: None, timeout=5)
        connection.request("GET", "/repos/acme/widget", None, {})
        answer = connection.getresponse()
        connection.close()
        return answer.status, answer.read()


@pytest.fixture
def canned() -> Iterator[Canned]:
    server = Canned("127.0.0.1")
    yield server
    server.listener.close()


def test_an_answer_without_a_length_ends_with_the_connection(
    canned: Canned,
) -> None:
    canned.answers.append(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"a": 1}')
    assert canned.ask() == (200, '{"a": 1}')


def test_an_informational_answer_before_the_answer_is_skipped(
    canned: Canned,
) -> None:
    canned.answers.append(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert canned.ask() == (201, "{}")


def test_a_malformed_answer_is_a_transient_forge_error(
    canned: Canned, api: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{canned.port}")
    canned.answers.append(b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}")
    reader = GitHubReader(github_client("t0ken"), can_write=True, sleep=lambda _: True)
    with pytest.raises(ForgeUnavailable, match="malformed answer"):
        reader.default_branch("acme/widget")


def test_a_line_break_in_a_header_is_refused_before_anything_is_sent(server: Server) -> None:
    connection = Connection("127.0.0.1", server.server_address[1], record=lambda *a: None)
    connection.request("GET", "/repos/acme/widget", None, {"Authorization": "token a\r\nX: y"})
    with pytest.raises(ValueError, match="line break"):
        connection.getresponse()
    assert server.seen == []


def test_an_ipv6_host_is_named_in_brackets() -> None:
    server = Canned("::1")
    server.answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert server.ask() == (200, "{}")
    server.listener.close()
    assert f"\r\nHost: [::1]:{server.port}\r\n".encode() in server.heads[0]
