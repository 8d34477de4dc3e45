"""The bot in App mode through its acceptance stack (tests/tasks/bot_stack.py): jobs are
announced as queued check runs of the App, and a person's "Re-run" on github.com (the
mock's control verbs: `check_run` / `check_suite` `rerequested` webhooks) queues that job,
or every job of the suite, again."""

from pathlib import Path

import pytest

from ouro import queues
from tasks.forge import Status
from tasks.github import Credentials, open_statuses
from tests.fixtures_mock_github import MockGitHubFixture
from tests.fixtures_webhook import RunningReceiver
from tests.rabbitmq import drain
from tests.tasks.bot_stack import NETWORKING, REPO, Stack
from tests.tasks.test_github_checks import runs

LOG = "http://logs.example/logs/job/index.html"


def test_check_runs_and_a_rerun(
    world: tuple[MockGitHubFixture, RunningReceiver, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    mock, receiver, url = world
    c = mock.control
    app = c.register_app("ouro-ci", "acme")
    c.install_app("ouro-ci", "acme")
    (tmp_path / "app.pem").write_text(app["pem"])
    monkeypatch.setenv("GITHUB_TOKEN_FILE", "")
    monkeypatch.setenv("GITHUB_APP_ID", str(app["id"]))
    monkeypatch.setenv("GITHUB_APP_KEY_FILE", str(tmp_path / "app.pem"))
    stack = Stack(mock, receiver, url)
    try:
        # carol is trusted by the test map: no membership check, which an App may not see.
        pr = c.open_pr(REPO, "fix", files={"a.txt": "1\n"}, user="carol")
        sha = str(pr["head"]["sha"])
        stack.settle()
        jobs = stack.jobs()
        assert [j.context for _, j in jobs[queues.TASKS]] == ["unit-tests"]
        assert [j.context for _, j in jobs["tasks.kvm"]] == [NETWORKING]
        queued = runs(mock, sha)
        assert sorted((r["name"], r["status"]) for r in queued) == [
            (NETWORKING, "queued"),
            ("unit-tests", "queued"),
        ]
        assert {r["app"]["id"] for r in queued} == {app["id"]}  # type: ignore[index]
        assert mock.control.deliveries("status") == []  # no commit status in App mode

        # The worker's part, as it posts it: the unit tests fail.
        worker = open_statuses(credentials=Credentials())
        worker.post(REPO, sha, Status("unit-tests", "pending", "In progress [w1]", LOG))
        worker.post(REPO, sha, Status("unit-tests", "failure", "Tests failed [w1]", LOG))
        failed = next(r for r in runs(mock, sha) if r["name"] == "unit-tests")
        assert (failed["status"], failed["conclusion"]) == ("completed", "failure")

        c.rerun_check(REPO, int(str(failed["id"])), "alice")
        stack.settle()
        again = stack.jobs()
        assert [j.context for _, j in again[queues.TASKS]] == ["unit-tests"]
        assert again["tasks.kvm"] == []
        unit = [r for r in runs(mock, sha) if r["name"] == "unit-tests"]
        assert [(r["status"], r["conclusion"]) for r in unit] == [
            ("completed", "failure"),
            ("queued", None),
        ]

        # "Re-run all checks" of the App's suite: every context again.
        suite = int(failed["check_suite"]["id"])  # type: ignore[index]
        c.rerun_check_suite(REPO, suite, "alice")
        stack.settle()
        again = stack.jobs()
        assert [j.context for _, j in again[queues.TASKS]] == ["unit-tests"]
        assert [j.context for _, j in again["tasks.kvm"]] == [NETWORKING]
    finally:
        stack.close()
    assert drain(url, queues.WEBHOOK) == []
