"""Driving a mocked PR through a running deployment, and the whole local run.

`drive` pushes the sample repository (containers/sample-repo/) into the mock GitHub and
opens one PR that keeps its tests passing and one that breaks them; it prints each
webhook delivery and status as it appears and returns what happened, for the summary
and for the deployment tests.
"""

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from mock_github.control import MockGitHubControl
from ouro import local
from ouro.local import Deployment, say
from tasks.config import ConfigError

REPO = "ouro-demo/sample"
CONTEXT = "unit-tests"
FINAL = ("success", "failure", "error")


@dataclass(frozen=True)
class Scenario:
    branch: str
    title: str
    files: dict[str, str | None]
    expected: str


SCENARIOS = (
    Scenario(
        "friendlier-greeting",
        "A change that keeps the tests green",
        {"NEWS.md": "The greeting is friendlier now.\n"},
        "success",
    ),
    Scenario(
        "broken-greeting",
        "A change that breaks a test",
        {"greeting.py": 'def greet(name: str) -> str:\n    return f"Bye, {name}."\n'},
        "failure",
    ),
)


@dataclass
class Outcome:
    scenario: Scenario
    number: int
    sha: str
    statuses: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    final_at: float | None = None

    @property
    def state(self) -> str | None:
        return self.statuses[-1]["state"] if self.statuses else None


def sample_files() -> dict[str, str | None]:
    return {
        str(p.relative_to(local.SAMPLE_REPO)): p.read_text()
        for p in sorted(local.SAMPLE_REPO.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def statuses(api: str, sha: str) -> list[dict[str, Any]]:
    """The context's statuses of `sha`, oldest first (GitHub lists newest first)."""
    response = requests.get(f"{api}/repos/{REPO}/commits/{sha}/statuses", timeout=10)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return [s for s in reversed(found) if s["context"] == CONTEXT]


def drive(
    deploy: Deployment, *, timeout: float = 300, started: float | None = None
) -> list[Outcome]:
    started = started or time.monotonic()
    api = deploy.url("mock-github")
    outcomes: list[Outcome] = []
    with MockGitHubControl(api) as control:
        control.create_repo(REPO, files=sample_files(), user="ouro-demo")
        say(f"mock GitHub: created {REPO} from {local.SAMPLE_REPO}")
        for scenario in SCENARIOS:
            pr = control.open_pr(
                REPO, scenario.branch, files=scenario.files, title=scenario.title, user="ouro-demo"
            )
            outcome = Outcome(scenario, int(pr["number"]), str(pr["head"]["sha"]))
            outcomes.append(outcome)
            say(f"PR #{outcome.number} opened: {scenario.title!r} (head {outcome.sha[:10]})")
        for delivery in control.deliveries():
            event = f"{delivery['event']}/{delivery.get('action') or '-'}"
            say(f"  webhook delivered: {event} -> HTTP {delivery['status_code']}")
    deadline = time.monotonic() + timeout
    while any(o.state not in FINAL for o in outcomes):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no final status within {timeout:.0f}s")
        for outcome in outcomes:
            seen = statuses(api, outcome.sha)
            for status in seen[len(outcome.statuses) :]:
                note = f" - log: {status['target_url']}" if status.get("target_url") else ""
                say(f"PR #{outcome.number}: {status['state']} {status['description']!r}{note}")
                if status["state"] in FINAL:
                    outcome.final_at = time.monotonic() - started
            outcome.statuses = seen
        time.sleep(0.5)
    return outcomes


def summary(outcomes: list[Outcome], started: float) -> bool:
    ok = all(o.state == o.scenario.expected for o in outcomes)
    print("\nSummary")
    for o in outcomes:
        mark = "ok " if o.state == o.scenario.expected else "BAD"
        final = f"final after {o.final_at or 0:.0f}s"
        print(f"  {mark} PR #{o.number} {o.scenario.title!r}: {o.state}", end="")
        print(f" (expected {o.scenario.expected}), {len(o.statuses)} statuses, {final}")
        if o.statuses and o.statuses[-1].get("target_url"):
            print(f"      log: {o.statuses[-1]['target_url']}")
    greens = [o.final_at for o in outcomes if o.state == "success" and o.final_at]
    if greens:
        print(f"  first green status after {min(greens):.0f}s")
    print(f"  total {time.monotonic() - started:.0f}s: {'PASSED' if ok else 'FAILED'}")
    return ok


def shell(deploy: Deployment) -> int:
    """An interactive shell with the deployment's settings and the project's tools."""
    env = {**os.environ, **deploy.client_env()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PS1"] = r"(ouroboros) \w\$ "
    print("Deployment is up. Try: ouro queue inspect; curl $MOCK_GITHUB_URL/repos/" + REPO)
    print("Leave the shell to tear it down.")
    return subprocess.run(["bash", "--norc", "-i"], env=env, check=False).returncode


def run(args: argparse.Namespace) -> int:
    if args.repo or args.pr:
        raise ConfigError("--repo/--pr (a real PR on GitHub) is not implemented yet")
    started = time.monotonic()
    deploy = Deployment()
    ok = False
    try:
        deploy.up()
        say(f"deployment up after {time.monotonic() - started:.0f}s")
        ok = summary(drive(deploy, started=started), started)
        if args.interactive:
            shell(deploy)
    except (TimeoutError, requests.RequestException) as error:
        say(f"FAILED: {error}")
    finally:
        if not ok:
            deploy.dump_logs()
        deploy.down()
    return 0 if ok else 1


def _cmd_drive(args: argparse.Namespace) -> int:
    started = time.monotonic()
    return 0 if summary(drive(Deployment(), started=started), started) else 1


def _simple(action: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        deploy = Deployment()
        if action == "up":
            deploy.up()
        elif action == "down":
            deploy.down()
        elif action == "logs":
            deploy.dump_logs()
        elif action == "shell":
            return shell(deploy)
        else:
            for key, value in deploy.client_env().items():
                print(f"export {key}={value}")
        return 0

    return command


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("local", help="the whole deployment on this machine (podman)")
    sub = parser.add_subparsers(metavar="ACTION", required=True)
    run_parser = sub.add_parser("run", help="up, drive the sample PRs (or a real one), down")
    run_parser.add_argument(
        "-i", "--interactive", action="store_true",
        help="open a shell with the deployment's settings before tearing down",
    )  # fmt: skip
    run_parser.add_argument("--repo", help="with --pr and $GITHUB_TOKEN: a real PR on GitHub")
    run_parser.add_argument("--pr", type=int, help="the real PR's number")
    run_parser.set_defaults(func=run)
    sub.add_parser(
        "drive", help="drive the sample PRs through the running deployment"
    ).set_defaults(func=_cmd_drive)
    for name, text in (
        ("up", "build what changed, make fake secrets, start the pods, wait until ready"),
        ("down", "remove the pods, their volumes and the podman service"),
        ("logs", "print the containers' logs"),
        ("shell", "a shell with the running deployment's settings and tools"),
        ("env", "print the settings that reach the running deployment"),
    ):
        sub.add_parser(name, help=text).set_defaults(func=_simple(name))
