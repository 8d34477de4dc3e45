"""Driving PRs through a running deployment.

`drive` pushes the sample repository (containers/sample-repo/) into the mock GitHub and
opens one PR that keeps its tests passing and one that breaks them; `drive_pr` has the
bot queue one real PR (its recovery scan, no webhook). Both print each status as it
appears (`follow`) and return what happened, for the summary and the deployment tests.
"""

import os
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from mock_github.control import MockGitHubControl
from ouro.config import ConfigError, setting
from ouro.deploy import local, vmimage
from ouro.deploy.local import Deployment, RealGitHub
from ouro.deploy.progress import say
from tasks import testmap
from tasks.decision import MANUAL_TESTING
from tasks.github_checks import as_status

REPO = "ouro-demo/sample"
CONTEXT = "unit-tests"
FINAL = ("success", "failure", "error")


@dataclass(frozen=True)
class Scenario:
    branch: str
    title: str
    files: dict[str, str | None]
    # The final state each context of the sample's test map must reach.
    expected: dict[str, str]


SCENARIOS = (
    Scenario(
        "friendlier-greeting",
        "A change that keeps the tests green",
        {"NEWS.md": "The greeting is friendlier now.\n"},
        {"unit-tests": "success", "vm": "success", "browser": "success"},
    ),
    Scenario(
        "broken-greeting",
        "A change that breaks a test",
        {"greeting.py": 'def greet(name: str) -> str:\n    return f"Bye, {name}."\n'},
        # The VM runs the same unit tests, so it fails too; the page does not use greet().
        {"unit-tests": "failure", "vm": "failure", "browser": "success"},
    ),
)


@dataclass
class Outcome:
    """One context of one PR head, as it is followed."""

    repo: str
    number: int
    sha: str
    context: str
    title: str
    expected: str
    statuses: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    final_at: float | None = None

    @property
    def state(self) -> str | None:
        return self.statuses[-1]["state"] if self.statuses else None

    @property
    def done(self) -> bool:
        """Final, or waiting for a person: an untrusted author's PR runs only after `/test`."""
        last = self.statuses[-1] if self.statuses else {}
        return last.get("state") in FINAL or last.get("description") == MANUAL_TESTING


