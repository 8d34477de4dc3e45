"""A pull request's files and reviews, through PyGithub's own methods."""

import hashlib
import json
from collections.abc import Iterator

import github
import pytest

from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture
from tests.mock_github.test_pygithub import pygithub

REPO = "acme/widget"


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@pytest.fixture
def pull(mock_github: MockGitHubFixture) -> Iterator[github.PullRequest.PullRequest]:
    c = mock_github.control
    c.create_repo(REPO, files={"a.txt": "one\ntwo\nthree\n", "old.txt": "x\n"})
    c.add_collaborator(REPO, "carol")
    pr = c.open_pr(
        REPO,
        "fix",
        files={"a.txt": "one\n2\nthree\nfour\n", "old.txt": None, "src/new.txt": "new\n"},
        user="dave",
    )
    c.push(REPO, {"main.txt": "moved on\n"})  # the base moves on: not part of the PR's diff
    gh = pygithub(mock_github.url, mock_github.token)
    yield gh.get_repo(REPO).get_pull(pr["number"])
    gh.close()


def test_files_are_the_diff_of_the_pull_request(
    pull: github.PullRequest.PullRequest, mock_github: MockGitHubFixture
) -> None:
    files = {f.filename: f for f in pull.get_files()}
    assert sorted(files) == ["a.txt", "old.txt", "src/new.txt"]
    a, old, new = files["a.txt"], files["old.txt"], files["src/new.txt"]
    assert (a.status, a.additions, a.deletions, a.changes) == ("modified", 2, 1, 3)
    assert a.patch == "@@ -1,3 +1,4 @@\n one\n-two\n+2\n three\n+four"
    assert a.sha == blob_sha(b"one\n2\nthree\nfour\n")
    head = pull.head.sha
    assert a.blob_url == f"{mock_github.url}/{REPO}/blob/{head}/a.txt"
    assert a.raw_url == f"{mock_github.url}/{REPO}/raw/{head}/a.txt"
    assert a.contents_url == f"{mock_github.url}/repos/{REPO}/contents/a.txt?ref={head}"
    assert (old.status, old.additions, old.deletions, old.patch) == (
        "removed",
        0,
        1,
        "@@ -1 +0,0 @@\n-x",
    )
    assert (new.status, new.additions, new.deletions) == ("added", 1, 0)
    assert new.patch == "@@ -0,0 +1 @@\n+new"


def test_files_of_a_merged_pull_request_stay(
    pull: github.PullRequest.PullRequest, mock_github: MockGitHubFixture
) -> None:
    mock_github.control.merge_pr(REPO, pull.number)
    assert sorted(f.filename for f in pull.get_files()) == ["a.txt", "old.txt", "src/new.txt"]


def test_reviews(
    pull: github.PullRequest.PullRequest,
    mock_github: MockGitHubFixture,
    hook_recorder: HookRecorder,
) -> None:
    mock_github.control.add_hook(REPO, hook_recorder.url, None)  # every event
    approved = pull.create_review(body="Looks good", event="APPROVE")
    assert (approved.state, approved.body, approved.user.login) == (
        "APPROVED",
        "Looks good",
        "ouro-bot",
    )
    assert approved.commit_id == pull.head.sha
    changes = pull.create_review(body="One more test", event="REQUEST_CHANGES")
    comment = pull.create_review(body="A thought", event="COMMENT")
    draft = pull.create_review(body="Not yet")
    assert draft.state == "PENDING"
    listed = [(r.id, r.state) for r in pull.get_reviews()]
    assert listed == [
        (approved.id, "APPROVED"),
        (changes.id, "CHANGES_REQUESTED"),
        (comment.id, "COMMENTED"),
        (draft.id, "PENDING"),
    ]
    # A draft is its author's alone; each submitted review sent pull_request_review.
    mock_github.server.add_token("dave-token", "dave")
    dave = pygithub(mock_github.url, "dave-token")
    theirs = dave.get_repo(REPO).get_pull(pull.number)
    assert [r.id for r in theirs.get_reviews()] == [approved.id, changes.id, comment.id]
    sent = [
        (payload["review"]["id"], payload["review"]["state"])
        for received in hook_recorder.received
        if received.headers["X-GitHub-Event"] == "pull_request_review"
        and (payload := json.loads(received.body))["action"] == "submitted"
    ]
    assert sent == [
        (approved.id, "approved"),
        (changes.id, "changes_requested"),
        (comment.id, "commented"),
    ]
    # GitHub's refusals: no approving your own pull request, no empty "request changes".
    with pytest.raises(github.GithubException) as own:
        theirs.create_review(event="APPROVE")
    assert own.value.status == 422
    assert own.value.data["errors"] == ["Review Can not approve your own pull request"]
    with pytest.raises(github.GithubException) as empty:
        pull.create_review(event="REQUEST_CHANGES")
    assert empty.value.status == 422
    dave.close()
