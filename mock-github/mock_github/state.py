"""What mock-github knows: accounts, repositories, pull requests, comments, statuses, hooks.

Commits live in real bare repositories under the data directory (gitstore); the
rest is held in memory. One lock guards it all: every change happens under
`State.lock`, and each changing method returns the webhook events it caused,
which the caller delivers after releasing the lock (deliveries can be slow).

Rules copied from GitHub, because clients depend on them:
- a status `state` is one of error/failure/pending/success, and one sha may carry at
  most 1000 statuses per context (both answered with 422 Validation Failed);
- issues and pull requests share one number sequence per repository;
- `author_association` reports private org members as CONTRIBUTOR, not MEMBER.
"""

import itertools
import re
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mock_github.gitstore import ZERO_SHA, BareRepo, GitError, Identity
from ouro import validate

STATUS_STATES = ("error", "failure", "pending", "success")
MAX_STATUSES_PER_CONTEXT = 1000
# GitHub's login rule; apps act as `name[bot]`.
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?")
DOCS = "https://docs.github.com/rest"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An answer other than success, with GitHub's error body."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        body["documentation_url"] = DOCS
        return body


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation_failed(resource: str, field_name: str, message: str) -> ApiError:
    error = {"resource": resource, "code": "custom", "field": field_name, "message": message}
    return ApiError(422, "Validation Failed", [error])


@dataclass
class Account:
    login: str
    id: int
    type: str  # User, Bot or Organization
    name: str | None = None
    email: str | None = None
    # Organizations only: member login -> (public, role).
    members: dict[str, tuple[bool, str]] = field(default_factory=dict)

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


@dataclass(frozen=True)
class Event:
    """A webhook to deliver: `build(hook)` is left to the payload layer."""

    repo: str
    name: str
    action: str | None
    fields: dict[str, Any]


