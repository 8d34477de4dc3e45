"""GitHub-style errors for bad requests, status validation, and a server that keeps serving."""

import socket
from collections.abc import Iterator

import github
import pytest
import requests

from mock_github.state.statuses import MAX_STATUSES_PER_CONTEXT
from tests.fixtures_mock_github import MockGitHubFixture

REPO = "acme/widget"


@pytest.fixture
def http(mock_github: MockGitHubFixture) -> Iterator[requests.Session]:
    mock_github.control.create_repo(REPO, files={"a.txt": "1\n"})
    with requests.Session() as session:
        yield session


def auth(mock_github: MockGitHubFixture) -> dict[str, str]:
    return {"Authorization": f"token {mock_github.token}"}


def test_unknown_routes_are_github_404s(
    mock_github: MockGitHubFixture, http: requests.Session
) -> None:
    for path in ("/nope", "/repos/acme/missing", f"/repos/{REPO}/pulls/99", "/_mock/nope"):
        response = http.get(mock_github.url + path, timeout=10)
        assert response.status_code == 404, path
        body = response.json()
        assert body["message"] == "Not Found"
        assert body["documentation_url"].startswith("https://docs.github.com/")


def test_auth_errors(mock_github: MockGitHubFixture, http: requests.Session) -> None:
    url = f"{mock_github.url}/repos/{REPO}/issues/1/comments"
    response = http.post(url, json={"body": "x"}, timeout=10)
    assert (response.status_code, response.json()["message"]) == (401, "Requires authentication")
    bad = {"Authorization": "Bearer wrong"}
    response = http.get(f"{mock_github.url}/repos/{REPO}", headers=bad, timeout=10)
    assert (response.status_code, response.json()["message"]) == (401, "Bad credentials")
    response = http.get(f"{mock_github.url}/user", timeout=10)
    assert response.status_code == 401
    # Reading needs no token.
    assert http.get(f"{mock_github.url}/repos/{REPO}", timeout=10).status_code == 200


def test_malformed_bodies(mock_github: MockGitHubFixture, http: requests.Session) -> None:
    sha = http.get(f"{mock_github.url}/repos/{REPO}/commits/main", timeout=10).json()["sha"]
    url = f"{mock_github.url}/repos/{REPO}/statuses/{sha}"
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        response = http.post(url, data=body, headers=auth(mock_github), timeout=10)
        assert (response.status_code, response.json()["message"]) == (
            400,
            "Problems parsing JSON",
        )
    control = f"{mock_github.url}/_mock/repos"
    response = http.post(control, data=b"{", timeout=10)
    assert response.status_code == 400
    response = http.post(control, json={"full_name": 5}, timeout=10)
    assert response.status_code == 422
    response = http.post(control, json={}, timeout=10)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "full_name"
    response = http.post(f"{mock_github.url}/_mock/users", json={"login": "a b"}, timeout=10)
    assert response.status_code == 422
    response = http.post(
        control, json={"full_name": "acme/bad", "files": {".git/config": "x"}}, timeout=10
    )
    assert response.status_code == 422
    assert http.post(control, json={"full_name": "acme/bad"}, timeout=10).status_code == 201
    response = http.post(control, json={"full_name": "../../etc"}, timeout=10)
    assert response.status_code == 422
    response = http.post(f"{control}/{REPO}/push", json={"files": {"../x": "y"}}, timeout=10)
    assert response.status_code == 422
    response = http.post(
        f"{mock_github.url}/repos/{REPO}/issues/1/comments",
        json={"body": 3},
        headers=auth(mock_github),
        timeout=10,
    )
    assert response.status_code in (404, 422)  # no issue 1 yet: 404 comes first


def test_garbage_on_the_socket_does_not_kill_the_server(
    mock_github: MockGitHubFixture, http: requests.Session
) -> None:
    host, port = mock_github.server.httpd.server_address[:2]
    for garbage in (
        b"\x00\x01\x02\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /_mock/repos HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ):
        with socket.create_connection((str(host), port), timeout=10) as raw:
            raw.sendall(garbage)
            raw.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := raw.recv(4096):  # the server closes: the body's end is unknowable
                answer += chunk
            assert b"Bad request" in answer
    chunked = http.post(
        f"{mock_github.url}/_mock/repos",
        data=iter([b'{"full_name": "acme/chunked"}']),
        timeout=10,
    )
    assert chunked.status_code == 201
    assert http.get(f"{mock_github.url}/repos/{REPO}", timeout=10).status_code == 200


def test_a_failing_handler_answers_500_and_says_it_closes(
    mock_github: MockGitHubFixture, http: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(full_name: str) -> None:
        raise RuntimeError("a bug of the mock")

    monkeypatch.setattr(mock_github.server.state, "repo", broken)
    failed = http.get(f"{mock_github.url}/repos/{REPO}", timeout=10)
    assert failed.status_code == 500
    # Without the header a keep-alive client sends its next request into the closed socket.
    assert failed.headers["Connection"] == "close"
    monkeypatch.undo()
    for _ in range(3):
        assert http.get(f"{mock_github.url}/repos/{REPO}", timeout=10).status_code == 200


def test_status_validation(mock_github: MockGitHubFixture, http: requests.Session) -> None:
    sha = http.get(f"{mock_github.url}/repos/{REPO}/commits/main", timeout=10).json()["sha"]
    url = f"{mock_github.url}/repos/{REPO}/statuses/{sha}"
    for body in (
        {"state": "done", "context": "ci"},
        {"context": "ci"},
        {"state": "success", "context": "ci", "description": "x" * 141},
        {"state": "success", "context": "ci", "target_url": 5},
    ):
        response = http.post(url, json=body, headers=auth(mock_github), timeout=10)
        assert response.status_code == 422, body
        data = response.json()
        assert data["message"] == "Validation Failed"
        assert data["errors"][0]["resource"] == "Status"
    unknown = f"{mock_github.url}/repos/{REPO}/statuses/{'0' * 40}"
    response = http.post(unknown, json={"state": "success"}, headers=auth(mock_github), timeout=10)
    assert response.status_code == 422
    assert response.json()["message"].startswith("No commit found for SHA")


def test_status_limit_per_sha_and_context(mock_github: MockGitHubFixture) -> None:
    control = mock_github.control
    control.create_repo(REPO, files={"a.txt": "1\n"})
    server = mock_github.server
    with server.state.lock:
        repo = server.state.repo(REPO)
        sha = repo.git.resolve("main")
        assert sha is not None
        # Fill up to the limit in-process: a thousand HTTP round trips prove nothing more.
        for i in range(MAX_STATUSES_PER_CONTEXT):
            server.state.add_status(
                repo,
                sha,
                state="pending",
                context="full",
                description=str(i),
                target_url=None,
                creator="ouro-bot",
            )
    client = github.Github(
        base_url=mock_github.url,
        auth=github.Auth.Token(mock_github.token),
        retry=None,
        seconds_between_writes=None,
    )
    try:
        commit = client.get_repo(REPO).get_commit(sha)
        with pytest.raises(github.GithubException) as caught:
            commit.create_status("success", context="full")
        assert caught.value.status == 422
        assert "maximum number of statuses" in str(caught.value.data)
        commit.create_status("success", context="other")  # the limit is per context
        assert commit.get_combined_status().total_count == 2
    finally:
        client.close()
