"""App mode through the whole deployment (`./run-local.sh --app`): the bot and the worker act
as the mock's GitHub App, whose installation tokens live 25 s; each job is a check run that
goes queued → in_progress → completed on the PR's head, and a person's "Re-run" runs it
again."""

import time
from typing import Any

import pytest

from mock_github.control import MockGitHubControl
from ouro.deploy import appmode, drive
from ouro.deploy import host as deploy_host
from ouro.deploy.local import Deployment

pytestmark = pytest.mark.deployment


def completed(deploy: Deployment, sha: str, context: str) -> list[dict[str, Any]]:
    """The context's completed check runs of `sha`, oldest first, read as statuses."""
    outcome = drive.Outcome(drive.REPO, 0, sha, context, "", "")
    with drive.mock_session(deploy) as session:
        runs = drive.listing(
            deploy.url("mock-github"), drive.REPO, sha, checks=True, session=session
        )
    return [s for s in drive.check_statuses(outcome, runs) if s["status"] == "completed"]


def test_check_runs_rerequest_and_token_renewal(own_deployment: Deployment) -> None:
    deploy = own_deployment
    deploy.up(app=True)
    started = time.monotonic()
    api = deploy.url("mock-github")
    outcomes = drive.drive(deploy, timeout=300)

    for o in outcomes:
        assert o.state == o.expected, (o.context, o.statuses)
        phases = [s["status"] for s in o.statuses]
        assert phases[-1] == "completed"
        assert "in_progress" in phases, (o.context, o.statuses)
        # The log link is the run's details_url, from the worker's first post to its last.
        running = next(s for s in o.statuses if s["status"] == "in_progress")
        assert running["target_url"] == o.statuses[-1]["target_url"]
        assert str(running["target_url"]).startswith("http://localhost:8080/logs/")

    with MockGitHubControl(api) as control:
        created = [
            d["request"]["payload"]["check_run"]
            for d in control.deliveries("check_run")
            if d["request"]["payload"]["action"] == "created"
        ]
        # Each job's run began queued, when the bot queued it.
        assert sorted((r["name"], r["status"]) for r in created) == sorted(
            (o.context, "queued") for o in outcomes
        )
        assert {r["app"]["id"] for r in created} == {deploy.state.app_id}

        # A person clicks "Re-run" on the failing unit tests: the job runs again.
        failing = next(o for o in outcomes if o.context == "unit-tests" and o.expected == "failure")
        run_id = int(failing.statuses[-1]["check_run"])
        control.rerun_check(drive.REPO, run_id, "ouro-demo")

    def ran_again() -> bool:
        return len(completed(deploy, failing.sha, "unit-tests")) == 2

    deploy_host.wait_for(ran_again, "the re-run's completed check run", 240, interval=2)
    again = completed(deploy, failing.sha, "unit-tests")[-1]
    assert (again["state"], again["check_run"] != run_id) == ("failure", True)

    # The tokens in use when the PRs opened expired before the re-run ended, and every
    # check run above was still written (with a renewed token: an expired one is refused).
    elapsed = time.monotonic() - started
    issued = appmode.tokens_issued(deploy)
    print(f"App mode: {elapsed:.0f} s, {issued} installation tokens issued")
    assert elapsed > appmode.TOKEN_LIFETIME
    assert issued >= 3
