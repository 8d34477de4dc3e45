"""The GitHub adapter over real HTTP (a scripted server: unit level, the mock-github
acceptance tests cover GitHub's shapes): membership answers, retries with backoff on 5xx
and network errors without sleeping, no retry on 4xx, and what still fails translated into
forge errors — rate limits with the wait their headers ask for; dry-run redelivery."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import github
import pytest

from ouro.validate import InvalidValue
from tasks.forge import (
    ForgeNotFound,
    ForgeRateLimited,
    ForgeRefused,
    ForgeUnavailable,
    HookDelivery,
    Status,
)
from tasks.github import GitHubStatuses, repo_path, segment
from tasks.github_reader import GitHubReader


class Scripted(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        # path → list of (status, body) answered in turn; the last one repeats.
        self.script: dict[str, list[tuple[int, object]]] = {}
        self.seen: list[tuple[str, str]] = []
        # path → extra response headers.
        self.headers: dict[str, dict[str, str]] = {}


class Handler(BaseHTTPRequestHandler):
    server: Scripted

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path))
        answers = self.server.script.get(self.path, [(404, {"message": "Not Found"})])
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in self.server.headers.get(self.path, {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Scripted]:
    srv = Scripted()
    thread = threading.Thread(target=srv.serve_forever)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def client(server: Scripted) -> github.Github:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return github.Github(base_url=url, retry=None, timeout=5, lazy=True)


def reader(
    server: Scripted,
    sleeps: list[float],
    *,
    can_write: bool = True,
    clock: Callable[[], float] = time.time,
) -> GitHubReader:
    return GitHubReader(client(server), can_write=can_write, sleep=sleeps.append, clock=clock)


def test_membership(server: Scripted) -> None:
    server.script["/orgs/o/members/in"] = [(204, None)]
    # A token outside the org is sent to the public members: public ones count.
    server.script["/orgs/o/members/redirected"] = [(302, None)]
    server.script["/orgs/o/members/public"] = [(302, None)]
    server.script["/orgs/o/public_members/public"] = [(204, None)]
    sleeps: list[float] = []
    r = reader(server, sleeps)
    assert r.is_member("o", "in")
    assert not r.is_member("o", "out")
    assert not r.is_member("o", "redirected")
    assert r.is_member("o", "public")
    assert sleeps == []


def test_5xx_is_retried_with_backoff(server: Scripted) -> None:
    server.script["/orgs/o/members/x"] = [(502, None), (503, None), (500, None), (204, None)]
    sleeps: list[float] = []
    assert reader(server, sleeps).is_member("o", "x")
    assert sleeps == [1.0, 2.0, 4.0]


def test_persistent_5xx_gives_up_after_the_last_backoff(server: Scripted) -> None:
    server.script["/repos/o/r/pulls/1"] = [(502, {"message": "Bad gateway"})]
    sleeps: list[float] = []
    with pytest.raises(ForgeUnavailable) as caught:
        reader(server, sleeps).pull("o/r", 1)
    assert caught.value.status == 502
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(server.seen) == 5


def test_4xx_is_not_retried(server: Scripted) -> None:
    sleeps: list[float] = []
    with pytest.raises(ForgeNotFound) as caught:
        reader(server, sleeps).pull("o/r", 404)
    assert caught.value.status == 404
    assert sleeps == []
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("status", "message", "headers", "expected"),
    [
        (
            403,
            "API rate limit exceeded for user ID 1.",
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000600"},
            600.0,
        ),
        (403, "You have exceeded a secondary rate limit.", {"Retry-After": "30"}, 30.0),
        (429, "Too many requests", {}, 60.0),
        # A reset already past (clocks differ) still waits a little.
        (
            403,
            "API rate limit exceeded",
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1699999000"},
            1.0,
        ),
        (403, "API rate limit exceeded", {"Retry-After": "soon"}, 60.0),
        # A secondary limit names no time; its reset header is about the primary limit.
        (
            403,
            "You have exceeded a secondary rate limit.",
            {"X-RateLimit-Remaining": "4000", "X-RateLimit-Reset": "9999999999"},
            60.0,
        ),
        # Capped: the bot holds the message unacked meanwhile.
        (403, "API rate limit exceeded for user ID 1.", {"Retry-After": "86400"}, 900.0),
    ],
)
def test_rate_limit_is_not_retried_and_its_headers_give_the_wait(
    server: Scripted, status: int, message: str, headers: dict[str, str], expected: float
) -> None:
    server.script["/repos/o/r/pulls/1"] = [(status, {"message": message})]
    server.headers["/repos/o/r/pulls/1"] = headers
    sleeps: list[float] = []
    with pytest.raises(ForgeRateLimited) as caught:
        reader(server, sleeps, clock=lambda: 1_700_000_000.0).pull("o/r", 1)
    assert sleeps == []
    assert caught.value.status == status
    assert caught.value.retry_after == expected


def test_rate_limit_waits_until_the_reset_time(server: Scripted) -> None:
    reset = time.time() + 300
    server.script["/repos/o/r/pulls/1"] = [(403, {"message": "API rate limit exceeded"})]
    server.headers["/repos/o/r/pulls/1"] = {
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(reset)),
    }
    with pytest.raises(ForgeRateLimited) as caught:
        reader(server, []).pull("o/r", 1)
    assert caught.value.retry_after == pytest.approx(300, abs=5)


def test_forbidden_without_rate_limit_is_not_one(server: Scripted) -> None:
    server.script["/repos/o/r/pulls/1"] = [(403, {"message": "Resource not accessible"})]
    with pytest.raises(ForgeRefused) as caught:
        reader(server, []).pull("o/r", 1)
    assert not isinstance(caught.value, ForgeRateLimited)
    assert caught.value.status == 403


def test_refused_status_keeps_githubs_answer(server: Scripted) -> None:
    # The worker's log line for a dropped job shows what GitHub said.
    message = "This SHA and context has reached the maximum number of statuses."
    server.script[f"/repos/o/r/statuses/{'a' * 40}"] = [(422, {"message": message})]
    with pytest.raises(ForgeRefused) as caught:
        GitHubStatuses(client(server)).post("o/r", "a" * 40, Status("ci", "success", "ok"))
    assert caught.value.status == 422
    assert "422" in str(caught.value)
    assert message in str(caught.value)


def test_network_errors_are_retried() -> None:
    sleeps: list[float] = []
    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as closed:
        port = closed.server_address[1]
    client = github.Github(base_url=f"http://127.0.0.1:{port}", retry=None, timeout=5, lazy=True)
    with pytest.raises(ForgeUnavailable, match="onnection"):
        GitHubReader(client, can_write=False, sleep=sleeps.append).is_member("o", "x")
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_redeliver_posts_an_attempt_only_with_a_token(server: Scripted) -> None:
    server.script["/repos/o/r/hooks/7/deliveries/99/attempts"] = [(202, {})]
    delivery = HookDelivery(99, 7, "guid", datetime.now(UTC), 502, "push", redelivery=False)
    reader(server, [], can_write=False).redeliver("o/r", delivery)
    assert server.seen == []
    reader(server, [], can_write=True).redeliver("o/r", delivery)
    assert server.seen == [("POST", "/repos/o/r/hooks/7/deliveries/99/attempts")]


@pytest.mark.parametrize(
    "login", ["../../../orgs/o/members/in", "in?x=", "in#frag", "in\ud800", "in/..", "-in"]
)
def test_membership_of_a_hostile_login_is_refused_before_any_request(
    server: Scripted, login: str
) -> None:
    """Built into the path unquoted, each of these asked GitHub about `in` (a member) or
    raised inside the bot (issue 15)."""
    server.script["/orgs/o/members/in"] = [(204, None)]
    with pytest.raises(InvalidValue, match="invalid GitHub login"):
        reader(server, []).is_member("o", login)
    with pytest.raises(InvalidValue, match="invalid GitHub login"):
        reader(server, []).is_member(login, "in")
    assert server.seen == []


def test_every_path_segment_is_quoted() -> None:
    # Valid values need no quoting; the adapter quotes all the same (defence in depth).
    assert segment("../x?y#z") == "..%2Fx%3Fy%23z"
    assert repo_path("octo/demo.js") == "octo/demo.js"
    with pytest.raises(InvalidValue):
        repo_path("octo/../../orgs")


def test_a_stop_ends_the_backoff_at_once(server: Scripted) -> None:
    """`ouro bot` passes its stop event's wait: a SIGTERM during a GitHub outage is not
    held up by the rest of the 15 s of backoff (issue 15)."""
    server.script["/orgs/o/members/x"] = [(502, None)]
    stop = threading.Event()
    stop.set()
    client_ = client(server)
    started = time.monotonic()
    with pytest.raises(ForgeUnavailable):
        GitHubReader(client_, can_write=False, sleep=stop.wait).is_member("o", "x")
    assert time.monotonic() - started < 1
    assert len(server.seen) == 1
    statuses = GitHubStatuses(client_, sleep=stop.wait)
    server.script["/repos/o/r/statuses/" + "a" * 40] = [(503, None)]
    with pytest.raises(ForgeUnavailable):
        statuses.post("o/r", "a" * 40, Status("c", "pending", "x"))
    assert len(server.seen) == 2
