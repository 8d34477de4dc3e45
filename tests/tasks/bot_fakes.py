"""Fakes for unit tests of interpretation and the bot: stateful, and they record calls."""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks import testmap
from tasks.forge import ForgeNotFound, HookDelivery, IssueInfo, PullInfo, Status

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return data


def load_map() -> testmap.TestMap:
    return testmap.load(PAYLOADS / "testmap.yaml")


def counter_ids() -> Any:
    """Job ids `<context>-<n>`: deterministic, so tests compare whole jobs."""
    count = iter(range(1, 10**6))
    return lambda context, sha: f"{re.sub(r'[^A-Za-z0-9._-]', '-', context)}-{next(count)}"


@dataclass
class FakeGitHub:
    """PRs, org members and statuses; serves as Lookups, Reader and Statuses."""

    members: set[tuple[str, str]] = field(default_factory=set)
    pulls: dict[tuple[str, int], PullInfo] = field(default_factory=dict)
    posted: list[tuple[str, str, Status]] = field(default_factory=list)
    membership_calls: list[tuple[str, str]] = field(default_factory=list)
    pull_calls: list[tuple[str, int]] = field(default_factory=list)
    deliveries: dict[str, list[HookDelivery]] = field(default_factory=dict)
    redelivered: list[tuple[str, HookDelivery]] = field(default_factory=list)
    # repo → (default branch, {branch: sha})
    branches: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    comments: list[tuple[str, int, str]] = field(default_factory=list)
    bodies: dict[tuple[str, int], str] = field(default_factory=dict)
    issues: list[tuple[str, IssueInfo]] = field(default_factory=list)

    def is_member(self, org: str, login: str) -> bool:
        self.membership_calls.append((org, login))
        return (org, login) in self.members

    def pull(self, repo: str, number: int) -> PullInfo:
        self.pull_calls.append((repo, number))
        if (repo, number) not in self.pulls:
            raise ForgeNotFound(f"{repo}#{number}")
        return self.pulls[repo, number]

    def open_pulls(self, repo: str) -> list[PullInfo]:
        return [p for (r, _), p in self.pulls.items() if r == repo and p.state == "open"]

    def hook_deliveries(self, repo: str) -> list[HookDelivery]:
        return list(self.deliveries.get(repo, []))

    def redeliver(self, repo: str, delivery: HookDelivery) -> None:
        self.redelivered.append((repo, delivery))

    def default_branch(self, repo: str) -> str:
        if repo not in self.branches:
            raise ForgeNotFound(repo)
        return self.branches[repo][0]

    def branch_head(self, repo: str, branch: str) -> str:
        heads = self.branches.get(repo, ("", {}))[1]
        if branch not in heads:
            raise ForgeNotFound(f"{repo} {branch}")
        return heads[branch]

    def file_text(self, repo: str, ref: str, path: str) -> str | None:
        return None

    def body(self, repo: str, number: int) -> str:
        return self.bodies.get((repo, number), "")

    def set_body(self, repo: str, number: int, body: str) -> None:
        self.bodies[repo, number] = body

    def comment(self, repo: str, number: int, text: str) -> None:
        self.comments.append((repo, number, text))

    def open_issues(self, repo: str) -> list[IssueInfo]:
        return [i for r, i in self.issues if r == repo]

    def create_issue(self, repo: str, title: str, body: str) -> int:
        number = 1000 + len(self.issues)
        self.issues.append((repo, IssueInfo(number, title, body, is_pull=False)))
        return number

    def create_pull(self, repo: str, head: str, base: str, title: str, body: str) -> int:
        number = 1000 + len(self.issues)
        self.issues.append((repo, IssueInfo(number, title, body, is_pull=True)))
        return number

    def statuses(self, repo: str, sha: str) -> dict[str, Status]:
        return self.latest(repo, sha)

    def post(self, repo: str, sha: str, status: Status) -> None:
        self.posted.append((repo, sha, status))

    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        found: dict[str, Status] = {}
        for r, s, status in self.posted:
            if (r, s) == (repo, sha):
                found[status.context] = status
        return found


def pull_info(number: int = 45, sha: str = "b" * 40, **changes: Any) -> PullInfo:
    values: dict[str, Any] = {
        "repo": "example-org/product",
        "number": number,
        "head_sha": sha,
        "base_ref": "main",
        "title": "Improve tests",
        "draft": False,
        "state": "open",
        "author": "mallory",
        "author_association": "FIRST_TIME_CONTRIBUTOR",
        "clone_url": "https://github.com/example-org/product.git",
    }
    values.update(changes)
    return PullInfo(**values)
