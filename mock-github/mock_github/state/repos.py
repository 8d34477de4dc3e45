"""Repositories in `State`: creation, adoption from disk, hooks, collaborators, association."""

import shutil
from collections.abc import Mapping
from pathlib import Path

from mock_github.errors import not_found, validation_failed
from mock_github.gitstore import BareRepo, GitError
from mock_github.records import Event, Hook, Repo, now
from mock_github.state.accounts import AccountState
from ouro import validate

# The events the default hook (--webhook-url) subscribes to: those a CI's hook (or App)
# selects. Hooks added one by one get every event unless told otherwise (`create`, `delete`).
DEFAULT_HOOK_EVENTS = (
    "push",
    "pull_request",
    "issues",
    "issue_comment",
    "status",
    "check_run",
    "check_suite",
)


class RepoState(AccountState):
    def adopt_repositories(self) -> None:
        """Serve the repositories in the data directory that no saved record names (git data
        only: a data directory from before the state was saved, or copied in by hand)."""
        known = {repo.git.path for repo in self.repos.values()}
        for path in sorted(self.repos_dir.glob("*/*.git")):
            if path in known:
                continue
            git = BareRepo(path)
            head = git.git("symbolic-ref", "--short", "HEAD").decode().strip()
            stamp = now()
            owner = self.account(path.parent.name).login
            repo = Repo(
                self.next_id(), owner, path.name.removesuffix(".git"), head, git, stamp, stamp
            )
            self.repos[repo.full_name.lower()] = repo

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
            events += self.add_hook(repo, *self.default_hook, list(DEFAULT_HOOK_EVENTS))
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
            events += self.add_hook(repo, url, secret, list(DEFAULT_HOOK_EVENTS))
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
            # GitHub's quirk: private org members look like contributors, so a client that
            # trusts MEMBER must ask the membership API; the mock keeps the quirk to test that.
            return "CONTRIBUTOR"
        if pulls:
            return "FIRST_TIME_CONTRIBUTOR"
        return "NONE"
