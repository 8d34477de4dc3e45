"""Issues through the REST API as GitHub serves them: listing (pull requests included,
filtered, sorted, paginated), creating (with the `issues` `opened` webhook), editing a
description (the `edited` webhook's `changes.body.from`), and files whose paths need
quoting in the contents API."""

import base64
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture

REPO = "acme/widget"


@pytest.fixture
def http(mock_github: MockGitHubFixture, hook_recorder: HookRecorder) -> Iterator[requests.Session]:
    mock_github.set_webhook(hook_recorder.url, "secret")
    mock_github.control.create_repo(REPO, files={"a.txt": "1\n"})
    with requests.Session() as session:
        session.headers["Authorization"] = f"token {mock_github.token}"
        yield session


def api(mock_github: MockGitHubFixture, path: str) -> str:
    return f"{mock_github.url}/repos/{REPO}{path}"


def payloads(mock_github: MockGitHubFixture, event: str) -> list[dict[str, Any]]:
    return [d["request"]["payload"] for d in mock_github.control.deliveries(event)]


def test_list_includes_pull_requests_and_filters_by_state(
    mock_github: MockGitHubFixture, http: requests.Session
) -> None:
    control = mock_github.control
    issue = control.open_issue(REPO, "A bug", body="It breaks")
    pr = control.open_pr(REPO, "fix", files={"a.txt": "2\n"}, title="Fix")
    closed = control.open_issue(REPO, "Old")
    assert http.patch(api(mock_github, f"/issues/{closed['number']}"), json={"state": "closed"})

    listed = http.get(api(mock_github, "/issues"), timeout=10)
    assert listed.status_code == 200
    # Newest first; a pull request has `pull_request`, a plain issue has none.
    assert [i["number"] for i in listed.json()] == [pr["number"], issue["number"]]
    by_number = {i["number"]: i for i in listed.json()}
    assert by_number[issue["number"]]["title"] == "A bug"
    assert by_number[issue["number"]]["body"] == "It breaks"
    assert "pull_request" not in by_number[issue["number"]]
    pull_part = by_number[pr["number"]]["pull_request"]
    assert pull_part["url"] == api(mock_github, f"/pulls/{pr['number']}")
    assert pull_part["merged_at"] is None

    def numbers(**query: str) -> list[int]:
        response = http.get(api(mock_github, "/issues"), params=query, timeout=10)
        assert response.status_code == 200, response.text
        return [i["number"] for i in response.json()]

    assert numbers(state="closed") == [closed["number"]]
    assert numbers(state="all") == [closed["number"], pr["number"], issue["number"]]
    assert numbers(state="all", direction="asc") == [
        issue["number"],
        pr["number"],
        closed["number"],
    ]
    http.post(api(mock_github, f"/issues/{issue['number']}/comments"), json={"body": "+1"})
    assert numbers(sort="comments")[0] == issue["number"]

    for query in ({"state": "bogus"}, {"sort": "size"}, {"direction": "up"}):
        refused = http.get(api(mock_github, "/issues"), params=query, timeout=10)
        assert refused.status_code == 422
        assert refused.json()["message"] == "Validation Failed"


def test_list_is_paginated(mock_github: MockGitHubFixture, http: requests.Session) -> None:
    for n in range(5):
        mock_github.control.open_issue(REPO, f"Issue {n}")
    first = http.get(api(mock_github, "/issues"), params={"per_page": "2"}, timeout=10)
    assert [i["title"] for i in first.json()] == ["Issue 4", "Issue 3"]
    links = requests.utils.parse_header_links(first.headers["Link"])
    next_url = next(link["url"] for link in links if link["rel"] == "next")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(next_url).query)
    assert query["page"] == ["2"]
    assert query["per_page"] == ["2"]
    last = http.get(api(mock_github, "/issues"), params={"per_page": "2", "page": "3"})
    assert [i["title"] for i in last.json()] == ["Issue 0"]
    assert "next" not in last.headers["Link"]


def test_create_delivers_issues_opened(
    mock_github: MockGitHubFixture, http: requests.Session
) -> None:
    mock_github.control.add_user("bob", token="bob-token")
    made = http.post(
        api(mock_github, "/issues"),
        json={"title": "Refresh images", "body": "- [ ] fedora"},
        headers={"Authorization": "token bob-token"},
        timeout=10,
    )
    assert made.status_code == 201
    issue = made.json()
    assert (issue["title"], issue["body"], issue["state"]) == (
        "Refresh images",
        "- [ ] fedora",
        "open",
    )
    assert issue["user"]["login"] == "bob"
    assert "pull_request" not in issue
    assert http.get(api(mock_github, f"/issues/{issue['number']}")).json()["title"] == (
        "Refresh images"
    )

    [opened] = payloads(mock_github, "issues")
    assert opened["action"] == "opened"
    assert opened["issue"]["number"] == issue["number"]
    assert opened["issue"]["body"] == "- [ ] fedora"
    assert opened["repository"]["full_name"] == REPO
    assert opened["sender"]["login"] == "bob"

    # Without a body, a null one, as GitHub stores it.
    bare = http.post(api(mock_github, "/issues"), json={"title": "Bare"}, timeout=10).json()
    assert bare["body"] is None


