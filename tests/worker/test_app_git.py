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
from tasks.worker.checkout import checkout
from tasks.worker.config import WorkerConfig
from tasks.worker.service import Worker
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture
from tests.tasks.test_github_app import app_mode
from tests.worker.conftest import JobFactory
from tests.worker.fakes import FakeStatuses, FakeStore
from tests.worker.gitserver import GitServer, Repo
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


def test_every_fetch_of_a_checkout_asks_for_the_token_again(
    git_server: GitServer, repo: Repo, make_job: JobFactory, tmp_path: Path
) -> None:
    """A server that takes only the newest token, as if each older one had expired: the
    PR's fetch and its base's fetch each carry the token current at that moment."""
    issued: list[str] = []

    def git_token() -> str:
        issued.append(f"ghs_{len(issued)}")
        git_server.accepted = {basic(issued[-1])}
        return issued[-1]

    git_server.accepted = set()
    repo.commit({"base": "1\n"}, "base")
    job = make_job(pr=3, base_ref="main")
    target = tmp_path / "checkout"
    checkout(
        job, target, lambda _: None, auth=gitauth.for_url(git_token, job.clone_url, job.clone_url)
    )
    assert (target / "README").is_file()
    used = [a for a in git_server.authorizations if a is not None]
    assert set(used) == {basic(token) for token in issued}
    assert len(issued) >= 2  # one per git command that reached the server
    assert None not in git_server.authorizations  # git never asked without credentials


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


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
