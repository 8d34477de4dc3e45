"""Headers as GitHub sends them: request ids, ETags and 304s, rate limits that run out."""

import re
import time
from collections.abc import Iterator

import github
import pytest
import requests

from mock_github.ratelimit import Client, RateLimits
from mock_github.routing import Response
from tasks.forge import ForgeRateLimited
from tasks.github import forge_error
from tests.fixtures_mock_github import MockGitHubFixture
from tests.mock_github.test_pygithub import pygithub

REPO = "acme/widget"
REQUEST_ID = re.compile(r"[0-9A-F]{4}:[0-9A-F]{4}:[0-9A-F]{6}:[0-9A-F]{6}:[0-9A-F]{8}")


@pytest.fixture
def http(mock_github: MockGitHubFixture) -> Iterator[requests.Session]:
    mock_github.control.create_repo(REPO, files={"README.md": "hello\n"})
    with requests.Session() as session:
        session.headers["Authorization"] = f"token {mock_github.token}"
        yield session


def test_every_answer_has_a_request_id(
    mock_github: MockGitHubFixture, http: requests.Session
) -> None:
    url = mock_github.url
    answers = [
        http.get(f"{url}/repos/{REPO}", timeout=10),
        http.get(f"{url}/repos/{REPO}/pulls/9", timeout=10),
        http.post(f"{url}/repos/{REPO}/issues", json={"title": "t"}, timeout=10),
        http.get(f"{url}/_mock/healthz", timeout=10),
        http.get(f"{url}/{REPO}.git/info/refs?service=git-upload-pack", timeout=10),
    ]
    assert [a.status_code for a in answers] == [200, 404, 201, 200, 200]
    ids = [a.headers["X-GitHub-Request-Id"] for a in answers]
    assert all(REQUEST_ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_etag_and_304(mock_github: MockGitHubFixture, http: requests.Session) -> None:
    url = f"{mock_github.url}/repos/{REPO}"
    first = http.get(url, timeout=10)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('W/"')
    assert first.headers["Vary"].startswith("Accept, Authorization")
    remaining = int(first.headers["X-RateLimit-Remaining"])

    again = http.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert int(again.headers["X-RateLimit-Remaining"]) == remaining  # a 304 is free
    since = http.get(url, headers={"If-Modified-Since": modified}, timeout=10)
    assert since.status_code == 304

    mock_github.control.push(REPO, {"b.txt": "b\n"})  # pushed_at, hence the repository, changes
    time.sleep(1.1)  # Last-Modified has whole seconds
    mock_github.control.push(REPO, {"c.txt": "c\n"})
    changed = http.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert int(changed.headers["X-RateLimit-Remaining"]) == remaining - 1
    assert http.get(url, headers={"If-Modified-Since": modified}, timeout=10).status_code == 200
    # A list has an ETag but no Last-Modified, as on GitHub.
    listing = http.get(f"{url}/issues", timeout=10)
    assert "ETag" in listing.headers
    assert "Last-Modified" not in listing.headers


def test_pygithub_update_is_conditional(mock_github: MockGitHubFixture) -> None:
    """PyGithub's `update()` sends the ETag it holds: False (a 304) until something changed."""
    mock_github.control.create_repo(REPO, files={"README.md": "hello\n"})
    gh = pygithub(mock_github.url, mock_github.token)
    repo = gh.get_repo(REPO)
    issue = repo.get_issue(repo.create_issue("Broken").number)
    assert issue.update() is False
    mock_github.control.comment(REPO, issue.number, "Me too", user="dave")
    assert issue.update() is True
    assert issue.comments == 1
    gh.close()


def test_pygithub_reads_the_rate_limit(mock_github: MockGitHubFixture) -> None:
    mock_github.control.set_rate_limit(10, reset=True)
    gh = pygithub(mock_github.url, mock_github.token)
    assert gh.get_user("ouro-bot").login == gh.get_user().login == "ouro-bot"
    limits = gh.get_rate_limit()
    gh.get_rate_limit()  # GET /rate_limit does not count
    core = gh.get_rate_limit().resources.core
    assert (core.limit, core.used, core.remaining) == (10, 2, 8)
    assert core.reset.timestamp() == pytest.approx(time.time() + 3600, abs=60)
    assert limits.resources.search.remaining == 10
    gh.close()


def test_a_spent_budget_refuses_until_reset(
    mock_github: MockGitHubFixture, http: requests.Session
) -> None:
    mock_github.control.set_rate_limit(3, reset=True)
    gh = pygithub(mock_github.url, mock_github.token)
    for _ in range(3):
        gh.get_repo(REPO)
    with pytest.raises(github.RateLimitExceededException) as raised:
        gh.get_repo(REPO)
    error = raised.value
    assert error.status == 403
    assert (error.headers or {})["x-ratelimit-remaining"] == "0"
    assert error.data["message"].startswith("API rate limit exceeded for user ID ")
    # The bot's adapter waits until the reset GitHub names (capped at 15 minutes).
    assert isinstance(waited := forge_error(error, time.time()), ForgeRateLimited)
    assert waited.retry_after == 900.0
    # Another user has a budget of its own; /rate_limit still answers.
    assert requests.get(f"{mock_github.url}/repos/{REPO}", timeout=10).status_code == 200
    assert gh.get_rate_limit().resources.core.remaining == 0

    mock_github.control.set_rate_limit(reset=True)
    assert gh.get_repo(REPO).full_name == REPO
    gh.close()


def test_without_a_token_the_address_has_60(mock_github: MockGitHubFixture) -> None:
    url = f"{mock_github.url}/users/ouro-bot"
    with requests.Session() as session:
        # A bad token is no authentication: a 401, counted against the address.
        bad_token = session.get(url, headers={"Authorization": "token nope"}, timeout=10)
        answers = [session.get(url, timeout=10) for _ in range(60)]
    assert bad_token.status_code == 401
    assert bad_token.headers["X-RateLimit-Limit"] == "60"
    assert bad_token.headers["X-RateLimit-Remaining"] == "59"
    assert [a.status_code for a in answers] == [200] * 59 + [403]
    assert answers[58].headers["X-RateLimit-Remaining"] == "0"
    assert answers[59].json()["message"].startswith("API rate limit exceeded for 127.0.0.1.")


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_limit(mock_github: MockGitHubFixture, status: int) -> None:
    mock_github.control.create_repo(REPO)
    mock_github.control.set_rate_limit(secondary=2, status=status, retry_after=7)
    gh = pygithub(mock_github.url, mock_github.token)
    expected = github.RateLimitExceededException if status == 403 else github.GithubException
    for _ in range(2):
        with pytest.raises(expected) as raised:
            gh.get_repo(REPO)
        assert raised.value.status == status
        assert (raised.value.headers or {})["retry-after"] == "7"
        assert raised.value.data["message"].startswith("You have exceeded a secondary rate limit")
        waited = forge_error(raised.value, time.time())
        assert isinstance(waited, ForgeRateLimited)
        assert waited.retry_after == 7.0
    assert gh.get_repo(REPO).full_name == REPO
    gh.close()


def test_a_budget_lasts_an_hour() -> None:
    now = [1000.0]
    limits = RateLimits(limit=1, clock=lambda: now[0])
    client = Client("alice", "127.0.0.1", 7)

    def get() -> Response:
        return limits.metered(client, "/user", lambda: Response(200, {}))

    assert get().status == 200
    refused = get()
    assert (refused.status, refused.headers["X-RateLimit-Reset"]) == (403, "4600")
    now[0] = 4600.0
    assert get().status == 200
