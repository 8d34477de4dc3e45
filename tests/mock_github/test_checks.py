"""The checks API: PyGithub writes and reads check runs; suites group them per app and
commit; the webhooks and errors are GitHub's; "Re-run" sends `check_run.rerequested`."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import github
import pytest
import requests

from mock_github.control import MockGitHubControl
from ouro.cli import main
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture
from tests.mock_github.test_apps import as_installation, setup_app
from tests.mock_github.test_cli import mock_process
from tests.mock_github.test_pygithub import pygithub

REPO = "acme/widget"


@pytest.fixture
def head(mock_github: MockGitHubFixture, hook_recorder: HookRecorder) -> str:
    """The head of a pull request, with a hook that records every event."""
    c = mock_github.control
    c.create_repo(REPO, files={"a.txt": "1\n"})
    c.add_hook(REPO, hook_recorder.url)
    sha: str = c.open_pr(REPO, "fix", files={"a.txt": "2\n"}, user="dave")["head"]["sha"]
    hook_recorder.received.clear()
    return sha


@pytest.fixture
def gh(mock_github: MockGitHubFixture) -> Iterator[github.Github]:
    yield (client := pygithub(mock_github.url, mock_github.token))
    client.close()


def check_events(hook_recorder: HookRecorder) -> list[tuple[str, str, str]]:
    """(event, action, the check's name or the suite's conclusion) of each checks webhook."""
    found = []
    for received in hook_recorder.received:
        event = received.headers["X-GitHub-Event"]
        payload = json.loads(received.body)
        if event == "check_run":
            found.append((event, payload["action"], payload["check_run"]["name"]))
        elif event == "check_suite":
            found.append((event, payload["action"], payload["check_suite"]["conclusion"]))
    return found


class Api:
    """Plain REST calls with a token, for what PyGithub does not send (bad requests)."""

    def __init__(self, mock: MockGitHubFixture, token: str):
        self.root = f"{mock.url}/repos/{REPO}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        answer = self.session.request(method, self.root + path, json=body, timeout=30)
        return answer.status_code, answer.json() if answer.content else None


def test_a_check_run_from_queued_to_completed(
    gh: github.Github, head: str, hook_recorder: HookRecorder
) -> None:
    repo = gh.get_repo(REPO)
    run = repo.create_check_run(
        "ci/test", head, status="queued", details_url="http://ci.example/1", external_id="j1"
    )
    assert (run.status, run.app.slug) == ("queued", "ouro-bot")
    assert run.raw_data["conclusion"] is None
    assert [p.number for p in run.pull_requests] == [1]
    run.edit(status="in_progress", output={"title": "Running", "summary": "3 tests"})
    run.edit(
        conclusion="failure",
        completed_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
        output={"title": "1 failed", "summary": "test_a failed", "text": "log…"},
    )
    got = repo.get_check_run(run.id)
    assert (got.status, got.conclusion, got.external_id) == ("completed", "failure", "j1")
    assert got.completed_at == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert (got.output.title, got.output.summary, got.output.text) == (
        "1 failed",
        "test_a failed",
        "log…",
    )
    suite = repo.get_check_suite(got.check_suite.id)
    assert (suite.status, suite.conclusion, suite.head_branch) == ("completed", "failure", "fix")
    assert check_events(hook_recorder) == [
        ("check_run", "created", "ci/test"),
        ("check_run", "completed", "ci/test"),
        ("check_suite", "completed", "failure"),
    ]


def test_suites_group_runs_per_app_and_commit(
    mock_github: MockGitHubFixture, gh: github.Github, head: str, hook_recorder: HookRecorder
) -> None:
    mock_github.control.add_user("other-ci[bot]", token="other-token")
    repo = gh.get_repo(REPO)
    build = repo.create_check_run("build", head, status="in_progress")
    lint = repo.create_check_run("lint", head, conclusion="success")
    other = Api(mock_github, "other-token")
    status, theirs = other.call("POST", "/check-runs", {"name": "scan", "head_sha": head})
    assert status == 201
    assert theirs["app"]["slug"] == "other-ci"
    assert theirs["check_suite"]["id"] != build.check_suite.id == lint.check_suite.id
    # Only the bot's lint completed: its suite is not, so no check_suite event yet.
    assert check_events(hook_recorder)[-1] == ("check_run", "created", "scan")
    build.edit(conclusion="neutral")
    assert check_events(hook_recorder)[-2:] == [
        ("check_run", "completed", "build"),
        ("check_suite", "completed", "success"),  # neutral and success: success
    ]

    commit = repo.get_commit(head)
    suites = commit.get_check_suites()
    assert [(s.app.slug, s.status, s.latest_check_runs_count) for s in suites] == [
        ("ouro-bot", "completed", 2),
        ("other-ci", "queued", 1),
    ]
    app_id = theirs["app"]["id"]
    assert [s.app.slug for s in commit.get_check_suites(app_id=app_id)] == ["other-ci"]
    assert [r.name for r in commit.get_check_runs()] == ["scan", "lint", "build"]
    assert [r.name for r in commit.get_check_runs(status="queued")] == ["scan"]
    assert [r.name for r in commit.get_check_runs(check_name="lint")] == ["lint"]
    # Another app may not change the bot's runs.
    assert other.call("PATCH", f"/check-runs/{build.id}", {"conclusion": "success"})[0] == 403


def test_a_rerun_is_rerequested_and_the_newest_run_counts(
    mock_github: MockGitHubFixture, gh: github.Github, head: str, hook_recorder: HookRecorder
) -> None:
    repo = gh.get_repo(REPO)
    first = repo.create_check_run("ci/test", head, conclusion="failure")
    clicked = mock_github.control.rerun_check(REPO, first.id, sender="dave")
    assert clicked["id"] == first.id
    (received,) = [r for r in hook_recorder.received if b'"rerequested"' in r.body]
    payload = json.loads(received.body)
    assert (payload["check_run"]["id"], payload["sender"]["login"]) == (first.id, "dave")
    assert payload["check_run"]["pull_requests"][0]["number"] == 1
    # The app answers with a new run of the same name, in the same suite.
    second = repo.create_check_run("ci/test", head, status="in_progress")
    assert second.check_suite.id == first.check_suite.id
    assert repo.get_check_suite(first.check_suite.id).status == "in_progress"
    second.edit(conclusion="success")
    commit = repo.get_commit(head)
    assert [r.id for r in commit.get_check_runs()] == [second.id]
    assert [r.id for r in commit.get_check_runs(filter="all")] == [second.id, first.id]
    # The suite concludes with the newest run of each name: the re-run passed.
    assert repo.get_check_suite(first.check_suite.id).conclusion == "success"
    assert check_events(hook_recorder) == [
        ("check_run", "created", "ci/test"),
        ("check_run", "completed", "ci/test"),
        ("check_suite", "completed", "failure"),
        ("check_run", "rerequested", "ci/test"),
        ("check_run", "created", "ci/test"),
        ("check_run", "completed", "ci/test"),
        ("check_suite", "completed", "success"),
    ]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"head_sha": "HEAD"}, 422, '"name" wasn\'t supplied.'),
        ({"name": "ci"}, 422, '"head_sha" wasn\'t supplied.'),
        ({"name": "ci", "head_sha": "0" * 40}, 422, "No commit found for SHA: " + "0" * 40),
        ({"name": "ci", "head_sha": "main"}, 422, "No commit found for SHA: main"),
        ({"name": "ci", "head_sha": "HEAD", "status": "completed"}, 422, "conclusion"),
        ({"name": "ci", "head_sha": "HEAD", "status": "done"}, 422, "Validation Failed"),
        ({"name": "ci", "head_sha": "HEAD", "conclusion": "ok"}, 422, "Validation Failed"),
        ({"name": "ci", "head_sha": "HEAD", "started_at": "today"}, 422, "Validation Failed"),
        ({"name": "ci", "head_sha": "HEAD", "output": {"title": "t"}}, 422, "summary"),
        ({"name": 7, "head_sha": "HEAD"}, 422, "is not a string"),
    ],
)
def test_bad_check_runs_are_refused(
    mock_github: MockGitHubFixture, head: str, body: dict[str, Any], status: int, message: str
) -> None:
    if body.get("head_sha") == "HEAD":
        body = {**body, "head_sha": head}
    answer = Api(mock_github, mock_github.token).call("POST", "/check-runs", body)
    assert answer[0] == status
    assert message in answer[1]["message"] + json.dumps(answer[1].get("errors"))


def test_rerequests_and_unknown_checks(
    mock_github: MockGitHubFixture, head: str, hook_recorder: HookRecorder
) -> None:
    api = Api(mock_github, mock_github.token)
    _, run = api.call("POST", "/check-runs", {"name": "ci", "head_sha": head})
    # Only a completed run can be asked for again.
    assert api.call("POST", f"/check-runs/{run['id']}/rerequest")[0] == 422
    # A refused update changes nothing, though its name was fine.
    assert api.call("PATCH", f"/check-runs/{run['id']}", {"name": "x", "status": "no"})[0] == 422
    assert api.call("GET", f"/check-runs/{run['id']}")[1]["name"] == "ci"
    api.call("PATCH", f"/check-runs/{run['id']}", {"conclusion": "cancelled"})
    assert api.call("POST", f"/check-runs/{run['id']}/rerequest") == (201, {})
    assert check_events(hook_recorder)[-1] == ("check_run", "rerequested", "ci")
    assert api.call("GET", "/check-runs/999999")[0] == 404
    assert api.call("GET", "/check-runs/nope")[0] == 404
    assert api.call("GET", "/check-suites/999999")[0] == 404
    assert api.call("GET", "/commits/nope/check-runs")[0] == 422
    anonymous = requests.post(f"{api.root}/check-runs", json={"name": "x"}, timeout=30)
    assert anonymous.status_code == 401


def test_rerun_verbs(
    mock_github: MockGitHubFixture,
    head: str,
    hook_recorder: HookRecorder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = Api(mock_github, mock_github.token)
    _, run = api.call(
        "POST", "/check-runs", {"name": "ci", "head_sha": head, "conclusion": "success"}
    )
    base = ["mock-github", "rerun-check", "--url", mock_github.url, REPO]
    assert main([*base, str(run["id"]), "--user", "dave"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == run["id"]
    assert main([*base, str(run["check_suite"]["id"]), "--suite"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"
    assert check_events(hook_recorder)[-2:] == [
        ("check_run", "rerequested", "ci"),
        ("check_suite", "rerequested", "success"),
    ]
    assert main([*base, "424242"]) == 1
    assert "404" in capsys.readouterr().err


def test_checks_outlive_a_restart(tmp_path: Path) -> None:
    (tmp_path / "tokens").write_text("bot-token\n")
    data, options = tmp_path / "data", f"--token-file={tmp_path / 'tokens'}"
    with mock_process(data, options) as url:
        with MockGitHubControl(url) as control:
            control.create_repo(REPO, files={"a.txt": "1\n"})
            sha = control.open_pr(REPO, "fix", files={"a.txt": "2\n"})["head"]["sha"]
        gh = pygithub(url, "bot-token")
        run = gh.get_repo(REPO).create_check_run("ci/test", sha, status="in_progress")
        run.edit(conclusion="success", output={"title": "Passed", "summary": "3 tests"})
        gh.close()

    with mock_process(data, options) as url:
        gh = pygithub(url, "bot-token")
        repo = gh.get_repo(REPO)
        got = repo.get_check_run(run.id)
        assert (got.name, got.conclusion, got.output.title) == ("ci/test", "success", "Passed")
        again = repo.create_check_run("ci/test", sha, status="queued")
        assert again.check_suite.id == run.check_suite.id
        assert again.id > run.id
        suite = repo.get_check_suite(run.check_suite.id)
        assert (suite.status, suite.latest_check_runs_count) == ("queued", 1)
        gh.close()


def test_an_apps_check_runs_carry_the_app(mock_github: MockGitHubFixture) -> None:
    """An installation token's runs are the App's, in REST answers and in GraphQL's rollup."""
    app_id, key, installation = setup_app(mock_github)
    head = mock_github.control.open_pr(REPO, "topic", files={"b.txt": "b\n"})["head"]["sha"]
    gh = as_installation(mock_github, app_id, key, installation)
    run = gh.get_repo(REPO).create_check_run("ci/app", head, status="in_progress")
    assert (run.app.id, run.app.slug) == (app_id, "ouro-ci")
    assert run.raw_data["app"]["owner"]["login"] == "acme"
    gh.close()
    rollup = """{ repository(owner: "acme", name: "widget") { pullRequest(number: 1) {
        commits(last: 1) { nodes { commit { statusCheckRollup { state contexts(first: 10) {
          nodes { ... on CheckRun { name status checkSuite { app { slug databaseId } } } }
        } } } } } } } }"""
    answer = Api(mock_github, mock_github.token).session.post(
        f"{mock_github.url}/graphql", json={"query": rollup}, timeout=30
    )
    commit = answer.json()["data"]["repository"]["pullRequest"]["commits"]["nodes"][0]["commit"]
    assert commit["statusCheckRollup"]["state"] == "PENDING"
    assert commit["statusCheckRollup"]["contexts"]["nodes"] == [
        {
            "name": "ci/app",
            "status": "IN_PROGRESS",
            "checkSuite": {"app": {"slug": "ouro-ci", "databaseId": app_id}},
        }
    ]


def test_a_push_requests_a_suite_of_each_installed_app(
    mock_github: MockGitHubFixture, hook_recorder: HookRecorder
) -> None:
    app_id, key, installation = setup_app(mock_github)
    c = mock_github.control
    c.add_hook(REPO, hook_recorder.url)
    sha = c.push(REPO, {"a.txt": "2\n"}, user="dave")
    requested = [
        json.loads(r.body)
        for r in hook_recorder.received
        if r.headers["X-GitHub-Event"] == "check_suite"
    ]
    assert [(p["action"], p["sender"]["login"]) for p in requested] == [("requested", "dave")]
    suite = requested[0]["check_suite"]
    assert (suite["app"]["id"], suite["head_sha"], suite["status"]) == (app_id, sha, "queued")
    assert suite["head_branch"] == "main"
    # The App's first run joins the suite GitHub made for it.
    gh = as_installation(mock_github, app_id, key, installation)
    run = gh.get_repo(REPO).create_check_run("ci/app", sha, status="in_progress")
    assert run.check_suite.id == suite["id"]
    gh.close()
