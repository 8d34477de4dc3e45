"""The records the mock keeps in memory: accounts, repositories, issues and the rest.

Plain data; `State` (state/) owns them and changes them under its lock.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mock_github.errors import not_found
from mock_github.gitstore import BareRepo, Identity


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Account:
    login: str
    id: int
    type: str  # User, Bot or Organization
    name: str | None = None
    email: str | None = None
    # Organizations only: member login -> (public, role).
    members: dict[str, tuple[bool, str]] = field(default_factory=dict)
    created_at: str = field(default_factory=now)

    def identity(self) -> Identity:
        return Identity(self.name or self.login, self.email or f"{self.login}@users.noreply.mock")


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Comment:
    id: int
    issue_number: int
    user: str
    body: str
    created_at: str
    updated_at: str


@dataclass
class Status:
    id: int
    state: str
    description: str | None
    target_url: str | None
    context: str
    creator: str
    created_at: str


@dataclass
class Review:
    id: int
    user: str
    body: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED or PENDING (not yet submitted)
    commit_id: str  # the head it reviewed
    submitted_at: str | None


@dataclass
class Pull:
    head_ref: str
    head_sha: str
    head_repo: str  # full name; differs from the base repository for a fork's PR
    base_ref: str
    draft: bool = False
    merged: bool = False
    merged_at: str | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    reviews: list[Review] = field(default_factory=list)  # oldest first


@dataclass
class Issue:
    number: int
    title: str
    body: str | None
    user: str
    created_at: str
    updated_at: str
    state: str = "open"
    closed_at: str | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    pull: Pull | None = None


def pull_of(issue: Issue) -> Pull:
    """The pull request part of `issue`; 404 for a plain issue."""
    if issue.pull is None:
        raise not_found()
    return issue.pull


@dataclass
class Hook:
    id: int
    url: str
    secret: str | None
    events: list[str]
    created_at: str
    active: bool = True
    deliveries: list[Any] = field(default_factory=list)  # delivery.Delivery, newest last

    def wants(self, event: str) -> bool:
        return self.active and (event == "ping" or "*" in self.events or event in self.events)


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    default_branch: str
    git: BareRepo
    created_at: str
    pushed_at: str
    description: str | None = None
    private: bool = False
    issues: dict[int, Issue] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)
    statuses: dict[str, list[Status]] = field(default_factory=dict)  # sha -> oldest first
    hooks: dict[int, Hook] = field(default_factory=dict)
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> permission

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


# Every (event, action) the mock emits; `Event` refuses others, and the webhook tests
# trigger each one and validate its payload against GitHub's schema for it.
EMITTED = frozenset(
    {
        ("ping", None),
        ("push", None),
        ("create", None),
        ("delete", None),
        ("status", None),
        *(
            ("pull_request", action)
            for action in (
                "opened",
                "edited",
                "closed",
                "reopened",
                "synchronize",
                "labeled",
                "unlabeled",
            )
        ),
        *(
            ("issues", action)
            for action in ("opened", "edited", "closed", "reopened", "labeled", "unlabeled")
        ),
        *(("issue_comment", action) for action in ("created", "edited", "deleted")),
        ("pull_request_review", "submitted"),
        *(("check_run", action) for action in ("created", "completed", "rerequested")),
        *(("check_suite", action) for action in ("requested", "completed", "rerequested")),
    }
)


@dataclass(frozen=True)
class Event:
    """A webhook to deliver: `build(hook)` is left to the payload layer."""

    repo: str
    name: str
    action: str | None
    fields: dict[str, Any]

    def __post_init__(self) -> None:
        if (self.name, self.action) not in EMITTED:
            raise ValueError(f"{self.name}.{self.action} is not in records.EMITTED")