class State:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.repos_dir = data_dir / "repos"
        self.repos_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, str] = {}  # token -> login
        self._ids = itertools.count(1000)
        # Applied to every repository, existing and future (--webhook-url / set_webhook).
        self.default_hook: tuple[str, str | None] | None = None
        self._adopt_repositories()

    def _adopt_repositories(self) -> None:
        """Serve the repositories a previous run left in the data directory (git data only)."""
        for path in sorted(self.repos_dir.glob("*/*.git")):
            git = BareRepo(path)
            head = git.git("symbolic-ref", "--short", "HEAD").decode().strip()
            stamp = now()
            owner = self.account(path.parent.name).login
            repo = Repo(
                self.next_id(), owner, path.name.removesuffix(".git"), head, git, stamp, stamp
            )
            self.repos[repo.full_name.lower()] = repo

    def next_id(self) -> int:
        return next(self._ids)

    # Accounts

    def account(self, login: str, kind: str | None = None) -> Account:
        """The account `login`, created on first mention (a Bot if it ends in [bot])."""
        key = login.lower()
        found = self.accounts.get(key)
        if found is None:
            if not _LOGIN.fullmatch(login):
                raise validation_failed("User", "login", f"invalid login {login!r:.60}")
            default = "Bot" if login.endswith("[bot]") else "User"
            found = Account(login, self.next_id(), kind or default)
            self.accounts[key] = found
        elif kind == "Organization" and found.type != "Organization":
            found.type = "Organization"
        return found

    def add_token(self, token: str, login: str) -> None:
        self.account(login)
        self.tokens[token] = login

    def add_org_member(self, org: str, login: str, public: bool, role: str = "member") -> None:
        if role not in ("member", "admin"):
            raise validation_failed("Membership", "role", "role must be member or admin")
        self.account(org, "Organization").members[login.lower()] = (public, role)
        self.account(login)

    def membership(self, org: str, login: str) -> tuple[bool, str] | None:
        account = self.accounts.get(org.lower())
        if account is None or account.type != "Organization":
            return None
        return account.members.get(login.lower())

    # Repositories

    def repo(self, full_name: str) -> Repo:
        found = self.repos.get(full_name.lower())
        if found is None:
            raise not_found()
        return found

    def create_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        directory: Path | None = None,
        files: Mapping[str, str | bytes | None] | None = None,
        message: str = "Initial commit",
        author: str | None = None,
        description: str | None = None,
    ) -> tuple[Repo, list[Event]]:
        try:
            validate.repo(full_name)
            validate.ref(default_branch)
        except validate.InvalidValue as error:
            raise validation_failed("Repository", "name", str(error)) from None
        if full_name.lower() in self.repos:
            raise validation_failed("Repository", "name", "name already exists on this account")
        owner, name = full_name.split("/")
        owner_account = self.account(owner)
        path = self.repos_dir / owner / f"{name}.git"
        if path.exists():
            raise validation_failed("Repository", "name", f"{path} already exists on disk")
        who = self.account(author or owner).identity()
        if directory is not None and not directory.is_dir():
            raise validation_failed("Repository", "directory", f"{directory} is not a directory")
        git = BareRepo(path)
        git.init(default_branch)
        try:
            if directory is not None:
                first: str | None = git.commit_directory(directory, message, who)
            else:
                first = git.commit_files(None, files, message, who) if files else None
        except GitError as error:
            shutil.rmtree(path)
            raise validation_failed("Repository", "files", str(error)) from None
        if first:
            git.update_ref(f"refs/heads/{default_branch}", first)
        stamp = now()
        repo = Repo(
            self.next_id(),
            owner_account.login,
            name,
            default_branch,
            git,
            stamp,
            stamp,
            description,
        )
        self.repos[full_name.lower()] = repo
        events = []
        if self.default_hook is not None:
            events += self.add_hook(repo, *self.default_hook)
        return repo, events

    def add_hook(
        self, repo: Repo, url: str, secret: str | None, events: list[str] | None = None
    ) -> list[Event]:
        """A new hook on `repo` (or the existing one with that URL, updated); GitHub pings it."""
        for hook in repo.hooks.values():
            if hook.url == url:
                hook.secret = secret
                hook.events = events or hook.events
                return []
        hook = Hook(self.next_id(), url, secret, events or ["*"], now())
        repo.hooks[hook.id] = hook
        return [Event(repo.full_name, "ping", None, {"hook_id": hook.id})]

    def set_default_hook(self, url: str, secret: str | None) -> list[Event]:
        self.default_hook = (url, secret)
        events: list[Event] = []
        for repo in self.repos.values():
            events += self.add_hook(repo, url, secret)
        return events

    def add_collaborator(self, repo: Repo, login: str, permission: str = "push") -> None:
        if permission not in ("pull", "triage", "push", "maintain", "admin"):
            raise validation_failed("Collaborator", "permission", "unknown permission")
        repo.collaborators[self.account(login).login.lower()] = permission

    def author_association(self, repo: Repo, login: str) -> str:
        key = login.lower()
        if key == repo.owner.lower():
            return "OWNER"
        owner = self.accounts[repo.owner.lower()]
        member = owner.members.get(key) if owner.type == "Organization" else None
        if member is not None and member[0]:
            return "MEMBER"
        if key in repo.collaborators:
            return "COLLABORATOR"
        pulls = [i.pull for i in repo.issues.values() if i.pull and i.user.lower() == key]
        if member is not None or any(p.merged for p in pulls):
            # GitHub's quirk: private members look like contributors (DESIGN.md, trust).
            return "CONTRIBUTOR"
        if pulls:
            return "FIRST_TIME_CONTRIBUTOR"
        return "NONE"

    # Commits and branches

    def resolve(self, repo: Repo, ref: str) -> str:
        sha = repo.git.resolve(ref)
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        return sha

    def push(
        self,
        repo: Repo,
        branch: str,
        files: Mapping[str, str | bytes | None],
        *,
        message: str,
        author: str | None = None,
        start: str | None = None,
    ) -> tuple[str, list[Event]]:
        """A commit with `files` on `branch` (created from `start` or the default branch)."""
        try:
            validate.ref(branch)
        except validate.InvalidValue as error:
            raise validation_failed("Commit", "branch", str(error)) from None
        ref = f"refs/heads/{branch}"
        before = repo.git.resolve(ref)
        parent = before or repo.git.resolve(start or repo.default_branch)
        if start and parent is None:
            raise validation_failed("Commit", "from", f"no such ref {start!r:.60}")
        who = self.account(author or repo.owner)
        try:
            sha = repo.git.commit_files(parent, files, message, who.identity())
        except GitError as error:
            raise validation_failed("Commit", "files", str(error)) from None
        repo.git.update_ref(ref, sha)
        return sha, self.refs_moved(repo, {ref: (before, sha)}, who.login)

    def refs_moved(
        self, repo: Repo, moves: dict[str, tuple[str | None, str | None]], pusher: str
    ) -> list[Event]:
        """The push events for moved refs, and synchronize/closed for PRs whose head moved."""
        repo.pushed_at = now()
        events = []
        for ref, (before, after) in sorted(moves.items()):
            if not ref.startswith(("refs/heads/", "refs/tags/")):
                continue
            fields = {"ref": ref, "before": before or ZERO_SHA, "after": after or ZERO_SHA}
            events.append(Event(repo.full_name, "push", None, {**fields, "pusher": pusher}))
            branch = ref.removeprefix("refs/heads/")
            for target in self.repos.values():
                for issue in target.issues.values():
                    pull = issue.pull
                    if not pull or issue.state != "open" or pull.head_repo != repo.full_name:
                        continue
                    if pull.head_ref != branch or after is None:
                        continue
                    old = pull.head_sha
                    self._update_pull_head(target, issue, repo, after)
                    events.append(
                        Event(
                            target.full_name,
                            "pull_request",
                            "synchronize",
                            {
                                "number": issue.number,
                                "sender": pusher,
                                "before": old,
                                "after": after,
                            },
                        )
                    )
        return events

    def _update_pull_head(self, target: Repo, issue: Issue, head: Repo, sha: str) -> None:
        pull = pull_of(issue)
        pull_ref = f"refs/pull/{issue.number}/head"
        if head is target:
            target.git.update_ref(pull_ref, sha)
        else:
            target.git.fetch_from(head.git, sha, pull_ref)
        pull.head_sha = sha
        issue.updated_at = now()

    # Issues and pull requests

    def issue(self, repo: Repo, number: int) -> Issue:
        found = repo.issues.get(number)
        if found is None:
            raise not_found()
        return found

    def pull(self, repo: Repo, number: int) -> Issue:
        found = self.issue(repo, number)
        if found.pull is None:
            raise not_found()
        return found

    def open_issue(self, repo: Repo, title: str, body: str | None, user: str) -> Issue:
        if not title:
            raise validation_failed("Issue", "title", "title is missing")
        stamp = now()
        number = max(repo.issues, default=0) + 1
        issue = Issue(number, title, body, self.account(user).login, stamp, stamp)
        repo.issues[number] = issue
        return issue

    def open_pull(
        self,
        repo: Repo,
        *,
        head: str,
        base: str | None,
        title: str,
        body: str | None,
        user: str,
        head_repo: str | None = None,
        draft: bool = False,
    ) -> tuple[Issue, list[Event]]:
        source = self.repo(head_repo) if head_repo else repo
        base_ref = base or repo.default_branch
        head_sha = source.git.resolve(f"refs/heads/{head}")
        if head_sha is None:
            raise validation_failed(
                "PullRequest", "head", f"no branch {head!r:.60} in {source.full_name}"
            )
        if repo.git.resolve(f"refs/heads/{base_ref}") is None:
            raise validation_failed("PullRequest", "base", f"no branch {base_ref!r:.60}")
        issue = self.open_issue(repo, title, body, user)
        issue.pull = Pull(head, head_sha, source.full_name, base_ref, draft)
        self._update_pull_head(repo, issue, source, head_sha)
        sender = issue.user
        return issue, [
            Event(
                repo.full_name, "pull_request", "opened", {"number": issue.number, "sender": sender}
            )
        ]

    def edit_issue(
        self, repo: Repo, issue: Issue, changes: Mapping[str, Any], sender: str
    ) -> list[Event]:
        """Title/body/state/base changes, with the edited/closed/reopened events GitHub sends."""
        kind = "pull_request" if issue.pull else "issues"
        events = []
        previous: dict[str, Any] = {}
        for key in ("title", "body"):
            if key in changes and changes[key] != getattr(issue, key):
                value = changes[key]
                if not isinstance(value, str | None) or (key == "title" and not value):
                    raise validation_failed("Issue", key, f"{key} must be a non-empty string")
                previous[key] = {"from": getattr(issue, key)}
                setattr(issue, key, value)
        if issue.pull and "base" in changes and changes["base"] != issue.pull.base_ref:
            if repo.git.resolve(f"refs/heads/{changes['base']}") is None:
                raise validation_failed("PullRequest", "base", "no such branch")
            previous["base"] = {"ref": {"from": issue.pull.base_ref}}
            issue.pull.base_ref = changes["base"]
        if previous:
            issue.updated_at = now()
            fields = {"number": issue.number, "sender": sender, "changes": previous}
            events.append(Event(repo.full_name, kind, "edited", fields))
        state = changes.get("state")
        if state is not None and state != issue.state:
            if state not in ("open", "closed"):
                raise validation_failed("Issue", "state", "state must be open or closed")
            if issue.pull and issue.pull.merged:
                raise validation_failed(
                    "PullRequest", "state", "a merged pull request stays closed"
                )
            issue.state = state
            issue.updated_at = now()
            issue.closed_at = issue.updated_at if state == "closed" else None
            action = "closed" if state == "closed" else "reopened"
            events.append(
                Event(repo.full_name, kind, action, {"number": issue.number, "sender": sender})
            )
        return events

    def merge_pull(self, repo: Repo, issue: Issue, sender: str) -> tuple[str, list[Event]]:
        pull = pull_of(issue)
        if issue.state != "open":
            raise ApiError(405, "Pull Request is not mergeable")
        base_ref = f"refs/heads/{pull.base_ref}"
        base_sha = self.resolve(repo, base_ref)
        who = self.account(sender)
        message = f"Merge pull request #{issue.number} from {pull.head_repo}/{pull.head_ref}"
        message += f"\n\n{issue.title}"
        try:
            sha = repo.git.merge(base_sha, pull.head_sha, message, who.identity())
        except GitError:
            raise ApiError(405, "Pull Request is not mergeable") from None
        repo.git.update_ref(base_ref, sha)
        stamp = now()
        pull.merged, pull.merged_at, pull.merged_by, pull.merge_commit_sha = (
            True,
            stamp,
            who.login,
            sha,
        )
        issue.state, issue.closed_at, issue.updated_at = "closed", stamp, stamp
        events = self.refs_moved(repo, {base_ref: (base_sha, sha)}, who.login)
        events.append(
            Event(
                repo.full_name,
                "pull_request",
                "closed",
                {"number": issue.number, "sender": who.login},
            )
        )
        return sha, events

    def comment(
        self, repo: Repo, issue: Issue, user: str, body: str
    ) -> tuple[Comment, list[Event]]:
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "body", "body is missing")
        stamp = now()
        comment = Comment(
            self.next_id(), issue.number, self.account(user).login, body, stamp, stamp
        )
        issue.comments.append(comment)
        issue.updated_at = stamp
        fields = {"number": issue.number, "sender": comment.user, "comment_id": comment.id}
        return comment, [Event(repo.full_name, "issue_comment", "created", fields)]

    def label(self, repo: Repo, name: str) -> Label:
        if not isinstance(name, str) or not name or len(name) > 50:
            raise validation_failed("Label", "name", "invalid label name")
        found = repo.labels.get(name.lower())
        if found is None:
            found = Label(self.next_id(), name)
            repo.labels[name.lower()] = found
        return found

    def add_labels(self, repo: Repo, issue: Issue, names: list[str], sender: str) -> list[Event]:
        kind = "pull_request" if issue.pull else "issues"
        events = []
        for name in names:
            label = self.label(repo, name)
            if label.name.lower() in (n.lower() for n in issue.labels):
                continue
            issue.labels.append(label.name)
            fields = {"number": issue.number, "sender": sender, "label": label.name}
            events.append(Event(repo.full_name, kind, "labeled", fields))
        return events

    def remove_label(self, repo: Repo, issue: Issue, name: str, sender: str) -> list[Event]:
        kind = "pull_request" if issue.pull else "issues"
        for existing in issue.labels:
            if existing.lower() == name.lower():
                issue.labels.remove(existing)
                fields = {"number": issue.number, "sender": sender, "label": existing}
                return [Event(repo.full_name, kind, "unlabeled", fields)]
        raise ApiError(404, "Label does not exist")

    # Statuses

    def add_status(
        self,
        repo: Repo,
        sha: str,
        *,
        state: Any,
        context: Any,
        description: Any,
        target_url: Any,
        creator: str,
    ) -> tuple[Status, list[Event]]:
        if state not in STATUS_STATES:
            raise validation_failed("Status", "state", "state is not included in the list")
        if not isinstance(context, str) or not context:
            raise validation_failed("Status", "context", "context must be a non-empty string")
        for name, value in (("description", description), ("target_url", target_url)):
            if value is not None and not isinstance(value, str):
                raise validation_failed("Status", name, f"{name} must be a string")
        if description is not None and len(description) > 140:
            raise validation_failed(
                "Status", "description", "description is too long (maximum is 140 characters)"
            )
        # A sha that already carries statuses is known to exist: skip the git call.
        full = sha if sha in repo.statuses else repo.git.resolve(sha) if len(sha) >= 7 else None
        if full is None:
            raise ApiError(422, f"No commit found for SHA: {sha}")
        existing = repo.statuses.setdefault(full, [])
        if sum(1 for s in existing if s.context == context) >= MAX_STATUSES_PER_CONTEXT:
            raise validation_failed(
                "Status",
                "context",
                "This SHA and context has reached the maximum number of statuses.",
            )
        status = Status(
            self.next_id(), state, description, target_url or None, context, creator, now()
        )
        existing.append(status)
        fields = {"id": status.id, "sha": full, "sender": creator}
        return status, [Event(repo.full_name, "status", None, fields)]

    def statuses(self, repo: Repo, sha: str) -> list[Status]:
        """All statuses of `sha`, newest first (GitHub's order)."""
        return list(reversed(repo.statuses.get(sha, [])))

    def latest_statuses(self, repo: Repo, sha: str) -> list[Status]:
        seen: dict[str, Status] = {}
        for status in self.statuses(repo, sha):
            seen.setdefault(status.context, status)
        return sorted(seen.values(), key=lambda s: s.id)

    def combined_state(self, statuses: list[Status]) -> str:
        states = {s.state for s in statuses}
        if states & {"error", "failure"}:
            return "failure"
        if not states or "pending" in states:
            return "pending"
        return "success"
