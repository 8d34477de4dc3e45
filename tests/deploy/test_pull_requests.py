"""A passing and a failing PR through the whole deployment, asserted on what the mock
GitHub recorded and on what the images-server serves."""

import pytest
import requests

from ouro import drive
from ouro.local import Deployment

pytestmark = pytest.mark.deployment


@pytest.fixture(scope="module")
def outcomes(deployment: Deployment) -> list[drive.Outcome]:
    return drive.drive(deployment, timeout=240)


def test_each_pr_gets_exactly_three_statuses(outcomes: list[drive.Outcome]) -> None:
    for outcome in outcomes:
        states = [(s["state"], s["description"].split(" [")[0]) for s in outcome.statuses]
        final = "Success" if outcome.scenario.expected == "success" else "Tests failed"
        assert states == [
            ("pending", "Not yet tested"),
            ("pending", "In progress"),
            (outcome.scenario.expected, final),
        ]
        assert all(s["context"] == drive.CONTEXT for s in outcome.statuses)
        # Both statuses a worker posts link to the same log.
        assert outcome.statuses[1]["target_url"] == outcome.statuses[2]["target_url"]


def test_target_url_resolves_to_the_log_with_output_and_attachments(
    outcomes: list[drive.Outcome],
) -> None:
    failing = next(o for o in outcomes if o.scenario.expected == "failure")
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
