"""git credentials in App mode (tasks/worker/gitauth.py): the installation's token, asked
for before each git command and sent only to the job's own host, pushes an image refresh
as the App's bot, with no push token file."""

import base64
from pathlib import Path

import pytest

from ouro.amqp import Message, Outcome
from tasks.github import Credentials
from tasks.github_conversation import GitHubConversation
from tasks.worker import gitauth
from tasks.worker.config import WorkerConfig
from tasks.worker.service import Worker
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture
from tests.tasks.test_github_app import app_mode
from tests.worker.fakes import FakeStatuses, FakeStore
from tests.worker.test_refresh import REPO, open_pr, refresh_job

HOME = "https://github.example/acme/widget.git"


def test_the_token_goes_only_to_the_repositorys_host() -> None:
    issued = iter(["ghs_one", "ghs_two"])
    env = gitauth.for_url(lambda: next(issued), "https://GitHub.example/acme/fork.git", HOME)
    header = env()["GIT_CONFIG_VALUE_0"]
    assert header == "Authorization: Basic " + base64.b64encode(b"x-access-token:ghs_one").decode()
    # Asked for again for the next command: a renewed token is used at once.
    assert "ghs_two" not in header
    assert base64.b64encode(b"x-access-token:ghs_two").decode() in env()["GIT_CONFIG_VALUE_0"]
    for elsewhere in (
        "https://evil.example/acme/widget.git",
        "http://github.example/acme/widget.git",
        "https://github.example:8443/acme/widget.git",
    ):
        assert gitauth.for_url(lambda: "ghs_x", elsewhere, HOME)() == {}
    assert gitauth.for_url(None, HOME, HOME)() == {}


def test_a_refresh_pushes_with_the_installation_token(
    mock_github: MockGitHubFixture,
    hook_recorder: HookRecorder,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    direct_config: WorkerConfig,
) -> None:
    # Tokens of a second, renewed by PyGithub (20 s ahead) for every command: none is reused.
    app_mode(mock_github, monkeypatch, tmp_path, lifetime=1, installation=True)
    mock_github.set_webhook(hook_recorder.url, "secret")
    mock_github.control.create_repo(REPO, files={"images/sample": "old\n"}, user="acme")
    number, head = open_pr(mock_github)
    credentials = Credentials()
    assert not (direct_config.secrets_dir / "push-tokens").exists()
    store = FakeStore()
    worker = Worker(
        direct_config,
        FakeStatuses(),
        store,
        conversation=GitHubConversation(credentials.client(), sleep=lambda _: None),
        git_token=credentials.git_token,
    )
    job = refresh_job(mock_github, head, pr=number)
    assert worker.handle(Message(job.to_json(), job.id, False, {}, None)) is Outcome.ACK
    log = store.files[f"logs/{job.id}/log"].decode()
    assert "Pushed " in log
    assert "ghs_" not in log
    pushes = [d["request"]["payload"] for d in mock_github.control.deliveries("push")]
    assert pushes[-1]["pusher"]["name"] == "ouro-ci[bot]"
    assert pushes[-1]["ref"] == "refs/heads/refresh"
