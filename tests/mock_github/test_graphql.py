"""GraphQL: the real `gh pr list/view/checks` against the mock over HTTPS, and GraphQL's
errors (an unknown field, an unknown repository) as GitHub answers them."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fixtures_mock_github import MockGitHubFixture
from tests.mock_github.test_gh_cli import gh_env, needs_gh

REPO = "acme/widget"


def run_gh(mock: MockGitHubFixture, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    repo = f"localhost:{mock.server.port}/{REPO}"
    return subprocess.run(
        ["gh", *args, "--repo", repo],
        env=gh_env(mock, tmp_path, mock.token),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def post(mock: MockGitHubFixture, path: str, body: Any) -> requests.Response:
    return requests.post(
        f"{mock.url}{path}",
        json=body,
        headers={"Authorization": f"token {mock.token}"},
        verify=str(mock.ca_file) if mock.ca_file else True,
        timeout=30,
    )


def three_pulls(mock: MockGitHubFixture) -> str:
    """Pull requests 1 (open, with statuses and check runs on its head), 2 (open) and 3
    (closed); the head of 1."""
    c = mock.control
    c.create_repo(REPO, files={"README.md": "hello\n"})
    head = c.open_pr(REPO, "fix", files={"a.txt": "1\n"}, title="Fix it", user="alice")
    c.open_pr(REPO, "docs", files={"b.txt": "2\n"}, title="Add docs", user="bob")
    c.open_pr(REPO, "old", files={"c.txt": "3\n"}, title="Old idea", user="bob")
    c.close_pr(REPO, 3)
    c.comment(REPO, 1, "Looks right", user="bob")
    sha: str = head["head"]["sha"]
    statuses = [
        {"state": "success", "context": "ci/lint", "target_url": "http://ci.example/lint"},
        {"state": "pending", "context": "ci/test"},
    ]
    runs = [
        {"name": "build", "head_sha": sha, "conclusion": "failure", "details_url": "http://b"},
        {"name": "deploy", "head_sha": sha, "status": "in_progress"},
    ]
    for status in statuses:
        post(mock, f"/repos/{REPO}/statuses/{sha}", status).raise_for_status()
    for run in runs:
        post(mock, f"/repos/{REPO}/check-runs", run).raise_for_status()
    return sha


@needs_gh
def test_gh_pr_list(mock_github_tls: MockGitHubFixture, tmp_path: Path) -> None:
    three_pulls(mock_github_tls)
    result = run_gh(mock_github_tls, tmp_path, "pr", "list")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t")[:4] for line in result.stdout.splitlines()]
    assert rows == [["2", "Add docs", "docs", "OPEN"], ["1", "Fix it", "fix", "OPEN"]]
    result = run_gh(mock_github_tls, tmp_path, "pr", "list", "--state", "closed")
    assert [line.split("\t")[:2] for line in result.stdout.splitlines()] == [["3", "Old idea"]]


@needs_gh
def test_gh_pr_view(mock_github_tls: MockGitHubFixture, tmp_path: Path) -> None:
    three_pulls(mock_github_tls)
    result = run_gh(mock_github_tls, tmp_path, "pr", "view", "1")
    assert result.returncode == 0, result.stderr
    fields = dict(line.split(":\t", 1) for line in result.stdout.splitlines() if ":\t" in line)
    assert {k: fields[k] for k in ("title", "state", "author", "number")} == {
        "title": "Fix it",
        "state": "OPEN",
        "author": "alice",
        "number": "1",
    }
    assert fields["url"] == f"https://localhost:{mock_github_tls.server.port}/{REPO}/pull/1"
    result = run_gh(mock_github_tls, tmp_path, "pr", "view", "1", "--comments")
    assert "Looks right" in result.stdout
    result = run_gh(mock_github_tls, tmp_path, "pr", "view", "7")
    assert result.returncode == 1
    assert "Could not resolve to a PullRequest with the number of 7." in result.stderr


@needs_gh
def test_gh_pr_view_status_check_rollup(mock_github_tls: MockGitHubFixture, tmp_path: Path) -> None:
    three_pulls(mock_github_tls)
    result = run_gh(mock_github_tls, tmp_path, "pr", "view", "1", "--json", "statusCheckRollup")
    assert result.returncode == 0, result.stderr
    rollup = json.loads(result.stdout)["statusCheckRollup"]
    assert [
        (c["__typename"], c.get("context") or c["name"], c.get("state") or c["status"])
        for c in rollup
    ] == [
        ("StatusContext", "ci/lint", "SUCCESS"),
        ("StatusContext", "ci/test", "PENDING"),
        ("CheckRun", "build", "COMPLETED"),
        ("CheckRun", "deploy", "IN_PROGRESS"),
    ]
    assert [(c.get("conclusion"), c.get("targetUrl") or c.get("detailsUrl")) for c in rollup][
        :3
    ] == [(None, "http://ci.example/lint"), (None, None), ("FAILURE", "http://b")]


@needs_gh
def test_gh_pr_checks(mock_github_tls: MockGitHubFixture, tmp_path: Path) -> None:
    sha = three_pulls(mock_github_tls)
    result = run_gh(mock_github_tls, tmp_path, "pr", "checks", "1")
    assert result.returncode == 1, result.stderr  # gh: some checks failed
    rows = sorted(tuple(line.split("\t")[:2]) for line in result.stdout.splitlines())
    assert rows == [
        ("build", "fail"),
        ("ci/lint", "pass"),
        ("ci/test", "pending"),
        ("deploy", "pending"),
    ]
    # All passing: gh says so by its exit code.
    post(
        mock_github_tls, f"/repos/{REPO}/statuses/{sha}", {"state": "success", "context": "ci/test"}
    )
    for name in ("build", "deploy"):
        run = {"name": name, "head_sha": sha, "conclusion": "success"}
        post(mock_github_tls, f"/repos/{REPO}/check-runs", run).raise_for_status()
    result = run_gh(mock_github_tls, tmp_path, "pr", "checks", "1")
    assert result.returncode == 0, result.stderr
    assert sorted(line.split("\t")[1] for line in result.stdout.splitlines()) == ["pass"] * 4


@pytest.mark.parametrize("path", ["/graphql", "/api/graphql"])
def test_an_unknown_field_is_a_graphql_error(mock_github: MockGitHubFixture, path: str) -> None:
    mock_github.control.create_repo(REPO, files={"README.md": "hello\n"})
    query = '{ repository(owner: "acme", name: "widget") { nameWithOwner nope } }'
    answer = post(mock_github, path, {"query": query})
    assert answer.status_code == 200
    body = answer.json()
    assert sorted(body) == ["data", "errors"]
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["message"].startswith("Cannot query field 'nope' on type 'Repository'.")
    assert error["locations"] == [{"line": 1, "column": query.index("nope") + 1}]


def test_not_found_and_bad_requests(mock_github: MockGitHubFixture) -> None:
    query = 'query($n: String!) { repository(owner: "acme", name: $n) { name } }'
    answer = post(mock_github, "/graphql", {"query": query, "variables": {"n": "nowhere"}})
    assert answer.status_code == 200
    assert answer.json() == {
        "data": {"repository": None},
        "errors": [
            {
                "message": "Could not resolve to a Repository with the name 'acme/nowhere'.",
                "locations": [{"line": 1, "column": 22}],
                "path": ["repository"],
                "type": "NOT_FOUND",
            }
        ],
    }
    answer = post(mock_github, "/graphql", {"query": query})  # a required variable missing
    assert answer.json()["data"] is None
    assert answer.json()["errors"][0]["message"].startswith("Variable '$n'")
    missing = post(mock_github, "/graphql", {"variables": {}}).json()
    assert missing == {
        "errors": [{"message": "A query attribute must be specified and must be a string."}]
    }
    answer = requests.post(
        f"{mock_github.url}/graphql",
        data=b"{not json",
        headers={"Authorization": f"token {mock_github.token}"},
        timeout=30,
    )
    assert (answer.status_code, answer.json()["message"]) == (400, "Problems parsing JSON")
    anonymous = requests.post(
        f"{mock_github.url}/graphql", json={"query": "{ __typename }"}, timeout=30
    )
    assert anonymous.status_code == 401


def test_pull_requests_page_by_cursor(mock_github: MockGitHubFixture) -> None:
    three_pulls(mock_github)
    query = """query($after: String) { repository(owner: "acme", name: "widget") {
        pullRequests(first: 2, after: $after, states: [OPEN, CLOSED]) {
          totalCount nodes { number state } pageInfo { hasNextPage endCursor } } } }"""
    first = post(mock_github, "/graphql", {"query": query}).json()["data"]["repository"]
    pulls = first["pullRequests"]
    assert (pulls["totalCount"], pulls["pageInfo"]["hasNextPage"]) == (3, True)
    assert [(n["number"], n["state"]) for n in pulls["nodes"]] == [(1, "OPEN"), (2, "OPEN")]
    after = {"after": pulls["pageInfo"]["endCursor"]}
    second = post(mock_github, "/graphql", {"query": query, "variables": after}).json()
    pulls = second["data"]["repository"]["pullRequests"]
    assert [(n["number"], n["state"]) for n in pulls["nodes"]] == [(3, "CLOSED")]
    assert pulls["pageInfo"]["hasNextPage"] is False
    too_many = query.replace("first: 2", "first: 101")
    errors = post(mock_github, "/graphql", {"query": too_many}).json()["errors"]
    assert errors[0]["message"] == (
        "Requesting 101 records on the `pullRequests` connection exceeds the `first` limit"
        " of 100 records."
    )
