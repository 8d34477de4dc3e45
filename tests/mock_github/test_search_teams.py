"""Issue search and team membership, through PyGithub's own methods."""

from collections.abc import Iterator

import github
import pytest

from tests.fixtures_mock_github import MockGitHubFixture
from tests.mock_github.test_pygithub import pygithub


@pytest.fixture
def gh(mock_github: MockGitHubFixture) -> Iterator[github.Github]:
    yield (client := pygithub(mock_github.url, mock_github.token))
    client.close()


def test_search_issues(mock_github: MockGitHubFixture, gh: github.Github) -> None:
    c = mock_github.control
    c.create_repo("acme/widget", files={"a.txt": "1\n"})
    c.create_repo("acme/gadget", files={"a.txt": "1\n"})
    flaky = c.open_pr("acme/widget", "fix", files={"a.txt": "2\n"}, title="Fix the flaky test")
    c.label("acme/widget", flaky["number"], ["ci", "bug"])
    other = c.open_pr("acme/widget", "doc", files={"d.txt": "d\n"}, title="Docs", body="flaky")
    crash = c.open_issue("acme/widget", "Flaky crash", "on start", user="eve")
    c.label("acme/widget", crash["number"], ["bug"])
    closed = c.open_issue("acme/widget", "Old flaky thing", None)
    gh.get_repo("acme/widget").get_issue(closed["number"]).edit(state="closed")
    c.open_issue("acme/gadget", "Flaky elsewhere", None)

    def found(query: str) -> list[int]:
        return sorted(issue.number for issue in gh.search_issues(query))

    repo = "repo:acme/widget"
    assert found(f"{repo} is:pr is:open") == [flaky["number"], other["number"]]
    assert found(f"{repo} is:pr flaky in:title") == [flaky["number"]]
    assert found(f"{repo} flaky") == sorted(
        [flaky["number"], other["number"], crash["number"], closed["number"]]
    )
    assert found(f"{repo} is:issue is:closed") == [closed["number"]]
    assert found(f"{repo} label:bug") == [flaky["number"], crash["number"]]
    assert found(f"{repo} label:bug label:ci") == [flaky["number"]]
    assert found(f"{repo} author:eve") == [crash["number"]]
    everywhere = gh.search_issues("flaky in:title is:issue is:open")
    assert everywhere.totalCount == 2
    assert {i.repository.full_name for i in everywhere} == {"acme/widget", "acme/gadget"}
    (pull,) = gh.search_issues(f"{repo} is:pr label:ci")
    assert pull.pull_request is not None
    assert pull.title == "Fix the flaky test"


def test_team_membership(mock_github: MockGitHubFixture, gh: github.Github) -> None:
    c = mock_github.control
    c.add_org_member("acme", "ouro-bot", public=False)
    c.add_team_member("acme", "Core Devs", "dave", role="maintainer")
    c.add_team_member("acme", "Core Devs", "carol")
    c.add_team_member("acme", "Release", "carol")
    c.add_user("eve")
    org = gh.get_organization("acme")
    assert [(t.slug, t.name) for t in org.get_teams()] == [
        ("core-devs", "Core Devs"),
        ("release", "Release"),
    ]
    team = org.get_team_by_slug("core-devs")
    assert (team.name, team.members_count) == ("Core Devs", 2)
    dave = team.get_team_membership("dave")
    assert (dave.role, dave.state) == ("maintainer", "active")
    assert team.get_team_membership("carol").role == "member"
    with pytest.raises(github.UnknownObjectException):
        team.get_team_membership("eve")
    with pytest.raises(github.UnknownObjectException):
        org.get_team_by_slug("nobody").name  # noqa: B018  (a lazy object: reading fetches it)
    # A team's member is the organization's (privately, when added so).
    assert gh.get_organization("acme").has_in_members(gh.get_user("carol"))
