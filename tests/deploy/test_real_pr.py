"""`./run-local.sh --repo OWNER/NAME --pr N` against "real GitHub": a mock-github on the
host stands in for the API at $GITHUB_API_URL. No webhook is configured there, so only
the bot's own scan can have queued the job; the statuses are asserted at that mock."""

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_github.control import MockGitHubControl
from mock_github.server import MockGitHub
from ouro.deploy import drive, localrun
from ouro.deploy import host as deploy_host
from ouro.deploy.local import Deployment
from tests.rabbitmq import free_port

pytestmark = pytest.mark.deployment

REPO = "acme/widget"
TOKEN = "ghp_real" + secrets.token_hex(16)


@pytest.fixture
def github(tmp_path: Path) -> Iterator[MockGitHub]:
    """Reachable from the pods and job containers through the host's address."""
    host, port = deploy_host.host_address(), free_port()
    server = MockGitHub(
        tmp_path / "github", host=host, port=port, public_url=f"http://{host}:{port}"
    )
    # The bot's and worker's writes are attributed to the token's user.
    server.add_token(TOKEN, "acme-ci")
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_a_real_pr_is_queued_by_the_scan_and_gets_its_statuses_at_the_real_api(
    github: MockGitHub,
    own_deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    green = drive.SCENARIOS[0]
    with MockGitHubControl(github.url) as control:
        control.create_repo(REPO, files=drive.sample_files(), user="acme")
        pr = control.open_pr(REPO, green.branch, files=green.files, title=green.title, user="acme")
        # Another open PR of the repository, which nobody asked to test.
        other = control.open_pr(REPO, "unrelated", files={"NOTES.md": "later\n"}, user="acme")
    monkeypatch.setenv("GITHUB_API_URL", github.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)

    real = drive.real_pr(REPO, int(pr["number"]))
    assert "GITHUB_TOKEN" not in os.environ  # so no child process inherits it
    code = localrun.run_deployment(
        own_deployment,
        lambda d: (drive.drive_pr(d, real, timeout=240), []),
        time.monotonic(),
        github=real.github,
    )
    out = capsys.readouterr().out
    assert code == 0, out

    seen = drive.statuses(github.url, str(pr["head"]["sha"]), repo=REPO)
    assert [(s["state"], s["description"].split(" [")[0], s["creator"]["login"]) for s in seen] == [
        ("pending", "Not yet tested", "acme-ci"),
        ("pending", "In progress", "acme-ci"),
        ("success", "Success", "acme-ci"),
    ]
    log_url = seen[-1]["target_url"]
    assert log_url.startswith("http://localhost:8080/logs/")
    assert f"log: {log_url}" in out
    assert f"ok  PR #{pr['number']} {green.title!r} [unit-tests]: success" in out
    assert TOKEN not in out
    assert drive.statuses(github.url, str(other["head"]["sha"]), repo=REPO) == []
    with MockGitHubControl(github.url) as control:
        assert control.deliveries() == []
    # The real token does not stay behind on disk.
    assert not (own_deployment.secrets / "github" / "token").exists()
