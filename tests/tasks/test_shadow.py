"""Acceptance: a shadow bot beside production. mock-github delivers signed webhooks to a real
`ouro webhook` mirroring to the shadow exchange; a production `ouro bot` and a shadow
`ouro bot --shadow` (its test map has one more context) consume the same deliveries, each
writing its decision record; `ouro shadow report` names exactly the added context, and
nothing the shadow decided reaches the mock or the tasks queues.

The shadow holds a token of its own (user `shadow-bot`, allowed to push), so a status or
comment it posted would succeed and show at the mock under its name.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import github
import pytest
import requests

from ouro import queues
from tasks.job import Job
from tasks.shadow_report import load
from tests.fixtures_mock_github import MockGitHubFixture
from tests.fixtures_webhook import run_receiver
from tests.rabbitmq import drain, free_port
from tests.tasks.bot_stack import NETWORKING, NYT, REPO, TESTMAP

OURO = str(Path(sys.executable).parent / "ouro")
SHADOW_QUEUE = "shadow-test"
ADDED = "lint"
SHADOW_TESTMAP = TESTMAP.replace(
    "      unit-tests: {}\n", f"      unit-tests: {{}}\n      {ADDED}: {{}}\n"
)
WAIT = 60.0


class Deployment:
    """The receiver and both bots as processes, their logs and records in `base`."""

    def __init__(self, base: Path, mock: MockGitHubFixture, amqp_url: str):
        self.base = base
        self.mock = mock
        self.amqp_url = amqp_url
        self.records = {"production": base / "production.jsonl", "shadow": base / "shadow.jsonl"}
        self.processes: list[subprocess.Popen[bytes]] = []
        secret = base / "webhook.secret"
        secret.write_text("shadow acceptance secret\n")
        port = free_port()
        self.processes.append(
            run_receiver(
                port,
                {"WEBHOOK_SECRET_FILE": str(secret), "WEBHOOK_SHADOW_EXCHANGE": "webhook.shadow"},
                base / "webhook.log",
            )
        )
        mock.set_webhook(f"http://127.0.0.1:{port}/", "shadow acceptance secret")
        shadow_token = base / "shadow-token"
        shadow_token.write_text("shadow-bot-token\n")
        (base / "production.yaml").write_text(TESTMAP)
        (base / "shadow.yaml").write_text(SHADOW_TESTMAP)
        common = {
            **os.environ,
            "AMQP_URL": amqp_url,
            "GITHUB_API_URL": mock.url,
            "GITHUB_WRITE_INTERVAL": "0",
            # One state directory for both: the shadow must keep a state of its own.
            "OURO_STATE_DIR": str(base / "state"),
        }
        for name, token, extra in (
            ("production", mock.token_file, []),
            ("shadow", shadow_token, ["--shadow", SHADOW_QUEUE]),
        ):
            env = {
                **common,
                "GITHUB_TOKEN_FILE": str(token),
                "OURO_TESTMAP": str(base / f"{name}.yaml"),
                "OURO_DECISION_RECORD": str(self.records[name]),
            }
            port = free_port()
            argv = [OURO, "bot", "--no-scan", "--metrics-port", str(port), *extra]
            with (base / f"{name}.log").open("ab") as log:
                self.processes.append(
                    subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
            self._await_ready(name, port)

    def _await_ready(self, name: str, port: int) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        pytest.fail(f"{name} bot not ready: {self.log(name)}")

    def log(self, name: str) -> str:
        return (self.base / f"{name}.log").read_text()[-3000:]

    def settle(self) -> set[str]:
        """Wait until both bots recorded every delivery the receiver accepted; their ids.

        Production's posts make the mock deliver `status` events before the post returns,
        so within its handling and before its record line: once both records hold every
        accepted delivery and no new one appeared, nothing is left in flight."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            accepted = self._accepted()
            recorded = [set(load(p)) if p.exists() else set() for p in self.records.values()]
            if all(accepted <= r for r in recorded) and self._accepted() == accepted:
                assert all(r == accepted for r in recorded), (recorded, accepted)
                return accepted
            time.sleep(0.05)
        pytest.fail(f"not settled: {self.log('production')}\n{self.log('shadow')}")

    def _accepted(self) -> set[str]:
        deliveries = self.mock.control.deliveries()
        assert {d["status_code"] for d in deliveries} <= {200, 202}, deliveries
        return {d["guid"] for d in deliveries if d["status_code"] == 202}

    def report(self, production: Path, shadow: Path) -> tuple[int, str]:
        done = subprocess.run(
            [OURO, "shadow", "report", str(production), str(shadow)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.returncode, done.stdout

    def close(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=60)


@pytest.fixture
def deployment(
    mock_github: MockGitHubFixture, amqp_url: str, tmp_path: Path
) -> Iterator[Deployment]:
    c = mock_github.control
    c.add_org_member("acme", "ouro-bot", public=False)
    c.create_repo(REPO, files={".ci/run": "#!/bin/sh\ntrue\n"})
    c.add_collaborator(REPO, "alice")
    c.add_user("shadow-bot", token="shadow-bot-token")
    c.add_collaborator(REPO, "shadow-bot")
    running = Deployment(tmp_path, mock_github, amqp_url)
    yield running
    running.close()
    # Nothing was dead-lettered, on either side.
    assert drain(amqp_url, queues.WEBHOOK_DEAD) == []
    assert drain(amqp_url, queues.dead_letter_queue(SHADOW_QUEUE)) == []


def test_the_report_names_exactly_the_shadows_changed_entry(deployment: Deployment) -> None:
    control = deployment.mock.control
    pr = control.open_pr(REPO, "fix", files={"a.c": "int a;\n"}, user="alice")
    number, first = pr["number"], pr["head"]["sha"]
    second = control.push(REPO, {"a.c": "int b;\n"}, branch="fix", user="alice")
    # A rerun both start, and a refusal both answer with a comment.
    control.comment(REPO, number, "/test unit-tests", user="alice")
    control.comment(REPO, number, "/test unit-tests@infra#3", user="alice")
    accepted = deployment.settle()
    opened, synchronized = [d["guid"] for d in control.deliveries("pull_request")]

    code, text = deployment.report(*deployment.records.values())
    lines = [
        f"delivery {opened} (pull_request):",
        f"  jobs only in shadow: {REPO}@{first[:12]} {ADDED} on tasks",
        f"  statuses only in shadow: {REPO}@{first[:12]} {ADDED}: pending '{NYT}'",
        f"delivery {synchronized} (pull_request):",
        f"  jobs only in shadow: {REPO}@{second[:12]} {ADDED} on tasks",
        f"  statuses only in shadow: {REPO}@{second[:12]} {ADDED}: pending '{NYT}'",
        f"2 of {len(accepted)} deliveries differ",
    ]
    assert (code, text.splitlines()) == (1, lines)
    same = deployment.records["production"]
    assert deployment.report(same, same) == (
        0,
        f"no differences ({len(accepted)} deliveries compared)\n",
    )

    # The decisions they agree on were real ones: jobs, statuses, cancels and a comment.
    shadow = load(deployment.records["shadow"])
    kinds = {
        k: sum(sum(h.entries[k].values()) for h in shadow.values())
        for k in ("jobs", "statuses", "cancels", "comments")
    }
    assert kinds == {"jobs": 7, "statuses": 7, "cancels": 1, "comments": 1}

    # Only production's jobs are on the queues: the shadow queued nothing.
    queued = sorted(
        (job.sha, job.context)
        for queue in (queues.TASKS, "tasks.kvm")
        for job in (Job.from_json(b) for _, b in drain(deployment.amqp_url, queue))
    )
    expected = sorted(
        [(sha, c) for sha in (first, second) for c in (NETWORKING, "unit-tests")]
        + [(second, "unit-tests")]
    )
    assert queued == expected

    # Only production wrote to the mock: no status or comment of the shadow's.
    client = github.Github(
        base_url=deployment.mock.url, auth=github.Auth.Token(deployment.mock.token)
    )
    repo = client.get_repo(REPO)
    posted = {
        sha: sorted((s.creator.login, s.context) for s in repo.get_commit(sha).get_statuses())
        for sha in (first, second)
    }
    ours = [("ouro-bot", NETWORKING), ("ouro-bot", "unit-tests")]
    assert posted == {first: ours, second: [*ours, ("ouro-bot", "unit-tests")]}
    comments = [(c.user.login, c.body) for c in repo.get_issue(number).get_comments()]
    assert [login for login, _ in comments] == ["alice", "alice", "ouro-bot"]
    assert comments[2][1].startswith("/test unit-tests@infra#3: ")
    client.close()
