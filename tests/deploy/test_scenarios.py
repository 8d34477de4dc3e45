"""The self-maintaining scenarios through the whole deployment (ouro/deploy/scenarios.py):
an image refresh asked for by a task line, and runs with an unmerged infra revision. The
same as `./run-local.sh --scenario image-refresh` and `--scenario infra-revision`."""

import pytest

from ouro.deploy import drive, scenarios
from ouro.deploy.local import Deployment

pytestmark = pytest.mark.deployment


def states(outcome: drive.Outcome) -> list[tuple[str, str]]:
    return [(s["state"], s["description"].split(" [")[0]) for s in outcome.statuses]


def test_image_refresh(deployment: Deployment) -> None:
    outcomes, checks = scenarios.image_refresh(deployment, timeout=900)
    good, broken, vm = outcomes
    # Exactly two statuses: the worker's, when it starts and when it ends.
    assert states(good) == [
        ("pending", "In progress"),
        ("success", "Success"),
    ]
    assert states(broken)[-1][0] == "failure"
    assert vm.state == "success"
    assert [what for what, ok in checks if not ok] == []
    assert len(checks) == 8


def test_infra_revision(deployment: Deployment) -> None:
    outcomes, checks = scenarios.infra_revision(deployment, timeout=600)
    asked, tried = outcomes
    assert asked.context.startswith("vm@infra#")
    assert tried.context == f"vm@{drive.REPO}"
    assert [o.state for o in outcomes] == ["success", "success"]
    assert [what for what, ok in checks if not ok] == []
    assert len(checks) == 4
