"""The mock's state outlives a restart on the same `--data` directory."""

import json
from pathlib import Path

import github
import requests

from mock_github.control import MockGitHubControl
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture
from tests.mock_github.test_cli import mock_process
from tests.mock_github.test_pygithub import pygithub
from webhook.signature import verify

REPO = "acme/widget"
TOKEN = "bot-token"


def make_history(url: str, hook_url: str) -> dict[str, int | str]:
    """A repository with a pull request (reviewed), an issue, a comment, a label, statuses
    and a hook; a team."""
    with MockGitHubControl(url) as c:
        c.create_repo(REPO, files={"README.md": "hello\n"})
        c.add_org_member("acme", "dave", public=False)
        c.add_org_member("acme", "ouro-bot", public=False)  # sees private members
        c.add_collaborator(REPO, "carol")
        c.add_team_member("acme", "Core Devs", "dave", role="maintainer")
        pr = c.open_pr(REPO, "fix", files={"a.txt": "a\n"}, title="Fix", body="Why", user="dave")
        issue = c.open_issue(REPO, "It breaks", "Steps", user="eve")
        comment = c.comment(REPO, issue["number"], "Me too", user="dave")
        c.label(REPO, issue["number"], ["bug"])
        hook = c.add_hook(REPO, hook_url, "s3cret", events=["issue_comment"])
    gh = pygithub(url, TOKEN)
    commit = gh.get_repo(REPO).get_commit(pr["head"]["sha"])
    commit.create_status("pending", context="ci/test", description="running")
    commit.create_status("success", context="ci/test", description="passed")
    gh.get_repo(REPO).get_pull(pr["number"]).create_review(body="Fine", event="APPROVE")
    gh.close()
    return {
        "pr": pr["number"],
        "sha": pr["head"]["sha"],
        "issue": issue["number"],
        "comment": comment["id"],
        "hook": hook["id"],
    }


def test_restart_keeps_the_state(tmp_path: Path, hook_recorder: HookRecorder) -> None:
    (tmp_path / "tokens").write_text(f"{TOKEN}\n")
    data = tmp_path / "data"
    options = (f"--token-file={tmp_path / 'tokens'}", "--rate-limit=77")
    with mock_process(data, *options) as url:
        made = make_history(url, hook_recorder.url)
    assert (data / "state.sqlite3").is_file()

    with mock_process(data, *options) as url:
        gh = pygithub(url, TOKEN)
        repo = gh.get_repo(REPO)
        assert (repo.default_branch, repo.owner.login) == ("main", "acme")
        pull = repo.get_pull(int(made["pr"]))
        assert (pull.title, pull.body, pull.user.login, pull.head.sha, pull.state) == (
            "Fix",
            "Why",
            "dave",
            made["sha"],
            "open",
        )
        assert [(r.state, r.body, r.user.login) for r in pull.get_reviews()] == [
            ("APPROVED", "Fine", "ouro-bot")
        ]
        team = gh.get_organization("acme").get_team_by_slug("core-devs")
        assert (team.name, team.get_team_membership("dave").role) == ("Core Devs", "maintainer")
        issue = repo.get_issue(int(made["issue"]))
        assert (issue.title, issue.user.login, [label.name for label in issue.labels]) == (
            "It breaks",
            "eve",
            ["bug"],
        )
        assert [(c.id, c.body) for c in issue.get_comments()] == [(made["comment"], "Me too")]
        statuses = repo.get_commit(str(made["sha"])).get_statuses()
        assert [(s.state, s.description) for s in statuses] == [
            ("success", "passed"),
            ("pending", "running"),
        ]
        assert repo.get_commit(str(made["sha"])).get_combined_status().state == "success"
        (hook,) = repo.get_hooks()
        assert (hook.id, hook.config["url"], hook.events) == (
            made["hook"],
            hook_recorder.url,
            ["issue_comment"],
        )
        ping = requests.get(f"{url}/repos/{REPO}/hooks/{hook.id}/deliveries", timeout=10).json()
        assert [d["event"] for d in ping] == ["ping"]
        assert repo.has_in_collaborators("carol")
        anonymous = requests.get(f"{url}/repos/{REPO}/issues/{made['issue']}", timeout=10)
        assert anonymous.headers["X-RateLimit-Limit"] == "60"  # no token: the address's
        assert pull.raw_headers["x-ratelimit-limit"] == "77"  # --rate-limit

        # New numbers and ids continue after the old ones; the hook still signs.
        new_issue = repo.create_issue("Another")
        assert new_issue.number == int(made["issue"]) + 1
        comment = new_issue.create_comment("Later")
        assert comment.id > int(made["comment"])
        delivered = hook_recorder.received[-1]
        assert delivered.headers["X-GitHub-Event"] == "issue_comment"
        verify([b"s3cret"], delivered.body, delivered.headers["X-Hub-Signature-256"])
        assert json.loads(delivered.body)["comment"]["id"] == comment.id
        assert gh.get_organization("acme").has_in_members(gh.get_user("dave"))
        gh.close()

    # And what the second run made is there for a third.
    with mock_process(data, *options) as url:
        gh = pygithub(url, TOKEN)
        assert [i.number for i in gh.get_repo(REPO).get_issues(state="all")] == [3, 2, 1]
        gh.close()


def test_only_changes_are_written(mock_github: MockGitHubFixture) -> None:
    """Every write request saves what it changed, and nothing else is left to save."""
    server = mock_github.server
    mock_github.control.create_repo(REPO, files={"a.txt": "1\n"})
    gh = pygithub(mock_github.url, mock_github.token)
    sha = gh.get_repo(REPO).get_branch("main").commit.sha
    gh.get_repo(REPO).get_commit(sha).create_status("success", context="ci/test")
    assert server.store.save(server.state) == 0
    with server.state.lock:
        server.state.repo(REPO).description = "changed in memory"
    assert server.store.save(server.state) == 1  # the repository's row alone
    gh.close()


def test_a_repository_without_a_record_is_still_served(tmp_path: Path) -> None:
    """A data directory from before the state was saved: its git repositories are served."""
    data = tmp_path / "data"
    with mock_process(data) as url, MockGitHubControl(url) as c:
        c.create_repo(REPO, files={"a.txt": "1\n"})
    (data / "state.sqlite3").unlink()
    for journal in data.glob("state.sqlite3-*"):
        journal.unlink()
    with mock_process(data) as url:
        branch = requests.get(f"{url}/repos/{REPO}/branches/main", timeout=10)
        assert branch.status_code == 200
        assert github.Github(base_url=url, retry=None).get_repo(REPO).full_name == REPO
