"""A passing and a failing PR through the whole deployment, asserted on what the mock
GitHub recorded and on what the images-server serves."""

import pytest
import requests

from mock_github.control import MockGitHubControl
from ouro.deploy import drive, podman
from ouro.deploy import host as deploy_host
from ouro.deploy.local import Deployment

pytestmark = pytest.mark.deployment


@pytest.fixture(scope="module")
def outcomes(deployment: Deployment) -> list[drive.Outcome]:
    return drive.drive(deployment, timeout=240)


def test_each_pr_gets_exactly_three_statuses(outcomes: list[drive.Outcome]) -> None:
    for outcome in outcomes:
        states = [(s["state"], s["description"].split(" [")[0]) for s in outcome.statuses]
        final = "Success" if outcome.expected == "success" else "Tests failed"
        assert states == [
            ("pending", "Not yet tested"),
            ("pending", "In progress"),
            (outcome.expected, final),
        ]
        assert all(s["context"] == drive.CONTEXT for s in outcome.statuses)
        # Both statuses a worker posts link to the same log.
        assert outcome.statuses[1]["target_url"] == outcome.statuses[2]["target_url"]


def test_target_url_resolves_to_the_log_with_output_and_attachments(
    outcomes: list[drive.Outcome],
) -> None:
    failing = next(o for o in outcomes if o.expected == "failure")
    page = failing.statuses[-1]["target_url"]
    assert requests.get(page, timeout=10).status_code == 200
    job_dir = page.rsplit("/", 1)[0]
    log = requests.get(f"{job_dir}/log", timeout=10)
    assert log.status_code == 200
    assert "running the sample's unit tests" in log.text
    assert "AssertionError" in log.text
    attachment = requests.get(f"{job_dir}/unittest.txt", timeout=10)
    assert attachment.status_code == 200
    assert "FAILED (failures=1)" in attachment.text


def test_images_server_refuses_uploads_without_the_token(deployment: Deployment) -> None:
    url = f"{deployment.client_env()['IMAGES_SERVER_URL']}/images/intruder.qcow2"
    assert requests.put(url, data=b"x", timeout=10).status_code == 401
    bad = {"Authorization": "Bearer not-the-token"}
    assert requests.put(url, data=b"x", headers=bad, timeout=10).status_code == 401
    token = (deployment.secrets / "images" / "token").read_text().strip()
    good = {"Authorization": f"Bearer {token}"}
    assert requests.put(url, data=b"x", headers=good, timeout=10).status_code in (200, 201)


SLOW_TEST = """import time
import unittest


class SlowTest(unittest.TestCase):
    def test_takes_its_time(self) -> None:
        time.sleep(20)
"""


def test_worker_restarted_mid_job_then_the_job_completes(
    deployment: Deployment, outcomes: list[drive.Outcome]
) -> None:
    api = deployment.url("mock-github")
    with MockGitHubControl(api) as control:
        pr = control.open_pr(
            drive.REPO, "slow-test", files={"tests/test_slow.py": SLOW_TEST}, user="ouro-demo"
        )
    sha = str(pr["head"]["sha"])

    def running() -> bool:
        return any(s["description"].startswith("In progress") for s in drive.statuses(api, sha))

    deploy_host.wait_for(running, "the slow job's start", 120)
    # SIGKILL, then start again: the unacked job goes back to the queue.
    podman.run(["restart", "--time", "0", "ouroboros-worker"], timeout=120)

    def final() -> bool:
        seen = drive.statuses(api, sha)
        return bool(seen) and seen[-1]["state"] in drive.FINAL

    deploy_host.wait_for(final, "the slow job's final status", 240)
    seen = drive.statuses(api, sha)
    assert seen[-1]["state"] == "success"
    descriptions = [s["description"].split(" [")[0] for s in seen]
    assert descriptions[0] == "Not yet tested"
    # The job ran twice: once in the killed worker, once after the restart.
    assert descriptions.count("In progress") >= 2, descriptions
