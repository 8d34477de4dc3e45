"""Statuses as check runs (tasks/github_checks.py), in App mode against the mock GitHub's
checks API: one run per job, queued → in_progress → completed, a new run for a re-run,
and only this App's runs read back."""

from pathlib import Path

import pytest
import requests

from tasks.forge import Status
from tasks.github import Credentials, open_statuses
from tasks.github_checks import CheckRunStatuses
from tests.fixtures_mock_github import MockGitHubFixture
from tests.tasks.test_github_app import REPO, app_mode

LOG = "http://logs.example/logs/job-1/index.html"


@pytest.fixture
def checks(
    mock_github: MockGitHubFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> CheckRunStatuses:
    app_mode(mock_github, monkeypatch, tmp_path, installation=True)
    statuses = open_statuses(sleep=lambda _: None, credentials=Credentials())
    assert isinstance(statuses, CheckRunStatuses)
    return statuses


def runs(mock_github: MockGitHubFixture, sha: str) -> list[dict[str, object]]:
    """The check runs on `sha` as GitHub lists them, oldest first, read anonymously."""
    answer = requests.get(
        f"{mock_github.url}/repos/{REPO}/commits/{sha}/check-runs?filter=all", timeout=10
    )
    answer.raise_for_status()
    found: list[dict[str, object]] = answer.json()["check_runs"]
    return sorted(found, key=lambda r: int(str(r["id"])))


def test_a_job_is_one_check_run_through_its_phases(
    checks: CheckRunStatuses, mock_github: MockGitHubFixture
) -> None:
    sha = mock_github.control.push(REPO, {"b.txt": "2\n"})
    app_id = mock_github.server.state.app("ouro-ci").id
    checks.post(REPO, sha, Status("unit", "pending", "Not yet tested"))
    [run] = runs(mock_github, sha)
    assert (run["name"], run["status"], run["conclusion"]) == ("unit", "queued", None)
    assert run["app"]["id"] == app_id  # type: ignore[index]
    assert checks.latest(REPO, sha) == {"unit": Status("unit", "pending", "Not yet tested")}

    checks.post(REPO, sha, Status("unit", "pending", "In progress [w1]", LOG))
    [run] = runs(mock_github, sha)
    assert (run["status"], run["details_url"]) == ("in_progress", LOG)
    assert run["started_at"] is not None

    # A worker that stops hands the job back: the same run waits in the queue again.
    checks.post(REPO, sha, Status("unit", "pending", "Requeued: worker w1 stopped", LOG))
    [run] = runs(mock_github, sha)
    assert run["status"] == "queued"
    checks.post(REPO, sha, Status("unit", "pending", "In progress [w1]", LOG))

    checks.post(REPO, sha, Status("unit", "failure", "Tests failed [w1]", LOG))
    [run] = runs(mock_github, sha)
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert run["output"]["title"] == "Tests failed [w1]"  # type: ignore[index]
    assert run["output"]["summary"] == "Tests failed [w1]"  # type: ignore[index]
    assert checks.latest(REPO, sha) == {"unit": Status("unit", "failure", "Tests failed [w1]", LOG)}

    # A re-run: a new run, queued again; the old one stays as it ended.
    checks.post(REPO, sha, Status("unit", "pending", "Not yet tested"))
    checks.post(REPO, sha, Status("unit", "error", "Cancelled", LOG))
    first, second = runs(mock_github, sha)
    assert (first["conclusion"], second["conclusion"]) == ("failure", "cancelled")
    assert checks.latest(REPO, sha)["unit"].state == "error"


def test_another_apps_runs_are_not_ours(
    checks: CheckRunStatuses, mock_github: MockGitHubFixture
) -> None:
    sha = mock_github.control.push(REPO, {"b.txt": "2\n"})
    # A user's token writes a check run as an app of its own (the mock's model).
    answer = requests.post(
        f"{mock_github.url}/repos/{REPO}/check-runs",
        json={"name": "unit", "head_sha": sha, "status": "completed", "conclusion": "success"},
        headers={"Authorization": f"token {mock_github.token}"},
        timeout=10,
    )
    assert answer.status_code == 201
    assert checks.latest(REPO, sha) == {}
    checks.post(REPO, sha, Status("unit", "pending", "Not yet tested"))
    assert checks.latest(REPO, sha) == {"unit": Status("unit", "pending", "Not yet tested")}
    assert len(runs(mock_github, sha)) == 2