def test_create_is_refused_without_token_or_title(
    mock_github: MockGitHubFixture, http: requests.Session
) -> None:
    anonymous = requests.post(api(mock_github, "/issues"), json={"title": "x"}, timeout=10)
    assert anonymous.status_code == 401
    for body in ({}, {"title": ""}, {"title": ["x"]}, {"title": "x", "body": 3}):
        refused = http.post(api(mock_github, "/issues"), json=body, timeout=10)
        assert refused.status_code == 422, body
    assert http.get(api(mock_github, "/issues"), timeout=10).json() == []
    assert payloads(mock_github, "issues") == []


def test_the_control_api_issue_delivers_opened_too(
    mock_github: MockGitHubFixture, http: requests.Session
) -> None:
    issue = mock_github.control.open_issue(REPO, "By hand", user="carol")
    [opened] = payloads(mock_github, "issues")
    assert (opened["action"], opened["issue"]["number"]) == ("opened", issue["number"])
    assert opened["sender"]["login"] == "carol"


@pytest.mark.parametrize("route", ["pulls", "issues"])
def test_editing_a_pull_requests_body_says_what_it_was(
    mock_github: MockGitHubFixture, http: requests.Session, route: str
) -> None:
    # Opened without a description: GitHub's REST answers say null, the webhook says "".
    pr = mock_github.control.open_pr(REPO, "fix", files={"a.txt": "2\n"})
    assert pr["body"] is None
    url = api(mock_github, f"/{route}/{pr['number']}")
    assert http.patch(url, json={"body": "first"}, timeout=10).json()["body"] == "first"
    assert http.patch(url, json={"body": "second"}, timeout=10).status_code == 200
    # The same body again changes nothing, and says nothing.
    assert http.patch(url, json={"body": "second"}, timeout=10).status_code == 200

    edits = [p for p in payloads(mock_github, "pull_request") if p["action"] == "edited"]
    assert [e["changes"] for e in edits] == [
        {"body": {"from": ""}},
        {"body": {"from": "first"}},
    ]
    assert edits[-1]["pull_request"]["body"] == "second"
    assert payloads(mock_github, "issues") == []


def test_editing_an_issues_body_delivers_issues_edited(
    mock_github: MockGitHubFixture, http: requests.Session
) -> None:
    issue = mock_github.control.open_issue(REPO, "Track", body="old")
    http.patch(api(mock_github, f"/issues/{issue['number']}"), json={"body": "new"}, timeout=10)
    edited = [p for p in payloads(mock_github, "issues") if p["action"] == "edited"]
    assert [e["changes"] for e in edited] == [{"body": {"from": "old"}}]
    assert edited[0]["issue"]["body"] == "new"
    # An issue is no pull request.
    assert http.patch(api(mock_github, f"/pulls/{issue['number']}"), json={}).status_code == 404


def test_contents_of_paths_that_need_quoting(
    mock_github: MockGitHubFixture, http: requests.Session
) -> None:
    files = {"docs/read me.txt": "spaces\n", "docs/é ü.txt": "unicode\n", "q?#%.txt": "odd\n"}
    mock_github.control.push(REPO, dict(files), branch="feature/x")
    for path, text in files.items():
        quoted = "/".join(urllib.parse.quote(part, safe="") for part in path.split("/"))
        response = http.get(
            api(mock_github, f"/contents/{quoted}"), params={"ref": "feature/x"}, timeout=10
        )
        assert response.status_code == 200, path
        found = response.json()
        assert (found["path"], found["encoding"]) == (path, "base64")
        assert base64.b64decode(found["content"]).decode() == text
        # GitHub's URLs are percent-encoded.
        assert urllib.parse.quote(path) in found["url"]
        assert " " not in found["url"]
    listing = http.get(api(mock_github, "/contents/docs"), params={"ref": "feature/x"}).json()
    # Names as they are, not as git quotes them.
    assert sorted(e["name"] for e in listing) == ["read me.txt", "é ü.txt"]
    missing = http.get(api(mock_github, "/contents/docs/nope.txt"), params={"ref": "feature/x"})
    assert missing.status_code == 404
    # Absent from the default branch.
    assert http.get(api(mock_github, "/contents/q%3F%23%25.txt")).status_code == 404
    no_ref = http.get(api(mock_github, "/contents/a.txt"), params={"ref": "nope"})
    assert no_ref.status_code == 404


def test_branch_with_a_slash(mock_github: MockGitHubFixture, http: requests.Session) -> None:
    sha = mock_github.control.push(REPO, {"b.txt": "b\n"}, branch="feature/x")
    branch = http.get(api(mock_github, "/branches/feature/x"), timeout=10).json()
    assert (branch["name"], branch["commit"]["sha"]) == ("feature/x", sha)
    assert http.get(api(mock_github, "/branches/feature%2Fx"), timeout=10).status_code == 200
    missing = http.get(api(mock_github, "/branches/nope"), timeout=10)
    assert (missing.status_code, missing.json()["message"]) == (404, "Branch not found")
