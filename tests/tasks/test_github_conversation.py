"""The forge port's new reads and its `Conversation`, through the GitHub adapter against the
real mock-github over HTTP: PR heads and descriptions, default branches, branch heads,
files (quoted paths, 404 as None), descriptions read and written (with the `edited`
webhook GitHub sends), comments, issues listed and created; the mock's 404s and 5xx as
forge errors; and the dry run used without a token."""

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import github
import pytest
import requests

from mock_github.records import Issue, Repo
from ouro.validate import InvalidValue
from tasks import github_conversation
from tasks.forge import (
    DryRunConversation,
    ForgeNotFound,
    ForgeRefused,
    ForgeUnavailable,
    IssueInfo,
)
from tasks.github_conversation import GitHubConversation, open_conversation
from tasks.github_reader import GitHubReader
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture

REPO = "acme/widget"


@pytest.fixture
def client(mock_github: MockGitHubFixture, hook_recorder: HookRecorder) -> Iterator[github.Github]:
    mock_github.set_webhook(hook_recorder.url, "secret")
    mock_github.control.create_repo(REPO, files={"README.md": "widget\n"}, default_branch="trunk")
    gh = github.Github(
        base_url=mock_github.url,
        auth=github.Auth.Token(mock_github.token),
        retry=None,
        timeout=10,
        lazy=True,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    yield gh
    gh.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def reader(client: github.Github, sleeps: list[float]) -> GitHubReader:
    return GitHubReader(client, can_write=True, sleep=sleeps.append)


@pytest.fixture
def conversation(client: github.Github, sleeps: list[float]) -> GitHubConversation:
    return GitHubConversation(client, sleep=sleeps.append)


def payloads(mock_github: MockGitHubFixture, event: str, action: str) -> list[dict[str, Any]]:
    found = [d["request"]["payload"] for d in mock_github.control.deliveries(event)]
    return [p for p in found if p["action"] == action]


def test_pull_info_names_the_head_and_the_description(
    mock_github: MockGitHubFixture, reader: GitHubReader
) -> None:
    control = mock_github.control
    pr = control.open_pr(REPO, "feature/x", files={"a": "1\n"}, body="Fixes it\n\nvm@infra#3")
    control.create_repo("alice/widget", files={"README.md": "fork\n"}, default_branch="trunk")
    fork = control.open_pr(REPO, "fix", files={"b": "2\n"}, head_repo="alice/widget", base="trunk")

    pull = reader.pull(REPO, pr["number"])
    assert (pull.head_repo, pull.head_ref, pull.body) == (
        REPO,
        "feature/x",
        "Fixes it\n\nvm@infra#3",
    )
    from_fork = reader.pull(REPO, fork["number"])
    # No description: "" rather than GitHub's null.
    assert (from_fork.head_repo, from_fork.head_ref, from_fork.body) == ("alice/widget", "fix", "")
    assert {p.number: p.head_repo for p in reader.open_pulls(REPO)} == {
        pr["number"]: REPO,
        fork["number"]: "alice/widget",
    }


def test_default_branch_and_branch_head(
    mock_github: MockGitHubFixture, reader: GitHubReader
) -> None:
    assert reader.default_branch(REPO) == "trunk"
    sha = mock_github.control.push(REPO, {"a": "1\n"}, branch="feature/x")
    assert reader.branch_head(REPO, "feature/x") == sha
    trunk = mock_github.control.push(REPO, {"a": "2\n"})
    assert reader.branch_head(REPO, "trunk") == trunk
    with pytest.raises(ForgeNotFound):
        reader.branch_head(REPO, "nope")
    with pytest.raises(ForgeNotFound):
        reader.default_branch("acme/missing")
    with pytest.raises(InvalidValue):
        reader.branch_head(REPO, "../../pulls")


def test_an_answer_without_its_fields_is_forge_unavailable(
    mock_github: MockGitHubFixture, reader: GitHubReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mock_github.server.state.repos[REPO], "default_branch", None)
    with pytest.raises(ForgeUnavailable, match="default_branch must be a string"):
        reader.default_branch(REPO)


def test_file_text(mock_github: MockGitHubFixture, reader: GitHubReader) -> None:
    files = {
        "images/fedora 41.yaml": "name: fedora\n",
        "docs/ünïcode ☃.md": "snow ☃\n",
        "odd/q?#%.txt": "odd\n",
    }
    sha = mock_github.control.push(REPO, dict(files), branch="refresh")
    for path, text in files.items():
        assert reader.file_text(REPO, "refresh", path) == text
        assert reader.file_text(REPO, sha, path) == text
    assert reader.file_text(REPO, "trunk", "README.md") == "widget\n"
    # 404s: no such file, not on that branch, no such ref or repository.
    assert reader.file_text(REPO, "refresh", "images/missing.yaml") is None
    assert reader.file_text(REPO, "trunk", "images/fedora 41.yaml") is None
    assert reader.file_text(REPO, "no-such-branch", "README.md") is None
    assert reader.file_text("acme/missing", "trunk", "README.md") is None
    # A directory is no file.
    assert reader.file_text(REPO, "refresh", "images") is None
    for bad in ("", "/README.md", "a//b", "../README.md", "images/./x", "images/"):
        with pytest.raises(InvalidValue):
            reader.file_text(REPO, "trunk", bad)
    with pytest.raises(InvalidValue):
        reader.file_text(REPO, "trunk?x=1", "README.md")


def test_set_body_then_body_and_the_edited_webhook(
    mock_github: MockGitHubFixture, conversation: GitHubConversation
) -> None:
    pr = mock_github.control.open_pr(REPO, "fix", files={"a": "1\n"})
    number = pr["number"]
    assert conversation.body(REPO, number) == ""
    conversation.set_body(REPO, number, "First ☃\n\n- [ ] vm")
    assert conversation.body(REPO, number) == "First ☃\n\n- [ ] vm"
    conversation.set_body(REPO, number, "Second")
    assert conversation.body(REPO, number) == "Second"

    edited = payloads(mock_github, "pull_request", "edited")
    assert [e["changes"]["body"]["from"] for e in edited] == ["", "First ☃\n\n- [ ] vm"]
    assert edited[-1]["pull_request"]["body"] == "Second"
    assert edited[-1]["sender"]["login"] == "ouro-bot"


def test_set_body_of_an_issue(
    mock_github: MockGitHubFixture, conversation: GitHubConversation
) -> None:
    number = conversation.create_issue(REPO, "Refresh", "old")
    conversation.set_body(REPO, number, "new")
    assert conversation.body(REPO, number) == "new"
    [edited] = payloads(mock_github, "issues", "edited")
    assert edited["changes"] == {"body": {"from": "old"}}


def test_a_body_is_not_logged_whole(
    mock_github: MockGitHubFixture,
    conversation: GitHubConversation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pr = mock_github.control.open_pr(REPO, "fix", files={"a": "1\n"})
    secret_tail = "TAIL-" * 50
    caplog.set_level(logging.INFO, logger="tasks")
    conversation.set_body(REPO, pr["number"], "x" * 100 + secret_tail)
    conversation.comment(REPO, pr["number"], "y" * 100 + secret_tail)
    assert caplog.records
    assert "TAIL" not in caplog.text
    assert all(len(r.getMessage()) < 200 for r in caplog.records)


def test_comment(mock_github: MockGitHubFixture, conversation: GitHubConversation) -> None:
    pr = mock_github.control.open_pr(REPO, "fix", files={"a": "1\n"})
    conversation.comment(REPO, pr["number"], "Images refreshed: fedora-41")
    [created] = payloads(mock_github, "issue_comment", "created")
    assert created["issue"]["number"] == pr["number"]
    assert created["comment"]["body"] == "Images refreshed: fedora-41"
    assert created["comment"]["user"]["login"] == "ouro-bot"


def test_create_pull(mock_github: MockGitHubFixture, conversation: GitHubConversation) -> None:
    mock_github.control.push(REPO, {"images/sample": "sample-new\n"}, branch="image-refresh/x")
    number = conversation.create_pull(
        REPO, "image-refresh/x", "trunk", "images: Update x image", "- [x] image-refresh x"
    )
    [opened] = payloads(mock_github, "pull_request", "opened")
    assert opened["number"] == number
    assert opened["pull_request"]["head"]["ref"] == "image-refresh/x"
    assert opened["pull_request"]["base"]["ref"] == "trunk"
    assert opened["pull_request"]["body"] == "- [x] image-refresh x"
    assert opened["pull_request"]["user"]["login"] == "ouro-bot"
    with pytest.raises(ForgeRefused):
        conversation.create_pull(REPO, "no-such-branch", "trunk", "t", "")


def test_create_issue_then_open_issues(
    mock_github: MockGitHubFixture, conversation: GitHubConversation
) -> None:
    control = mock_github.control
    pr = control.open_pr(REPO, "fix", files={"a": "1\n"}, title="Fix", body="PR text")
    number = conversation.create_issue(REPO, "Refresh images", "- [ ] fedora-41")
    done = conversation.create_issue(REPO, "Done", "")
    control.update_pr(REPO, pr["number"], title="Fix it")
    closed = requests.patch(
        f"{mock_github.url}/repos/{REPO}/issues/{done}",
        json={"state": "closed"},
        headers={"Authorization": f"token {mock_github.token}"},
        timeout=10,
    )
    assert closed.status_code == 200

    assert conversation.open_issues(REPO) == [
        IssueInfo(number, "Refresh images", "- [ ] fedora-41", is_pull=False),
        IssueInfo(pr["number"], "Fix it", "PR text", is_pull=True),
    ]
    opened = payloads(mock_github, "issues", "opened")
    assert [o["issue"]["number"] for o in opened] == [number, done]
    assert opened[0]["issue"]["body"] == "- [ ] fedora-41"
    assert opened[0]["sender"]["login"] == "ouro-bot"


def test_open_issues_reads_every_page(
    mock_github: MockGitHubFixture,
    conversation: GitHubConversation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(github_conversation, "PER_PAGE", 2)
    made = [mock_github.control.open_issue(REPO, f"Issue {n}")["number"] for n in range(5)]
    found = conversation.open_issues(REPO)
    assert [i.number for i in found] == made[::-1]
    # A null body reads as "".
    assert {i.body for i in found} == {""}
    monkeypatch.setattr(github_conversation, "MAX_PAGES", 2)
    assert len(conversation.open_issues(REPO)) == 4


def test_not_found_is_forge_not_found(
    conversation: GitHubConversation, reader: GitHubReader, sleeps: list[float]
) -> None:
    calls: list[Callable[[], object]] = [
        lambda: conversation.body(REPO, 99),
        lambda: conversation.set_body(REPO, 99, "x"),
        lambda: conversation.comment(REPO, 99, "x"),
        lambda: conversation.open_issues("acme/missing"),
        lambda: conversation.create_issue("acme/missing", "t", "b"),
        lambda: reader.pull(REPO, 99),
    ]
    for call in calls:
        with pytest.raises(ForgeNotFound):
            call()
    assert sleeps == []  # a 4xx is not retried


def test_5xx_is_retried_then_forge_unavailable(
    mock_github: MockGitHubFixture,
    conversation: GitHubConversation,
    reader: GitHubReader,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pr = mock_github.control.open_pr(REPO, "fix", files={"a": "1\n"})
    state = mock_github.server.state

    def broken(repo: Repo, number: int) -> Issue:
        raise RuntimeError("the mock fails")

    # Every handler of an issue or a pull request looks it up: the mock answers 500.
    monkeypatch.setattr(state, "issue", broken)
    with pytest.raises(ForgeUnavailable) as caught:
        conversation.body(REPO, pr["number"])
    assert caught.value.status == 500
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    with pytest.raises(ForgeUnavailable):
        conversation.set_body(REPO, pr["number"], "x")
    monkeypatch.undo()

    def broken_repo(full_name: str) -> Repo:
        raise RuntimeError("the mock fails")

    monkeypatch.setattr(state, "repo", broken_repo)
    calls: list[Callable[[], object]] = [
        lambda: reader.default_branch(REPO),
        lambda: reader.branch_head(REPO, "trunk"),
        lambda: reader.file_text(REPO, "trunk", "README.md"),
        lambda: conversation.open_issues(REPO),
    ]
    for call in calls:
        with pytest.raises(ForgeUnavailable):
            call()


def test_writes_without_a_token_are_refused(
    mock_github: MockGitHubFixture, client: github.Github
) -> None:
    anonymous = github.Github(
        base_url=mock_github.url, retry=None, seconds_between_requests=None, lazy=True
    )
    with pytest.raises(ForgeRefused) as caught:
        GitHubConversation(anonymous).create_issue(REPO, "t", "b")
    assert caught.value.status == 401
    # Reads need none.
    assert GitHubConversation(anonymous).open_issues(REPO) == []


def test_without_a_token_the_conversation_is_a_dry_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # never asked
    caplog.set_level(logging.INFO, logger="tasks")
    dry = open_conversation()
    assert isinstance(dry, DryRunConversation)

    assert dry.body(REPO, 1) == ""
    dry.set_body(REPO, 1, "text " * 100)
    assert dry.body(REPO, 1) == "text " * 100
    dry.comment(REPO, 1, "hello")
    first = dry.create_issue(REPO, "Refresh", "- [ ] a")
    second = dry.create_issue(REPO, "Other", "")
    dry.set_body(REPO, first, "- [x] a")
    assert dry.open_issues(REPO) == [
        IssueInfo(second, "Other", "", is_pull=False),
        IssueInfo(first, "Refresh", "- [x] a", is_pull=False),
    ]
    assert dry.open_issues("acme/other") == []
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("would set the description of acme/widget#1") for m in messages)
    assert any(m.startswith("would comment on acme/widget#1") for m in messages)
    assert any(m.startswith("would open issue acme/widget#") for m in messages)
    assert all(len(m) < 200 for m in messages)
