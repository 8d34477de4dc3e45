"""A person's "Re-run" of a check run or of the App's suite (`check_run`/`check_suite`
`rerequested`, tasks/rerun.py), and the mapping between statuses and check runs
(tasks/github_checks.py), both pure."""

from typing import Any

import pytest

from ouro.jsonutil import PayloadError
from tasks.forge import Status
from tasks.github_checks import as_status, phase
from tasks.interpret import interpret
from tests.tasks.bot_fakes import FakeGitHub, counter_ids, load_map, pull_info

REPO = "example-org/product"
HEAD = "b" * 40


def rerequested(name: str = "unit-tests", sha: str = HEAD, pr: int | None = 45) -> dict[str, Any]:
    """A `check_run` `rerequested` payload as GitHub sends it, with the fields the bot reads."""
    pulls = [] if pr is None else [{
        "url": f"https://api.github.com/repos/{REPO}/pulls/{pr}", "id": 7, "number": pr,
        "head": {"ref": "fix", "sha": sha, "repo": {"id": 1, "name": "product"}},
        "base": {"ref": "main", "sha": "a" * 40, "repo": {"id": 1, "name": "product"}},
    }]  # fmt: skip
    return {
        "action": "rerequested",
        "check_run": {
            "id": 4, "name": name, "head_sha": sha, "status": "completed",
            "conclusion": "failure", "external_id": "", "details_url": "https://logs/x",
            "app": {"id": 9, "slug": "ouro-ci"}, "pull_requests": pulls,
            "check_suite": {"id": 5, "head_branch": "main" if pr is None else "fix",
                            "head_sha": sha, "pull_requests": pulls},
        },
        "repository": {
            "full_name": REPO, "clone_url": f"https://github.com/{REPO}.git",
        },
        "sender": {"login": "alice", "type": "User"},
    }  # fmt: skip


def suite_rerequested(sha: str = HEAD, pr: int | None = 45) -> dict[str, Any]:
    """A `check_suite` `rerequested` payload: "Re-run all checks" of the App's suite."""
    data = rerequested(sha=sha, pr=pr)
    suite = data.pop("check_run")["check_suite"]
    data["check_suite"] = {**suite, "app": {"id": 9, "slug": "ouro-ci"}, "status": "completed"}
    return data


def run(
    data: dict[str, Any], gh: FakeGitHub, event: str = "check_run"
) -> list[tuple[str, str, int | None, str, bool]]:
    decision = interpret(event, data, load_map(), gh, counter_ids())
    return [
        (s.job.context, s.job.sha, s.job.pr, s.job.base_ref or "", s.force) for s in decision.starts
    ]


def test_a_rerun_queues_the_job_again_on_the_prs_head() -> None:
    gh = FakeGitHub()
    gh.pulls[REPO, 45] = pull_info()
    assert run(rerequested(), gh) == [("unit-tests", HEAD, 45, "main", True)]
    assert gh.pull_calls == [(REPO, 45)]


def test_a_rerun_of_a_branch_runs_as_the_push_did() -> None:
    assert run(rerequested(pr=None, sha="e" * 40), FakeGitHub()) == [
        ("unit-tests", "e" * 40, None, "main", True)
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"sha": "c" * 40},  # the PR moved on: that result changes nothing
        {"name": "no-such-context"},
    ],
)
def test_what_a_rerun_does_not_start(change: dict[str, str]) -> None:
    gh = FakeGitHub()
    gh.pulls[REPO, 45] = pull_info()
    assert run(rerequested(**change), gh) == []  # type: ignore[arg-type]


def test_a_closed_pr_and_other_actions_start_nothing() -> None:
    gh = FakeGitHub()
    gh.pulls[REPO, 45] = pull_info(state="closed")
    assert run(rerequested(), gh) == []
    data = rerequested()
    data["action"] = "completed"
    assert run(data, gh) == []


def test_rerunning_a_suite_queues_every_context_again() -> None:
    gh = FakeGitHub()
    gh.pulls[REPO, 45] = pull_info()
    both = [(c, HEAD, 45, "main", True) for c in ("unit-tests", "fedora-41/networking")]
    assert run(suite_rerequested(), gh, "check_suite") == both
    on_branch = run(suite_rerequested(sha="e" * 40, pr=None), gh, "check_suite")
    assert [(c, pr, base) for c, _, pr, base, _ in on_branch] == [
        ("unit-tests", None, "main"),
        ("fedora-41/networking", None, "main"),
    ]
    moved = suite_rerequested(sha="c" * 40)
    assert run(moved, gh, "check_suite") == []
    completed = suite_rerequested()
    completed["action"] = "completed"  # the bot's own suite finishing asks for nothing
    assert run(completed, gh, "check_suite") == []


def test_a_payload_without_its_fields_is_refused() -> None:
    data = rerequested()
    del data["check_run"]["head_sha"]
    with pytest.raises(PayloadError, match=r"check_run\.head_sha"):
        run(data, FakeGitHub())


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status("c", "pending", "Not yet tested"), ("queued", None)),
        (Status("c", "pending", "Manual testing required"), ("queued", None)),
        (Status("c", "pending", "Requeued: worker w1 stopped", "u"), ("queued", None)),
        (Status("c", "pending", "In progress [w1]", "u"), ("in_progress", None)),
        (Status("c", "success", "Tests passed [w1]", "u"), ("completed", "success")),
        (Status("c", "failure", "Timeout after 1 minute", "u"), ("completed", "failure")),
        (Status("c", "error", "Cancelled", "u"), ("completed", "cancelled")),
        (Status("c", "error", "Checkout failed [w1]", "u"), ("completed", "failure")),
    ],
)
def test_statuses_map_to_check_run_phases(status: Status, expected: tuple[str, str | None]) -> None:
    assert phase(status) == expected
    run_status, conclusion = expected
    back = as_status(
        {
            "name": status.context,
            "status": run_status,
            "conclusion": conclusion,
            "output": {"title": status.description},
            "details_url": status.target_url,
        }
    )
    # Read back, only the error/failure distinction is lost (both are retested alike).
    want = "failure" if status.state == "error" and conclusion == "failure" else status.state
    assert back == Status(status.context, want, status.description, status.target_url)
