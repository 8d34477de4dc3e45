"""A real worker (`Worker.serve`, direct mode) on a real RabbitMQ, mock-github and
images-server: the `running` fixture (registered in tests/conftest.py) for the worker's
broker tests and the status page's."""

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ouro import amqp
from ouro.store.http import HttpStore
from tasks.github import GitHubStatuses, github_client
from tasks.job import Job
from tasks.worker.config import WorkerConfig
from tasks.worker.service import Worker
from tests.fixtures_images import ImagesServerFixture
from tests.fixtures_mock_github import MockGitHubFixture
from tests.rabbitmq import free_port
from tests.worker.conftest import CI_RUN
from tests.worker.helpers import publish_new_job, statuses

REPO = "acme/consume"
# The `running` fixture's parameter for a store that does not answer at all.
STORE_DOWN = "store-down"


class Running:
    def __init__(
        self,
        config: WorkerConfig,
        images: ImagesServerFixture,
        github: MockGitHubFixture,
        amqp_url: str,
        *,
        images_token: str | None = None,
    ):
        self.github = github
        self.amqp_url = amqp_url
        self.store = images.store()
        if images_token == STORE_DOWN:
            # Nothing listens there: every upload fails as in an outage.
            self.store.close()
            self.store = HttpStore(f"http://127.0.0.1:{free_port()}", "t", backoff=(0.01,))
        elif images_token is not None:
            self.store.close()
            self.store = HttpStore(images.url, images_token, backoff=(0.1,))
        self.worker = Worker(config, GitHubStatuses(github_client(github.token)), self.store)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.worker.serve, args=(self.stop,))
        created = github.control.create_repo(REPO, files={".ci/run": CI_RUN})
        self.clone_url = str(created["clone_url"])

    def publish(self, **overrides: Any) -> Job:
        return publish_new_job(self.github, REPO, self.clone_url, self.amqp_url, **overrides)

    def states(self, job: Job) -> list[tuple[str, str]]:
        return [(state, description) for state, description, _ in statuses(self.github, job)]

    def described(self, job: Job, prefix: str) -> bool:
        return any(d.startswith(prefix) for _, d in self.states(job))


@pytest.fixture
def running(
    amqp_url: str,
    direct_config: WorkerConfig,
    images_server: ImagesServerFixture,
    mock_github: MockGitHubFixture,
    *,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Running]:
    monkeypatch.setenv("GITHUB_API_URL", mock_github.url)
    monkeypatch.setenv("GITHUB_WRITE_INTERVAL", "0")
    # Declare the queues before the worker connects, so the first publish is routable.
    amqp.Publisher().close()
    # `@pytest.mark.parametrize("running", [token], indirect=True)`: the worker's upload token.
    token = getattr(request, "param", None)
    worker = Running(direct_config, images_server, mock_github, amqp_url, images_token=token)
    worker.thread.start()
    yield worker
    worker.stop.set()
    worker.thread.join()
    worker.store.close()