def sample_files(image_ref: str | None = None) -> dict[str, str | None]:
    """The sample repository as pushed: its files, and the reference of the VM image that
    this deployment built and uploaded, if any (as an image refresh would commit it)."""
    files: dict[str, str | None] = {
        str(p.relative_to(local.SAMPLE_REPO)): p.read_text()
        for p in sorted(local.SAMPLE_REPO.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    if image_ref:
        files[vmimage.REFERENCE] = image_ref + "\n"
    return files


def ensure_sample(control: MockGitHubControl, deploy: Deployment) -> None:
    """The sample repository in the mock, unless a scenario before made it."""
    if requests.get(f"{deploy.url('mock-github')}/repos/{REPO}", timeout=30).ok:
        return
    control.create_repo(REPO, files=sample_files(deploy.state.sample_image), user="ouro-demo")
    say(f"mock GitHub: created {REPO} from {local.SAMPLE_REPO}")


def statuses(
    api: str,
    sha: str,
    *,
    repo: str = REPO,
    context: str = CONTEXT,
    session: requests.Session | None = None,
) -> list[dict[str, Any]]:
    """The context's statuses of `sha`, oldest first (GitHub lists newest first)."""
    found = listing(api, repo, sha, checks=False, session=session)
    return [s for s in reversed(found) if s["context"] == context]


def listing(
    api: str, repo: str, sha: str, *, checks: bool, session: requests.Session | None = None
) -> list[dict[str, Any]]:
    """Every commit status of `sha` (newest first), or with `checks` every check run: one
    request for all of a head's contexts, which matters under GitHub's rate limits."""
    get = session.get if session is not None else requests.get
    what = "check-runs?filter=all&per_page=100" if checks else "statuses?per_page=100"
    response = get(f"{api}/repos/{repo}/commits/{sha}/{what}", timeout=30)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["check_runs"] if checks else response.json()
    return found


def check_statuses(o: Outcome, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """App mode: `o.statuses` and each phase of the context's check runs in `runs` not seen
    before, read as statuses (tasks.github_checks). A run changes in place, so what is
    known is what a poll saw; each entry names its run (`check_run`) and its `status`."""
    found = list(o.statuses)
    mine = [r for r in runs if r["name"] == o.context]
    for run in sorted(mine, key=lambda r: int(r["id"])):
        status = as_status(run)
        entry = {
            "state": status.state, "description": status.description,
            "target_url": status.target_url, "check_run": run["id"], "status": run["status"],
        }  # fmt: skip
        if entry not in found:
            found.append(entry)
    return found


def follow(
    api: str,
    outcomes: list[Outcome],
    *,
    timeout: float,
    started: float,
    session: requests.Session | None = None,
    checks: bool = False,
    interval: float = 0.5,
) -> list[Outcome]:
    """Print each new status (`checks`: check run phase) with its log link until every
    outcome is final (bounded), reading each head once per `interval`."""
    deadline = time.monotonic() + timeout
    while not all(o.done for o in outcomes):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no final status within {timeout:.0f}s")
        heads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for o in outcomes:
            if (o.repo, o.sha) not in heads:
                heads[o.repo, o.sha] = listing(api, o.repo, o.sha, checks=checks, session=session)
            found = heads[o.repo, o.sha]
            if checks:
                seen = check_statuses(o, found)
            else:
                seen = [s for s in reversed(found) if s["context"] == o.context]
            for status in seen[len(o.statuses) :]:
                note = f" - log: {status['target_url']}" if status.get("target_url") else ""
                what = f"{status['state']} {status['description']!r}{note}"
                say(f"PR #{o.number} [{o.context}]: {what}")
            o.statuses = seen
            if o.done and o.final_at is None:
                o.final_at = time.monotonic() - started
        time.sleep(interval)
    return outcomes


def mock_session(deploy: Deployment) -> requests.Session:
    """Reads of the mock with the deployment's token: GitHub allows 60 requests an hour
    without one, and the mock keeps that rule."""
    return github_session((deploy.secrets / "github" / "token").read_text().strip())


def open_sample_prs(
    control: MockGitHubControl, *, suffix: str = "", contexts: Collection[str] | None = None
) -> list[Outcome]:
    """The sample's passing and failing PRs opened in the mock (the sample repository is
    there already), an outcome to follow for each context (only `contexts`, if given), with
    `suffix` on each context's name."""
    outcomes: list[Outcome] = []
    for s in SCENARIOS:
        pr = control.open_pr(REPO, s.branch, files=s.files, title=s.title, user="ouro-demo")
        number, sha = int(pr["number"]), str(pr["head"]["sha"])
        outcomes += [
            Outcome(REPO, number, sha, context + suffix, s.title, state)
            for context, state in s.expected.items()
            if contexts is None or context in contexts
        ]
        say(f"PR #{number} opened: {s.title!r} (head {sha[:10]})")
    return outcomes


def drive(
    deploy: Deployment, *, timeout: float = 300, started: float | None = None, suffix: str = ""
) -> list[Outcome]:
    """The sample's PRs; `suffix` is a tenant's, on each context's name (tenant.py)."""
    started = started or time.monotonic()
    api = deploy.url("mock-github")
    with MockGitHubControl(api) as control:
        ensure_sample(control, deploy)
        outcomes = open_sample_prs(control, suffix=suffix)
        for delivery in control.deliveries():
            event = f"{delivery['event']}/{delivery.get('action') or '-'}"
            say(f"  webhook delivered: {event} -> HTTP {delivery['status_code']}")
    checks = bool(deploy.state.app_id)  # App mode reports check runs
    with mock_session(deploy) as session:
        return follow(
            api, outcomes, timeout=timeout, started=started, session=session, checks=checks
        )


@dataclass(frozen=True)
class RealPR:
    repo: str
    number: int
    pull: dict[str, Any]  # as GitHub's API returned it
    github: RealGitHub


def github_session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.headers["Accept"] = "application/vnd.github+json"
    return session


def real_pr(
    repo: str,
    number: int,
    *,
    context: str = CONTEXT,
    command: list[str] | None = None,
    testmap_file: Path | None = None,
) -> RealPR:
    """The PR on $GITHUB_API_URL, read with $GITHUB_TOKEN, and what the deployment needs
    to test it. The token leaves this process's environment, so that no podman or other
    child process inherits it; the deployment gets it as a secret file."""
    token = os.environ.pop("GITHUB_TOKEN", "").strip()
    if not token:
        raise ConfigError("--repo/--pr need a token in GITHUB_TOKEN")
    if repo.count("/") != 1:
        raise ConfigError(f"--repo {repo!r:.60} is not OWNER/NAME")
    api = setting("GITHUB_API_URL").rstrip("/")
    with github_session(token) as session:
        response = session.get(f"{api}/repos/{repo}/pulls/{number}", timeout=30)
        if response.status_code != 200:
            raise ConfigError(f"{api} answers HTTP {response.status_code} for {repo}#{number}")
        pull: dict[str, Any] = response.json()
    repos = {repo: {pull["base"]["ref"]: {context: {"command": command} if command else {}}}}
    return RealPR(repo, number, pull, RealGitHub(api, token, repos, testmap_file))


def drive_pr(
    deploy: Deployment, pr: RealPR, *, timeout: float = 1800, started: float | None = None
) -> list[Outcome]:
    """Have the bot queue `pr` by its recovery scan (no webhook reaches a local deployment)
    and follow the statuses of the contexts the test map expects on its head."""
    started = started or time.monotonic()
    sha, base, title = pr.pull["head"]["sha"], pr.pull["base"]["ref"], pr.pull["title"]
    say(f"{pr.repo}#{pr.number}: {title!r} (head {sha[:10]}, base {base})")
    tmap = testmap.load(deploy.root / "testmap.yaml")
    contexts = [c.name for c in tmap.contexts(pr.repo, base)]
    if not contexts:
        raise ConfigError(f"the test map names no contexts for {pr.repo} branch {base}")
    scan = ["ouro", "bot", "scan", "--repo", pr.repo, "--pr", str(pr.number)]
    say(f"bot: {' '.join(scan[1:])}: {deploy.exec('tasks', scan).strip()}")
    outcomes = [Outcome(pr.repo, pr.number, sha, c, title, "success") for c in contexts]
    with github_session(pr.github.token) as session:
        # GitHub: stay far from its rate limits.
        return follow(
            deploy.github_api, outcomes, timeout=timeout, started=started, session=session,
            interval=3,
        )  # fmt: skip


def summary(
    outcomes: list[Outcome], started: float, checks: list[tuple[str, bool]] | None = None
) -> bool:
    """Print each outcome (and each check of a scenario); True if all are as expected."""
    checks = checks or []
    ok = all(o.state == o.expected for o in outcomes) and all(good for _, good in checks)
    print("\nSummary")
    for o in outcomes:
        mark = "ok " if o.state == o.expected else "BAD"
        final = f"final after {o.final_at or 0:.0f}s"
        print(f"  {mark} PR #{o.number} {o.title!r} [{o.context}]: {o.state}", end="")
        print(f" (expected {o.expected}), {len(o.statuses)} statuses, {final}")
        if o.statuses and o.statuses[-1].get("target_url"):
            print(f"      log: {o.statuses[-1]['target_url']}")
    for what, good in checks:
        print(f"  {'ok ' if good else 'BAD'} {what}")
    greens = [o.final_at for o in outcomes if o.state == "success" and o.final_at]
    if greens:
        print(f"  first green status after {min(greens):.0f}s")
    print(f"  total {time.monotonic() - started:.0f}s: {'PASSED' if ok else 'FAILED'}")
    return ok
