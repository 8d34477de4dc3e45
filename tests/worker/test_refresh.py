"""After an image refresh job (tasks/worker/refresh.py): the worker commits the new
reference, pushes it with the repository's push token over git HTTP to the mock GitHub, and
ticks the task line through the forge port; failures push nothing and say FAIL:."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pytest
import requests

from ouro.amqp import DeadLetter, Message, Outcome
from tasks.forge import Status
from tasks.github_conversation import GitHubConversation
from tasks.job import Job
from tasks.worker.config import WorkerConfig
from tasks.worker.service import Worker
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture
from tests.worker.fakes import FakeStatuses, FakeStore

REPO = "acme/product"
OLD = "sample-" + "0" * 64 + ".qcow2"
NEW = "sample-" + "1" * 64 + ".qcow2"
TASK = "Refresh it.\n\n- [ ] image-refresh sample\n"


@pytest.fixture
def conversation(
    mock_github: MockGitHubFixture, hook_recorder: HookRecorder
) -> Iterator[GitHubConversation]:
    # Webhooks go somewhere, so that the mock records its deliveries.
    mock_github.set_webhook(hook_recorder.url, "secret")
    mock_github.control.create_repo(
        REPO, files={"images/sample": OLD + "\n", "README": "product\n"}, user="acme"
    )
    client = github.Github(
        base_url=mock_github.url, auth=github.Auth.Token(mock_github.token), retry=None,
        timeout=10, lazy=True, seconds_between_requests=None, seconds_between_writes=None,
    )  # fmt: skip
    yield GitHubConversation(client, sleep=lambda _: None)
    client.close()


@pytest.fixture
def config(direct_config: WorkerConfig, mock_github: MockGitHubFixture) -> WorkerConfig:
    token = direct_config.secrets_dir / "push-tokens" / REPO
    token.parent.mkdir(parents=True)
    token.write_text(mock_github.token + "\n")
    return direct_config


def refresh_job(mock_github: MockGitHubFixture, sha: str, **fields: Any) -> Job:
    values: dict[str, Any] = {
        "id": f"image-refresh-sample-{sha[:12]}",
        "repo": REPO,
        "sha": sha,
        "context": "image-refresh/sample",
        # What `ouro vm refresh sample` leaves behind: a new reference, nothing else.
        "command": ["sh", "-c", f"echo {NEW} > images/sample"],
        "image": "unused-in-direct-mode",
        "clone_url": f"{mock_github.url}/{REPO}.git",
        "base_ref": "main",
        "refresh": "sample",
        "push_branch": "refresh",
        "timeout": 60,
    }
    values.update(fields)
    return Job(**values)


def run(
    config: WorkerConfig, conversation: GitHubConversation, job: Job, *, kept: bool = False
) -> tuple[FakeStatuses, str]:
    """Handle `job`; `kept`: it is dead-lettered to be replayed (the worker's trouble)."""
    statuses, store = FakeStatuses(), FakeStore()
    worker = Worker(config, statuses, store, conversation=conversation)
    result = worker.handle(Message(job.to_json(), job.id, False, {}, None))
    assert isinstance(result, DeadLetter) if kept else result is Outcome.ACK
    return statuses, store.files[f"logs/{job.id}/log"].decode()


def pull(mock_github: MockGitHubFixture, number: int) -> dict[str, Any]:
    response = requests.get(f"{mock_github.url}/repos/{REPO}/pulls/{number}", timeout=10)
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def open_pr(mock_github: MockGitHubFixture, body: str = TASK) -> tuple[int, str]:
    pr = mock_github.control.open_pr(
        REPO, "refresh", files={"images/sample.yaml": "suite: trixie\n"}, body=body, user="acme"
    )
    return int(pr["number"]), str(pr["head"]["sha"])


def test_the_new_reference_is_pushed_and_the_box_ticked(
    mock_github: MockGitHubFixture, conversation: GitHubConversation, config: WorkerConfig
) -> None:
    number, head = open_pr(mock_github)
    job = refresh_job(mock_github, head, pr=number)
    statuses, log = run(config, conversation, job)
    assert [s.state for _, _, s in statuses.posted] == ["pending", "success"]
    after = pull(mock_github, number)
    new_head = after["head"]["sha"]
    assert new_head != head
    commit = requests.get(f"{mock_github.url}/repos/{REPO}/commits/{new_head}", timeout=10).json()
    assert [p["sha"] for p in commit["parents"]] == [head]
    assert [f["filename"] for f in commit["files"]] == ["images/sample"]
    assert commit["commit"]["message"].strip() == "images: Update sample image"
    assert f"Pushed {new_head} to refresh" in log
    assert mock_github.token not in log
    url = statuses.posted[-1][2].target_url
    assert after["body"] == f"Refresh it.\n\n- [x] image-refresh sample log: {url}\n"
    # The push is a new head of the PR: GitHub (here the mock) says synchronize.
    pushed = [d["request"]["payload"] for d in mock_github.control.deliveries("pull_request")]
    assert [p["action"] for p in pushed][-2:] == ["synchronize", "edited"]


def test_a_job_that_changes_more_than_the_reference_pushes_nothing(
    mock_github: MockGitHubFixture, conversation: GitHubConversation, config: WorkerConfig
) -> None:
    number, head = open_pr(mock_github)
    sneaky = ["sh", "-c", f"echo {NEW} > images/sample; echo x > .ci-extra"]
    statuses, _ = run(
        config, conversation, refresh_job(mock_github, head, pr=number, command=sneaky)
    )
    final = statuses.posted[-1][2]
    assert (final.state, final.description) == (
        "failure",
        "The refresh changed more than images/sample: .ci-extra [w1]",
    )
    after = pull(mock_github, number)
    assert after["head"]["sha"] == head
    assert "- [ ] image-refresh sample FAIL: The refresh changed more than" in after["body"]
    assert f"log: {final.target_url}" in after["body"]


def test_a_branch_that_moved_is_not_overwritten(
    mock_github: MockGitHubFixture, conversation: GitHubConversation, config: WorkerConfig
) -> None:
    number, head = open_pr(mock_github)
    moved = mock_github.control.push(REPO, {"NOTES": "meanwhile\n"}, branch="refresh", user="acme")
    statuses, _ = run(config, conversation, refresh_job(mock_github, head, pr=number))
    assert statuses.posted[-1][2].state == "failure"
    assert "refused (did the branch move?)" in statuses.posted[-1][2].description
    assert pull(mock_github, number)["head"]["sha"] == moved


def test_a_failed_build_pushes_nothing_and_a_comment_request_gets_a_reply(
    mock_github: MockGitHubFixture, conversation: GitHubConversation, config: WorkerConfig
) -> None:
    number, head = open_pr(mock_github, body="No task line: asked by /image-refresh.")
    failing = refresh_job(mock_github, head, pr=number, command=["sh", "-c", "exit 2"])
    statuses, _ = run(config, conversation, failing)
    assert statuses.posted[-1][2].state == "failure"
    assert pull(mock_github, number)["head"]["sha"] == head
    [reply] = [
        d["request"]["payload"]["comment"]["body"]
        for d in mock_github.control.deliveries("issue_comment")
    ]
    assert reply.startswith("image-refresh sample failed: Tests failed")


def test_an_issue_refresh_pushes_a_branch_and_opens_a_pr(
    mock_github: MockGitHubFixture, conversation: GitHubConversation, config: WorkerConfig
) -> None:
    issue = mock_github.control.open_issue(REPO, "Refresh the VM image sample", TASK, user="acme")
    main = requests.get(f"{mock_github.url}/repos/{REPO}/branches/main", timeout=10).json()
    sha = main["commit"]["sha"]
    job = refresh_job(
        mock_github, sha, issue=int(issue["number"]), push_branch=f"image-refresh/sample-{sha[:12]}"
    )
    statuses, _ = run(config, conversation, job)
    url = statuses.posted[-1][2].target_url
    assert statuses.posted[-1][2] == Status("image-refresh/sample", "success", "Success [w1]", url)
    pulls = requests.get(f"{mock_github.url}/repos/{REPO}/pulls", timeout=10).json()
    [opened] = pulls
    assert opened["head"]["ref"] == f"image-refresh/sample-{sha[:12]}"
    assert opened["title"] == "images: Update sample image"
    assert opened["body"].startswith(f"- [x] image-refresh sample log: {url}")
    body = requests.get(f"{mock_github.url}/repos/{REPO}/issues/{issue['number']}", timeout=10)
    assert f"- [x] image-refresh sample log: {url} PR #{opened['number']}" in body.json()["body"]


def test_without_a_push_token_the_job_errs_and_nothing_is_pushed(
    mock_github: MockGitHubFixture, conversation: GitHubConversation, direct_config: WorkerConfig
) -> None:
    number, head = open_pr(mock_github)
    job = refresh_job(mock_github, head, pr=number)
    statuses, _ = run(direct_config, conversation, job, kept=True)
    final = statuses.posted[-1][2]
    assert (final.state, final.description) == ("error", "No push token for acme/product [w1]")
    assert pull(mock_github, number)["head"]["sha"] == head
    assert "FAIL:" in pull(mock_github, number)["body"]


def test_tooling_revision_is_first_on_the_python_path(
    mock_github: MockGitHubFixture, conversation: GitHubConversation, config: WorkerConfig,
    tmp_path: Path,
) -> None:  # fmt: skip
    mock_github.control.create_repo(
        "acme/infra", files={"vm/__init__.py": "WHERE = 'the infra PR'\n"}, user="acme"
    )
    infra = mock_github.control.open_pr(
        "acme/infra", "change", files={"vm/__init__.py": "WHERE = 'the infra PR, changed'\n"}
    )
    number, head = open_pr(mock_github, body="")
    job = refresh_job(
        mock_github, head, pr=number, context="vm@infra#1", refresh=None, push_branch=None,
        command=["python3", "-c", "import vm; print('tooling:', vm.WHERE, vm.__file__)"],
        tooling_url=f"{mock_github.url}/acme/infra.git", tooling_sha=infra["head"]["sha"],
    )  # fmt: skip
    statuses, log = run(config, conversation, job)
    assert statuses.posted[-1][2].state == "success"
    assert f"Tooling: {mock_github.url}/acme/infra.git at {infra['head']['sha']}" in log
    assert "tooling: the infra PR, changed " in log
    assert "/tooling/vm/__init__.py" in log
