"""PyGithub, unpatched, over HTTP against mock-github."""

from collections.abc import Iterator

import github
import pytest
import requests

from tests.fixtures_mock_github import MockGitHubFixture

REPO = "acme/widget"


def pygithub(url: str, token: str) -> github.Github:
    # PyGithub spaces writes 1 s apart to be kind to github.com; the mock needs no kindness.
    return github.Github(
        base_url=url,
        auth=github.Auth.Token(token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


@pytest.fixture
def gh(mock_github: MockGitHubFixture) -> Iterator[github.Github]:
    yield (client := pygithub(mock_github.url, mock_github.token))
    client.close()


@pytest.fixture
def pr_number(mock_github: MockGitHubFixture) -> int:
    control = mock_github.control
    control.create_repo(REPO, files={"README.md": "widget\n", "src/a.txt": "one\n"})
    pr = control.open_pr(
        REPO, "fix", files={"src/a.txt": "two\n"}, title="Fix a", body="Body", user="alice"
    )
    return int(pr["number"])


def test_read_pull_request(
    gh: github.Github, mock_github: MockGitHubFixture, pr_number: int
) -> None:
    repo = gh.get_repo(REPO)
    assert repo.full_name == REPO
    assert repo.default_branch == "main"
    assert repo.clone_url == f"{mock_github.url}/{REPO}.git"
    pull = repo.get_pull(pr_number)
    assert (pull.title, pull.body, pull.state, pull.user.login) == (
        "Fix a",
        "Body",
        "open",
        "alice",
    )
    assert pull.head.ref == "fix"
    assert pull.base.ref == "main"
    assert pull.head.repo.full_name == REPO
    assert len(pull.head.sha) == 40
    assert pull.head.sha != pull.base.sha
    assert [p.number for p in repo.get_pulls(state="open")] == [pr_number]
    assert list(repo.get_pulls(state="closed")) == []

    pull.edit(body="New body")
    assert repo.get_pull(pr_number).body == "New body"


def test_statuses_post_list_and_combined(gh: github.Github, pr_number: int) -> None:
    repo = gh.get_repo(REPO)
    sha = repo.get_pull(pr_number).head.sha
    commit = repo.get_commit(sha)
    assert commit.get_combined_status().state == "pending"  # no statuses yet

    commit.create_status("pending", description="Not yet tested", context="unit-tests")
    commit.create_status("pending", description="Not yet tested", context="lint")
    commit.create_status(
        "success", target_url="http://logs/1", description="Success", context="unit-tests"
    )
    statuses = list(commit.get_statuses())
    assert [(s.context, s.state) for s in statuses] == [
        ("unit-tests", "success"),
        ("lint", "pending"),
        ("unit-tests", "pending"),
    ]
    assert statuses[0].target_url == "http://logs/1"
    assert statuses[0].creator.login == "ouro-bot"

    combined = commit.get_combined_status()
    assert combined.state == "pending"
    assert combined.total_count == 2
    commit.create_status("failure", description="Failed", context="lint")
    combined = commit.get_combined_status()
    assert combined.state == "failure"
    assert {(s.context, s.state) for s in combined.statuses} == {
        ("unit-tests", "success"),
        ("lint", "failure"),
    }
    commit.create_status("success", description="ok", context="lint")
    assert repo.get_commit(sha).get_combined_status().state == "success"


def test_statuses_are_paginated(gh: github.Github, pr_number: int) -> None:
    commit = gh.get_repo(REPO).get_commit(gh.get_repo(REPO).get_pull(pr_number).head.sha)
    for i in range(45):
        commit.create_status("pending", description=f"step {i}", context="many")
    descriptions = [s.description for s in commit.get_statuses()]
    assert descriptions == [f"step {i}" for i in reversed(range(45))]


def test_comments(gh: github.Github, pr_number: int) -> None:
    pull = gh.get_repo(REPO).get_pull(pr_number)
    made = pull.create_issue_comment("/retest")
    assert made.user.login == "ouro-bot"
    assert [c.body for c in pull.get_issue_comments()] == ["/retest"]
    issue = gh.get_repo(REPO).get_issue(pr_number)
    assert issue.pull_request is not None
    assert issue.comments == 1


def test_file_at_ref(gh: github.Github, pr_number: int) -> None:
    repo = gh.get_repo(REPO)
    head = repo.get_pull(pr_number).head.sha
    assert repo.get_contents("src/a.txt", ref=head).decoded_content == b"two\n"  # type: ignore[union-attr]
    assert repo.get_contents("src/a.txt", ref="main").decoded_content == b"one\n"  # type: ignore[union-attr]
    listing = repo.get_contents("src", ref="main")
    assert isinstance(listing, list)
    assert [c.name for c in listing] == ["a.txt"]
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("missing.txt", ref="main")


def test_refs_labels_and_users(
    gh: github.Github, mock_github: MockGitHubFixture, pr_number: int
) -> None:
    repo = gh.get_repo(REPO)
    head = repo.get_pull(pr_number).head.sha
    assert repo.get_git_ref(f"pull/{pr_number}/head").object.sha == head
    assert repo.get_git_ref("heads/fix").object.sha == head
    assert repo.get_branch("main").commit.sha == repo.get_pull(pr_number).base.sha

    repo.get_issue(pr_number).add_to_labels("bug")
    assert [label.name for label in repo.get_pull(pr_number).labels] == ["bug"]
    assert gh.get_user().login == "ouro-bot"


def test_org_membership_public_and_private(
    gh: github.Github, mock_github: MockGitHubFixture
) -> None:
    control = mock_github.control
    control.add_org_member("acme", "carol", public=True)
    control.add_org_member("acme", "dave", public=False)
    control.add_user("mallory")
    org = gh.get_organization("acme")
    # The token's user is not in the org: a private membership stays hidden, as on GitHub.
    assert org.has_in_members(gh.get_user("carol"))
    assert not org.has_in_members(gh.get_user("dave"))
    assert not org.has_in_members(gh.get_user("mallory"))
    control.add_org_member("acme", "ouro-bot", public=False)
    assert org.has_in_members(gh.get_user("dave"))
    assert gh.get_user("dave").get_organization_membership("acme").role == "member"


def test_author_association(mock_github: MockGitHubFixture) -> None:
    control = mock_github.control
    control.add_org_member("acme", "carol", public=True)
    control.add_org_member("acme", "dave", public=False)
    control.create_repo(REPO, files={"a": "1"})
    control.add_collaborator(REPO, "erin")
    seen = {}
    for user in ("acme", "carol", "dave", "erin", "frank"):
        pr = control.open_pr(REPO, f"b-{user}", files={"a": user}, user=user)
        seen[user] = pr["author_association"]
    assert seen == {
        "acme": "OWNER",
        "carol": "MEMBER",
        "dave": "CONTRIBUTOR",  # private members look like contributors
        "erin": "COLLABORATOR",
        "frank": "FIRST_TIME_CONTRIBUTOR",
    }


def test_api_v3_prefix(mock_github: MockGitHubFixture, pr_number: int) -> None:
    client = pygithub(f"{mock_github.url}/api/v3", mock_github.token)
    try:
        pull = client.get_repo(REPO).get_pull(pr_number)
        assert pull.url.startswith(f"{mock_github.url}/api/v3/repos/")
        assert pull.title == "Fix a"
    finally:
        client.close()
    with requests.get(f"{mock_github.url}/api/v3/repos/{REPO}", timeout=10) as response:
        assert response.json()["full_name"] == REPO
