"""Commits and branches in `State`: pushes, and what a moved ref does to open pull requests."""

from collections.abc import Mapping

from mock_github.errors import ApiError, validation_failed
from mock_github.gitstore import ZERO_SHA, GitError
from mock_github.records import Event, Issue, Repo, now, pull_of
from mock_github.state.accounts import AccountState
from ouro import validate


class CommitState(AccountState):
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
            if before is None or after is None:  # a branch or tag created or deleted
                events.append(
                    Event(
                        repo.full_name,
                        "create" if before is None else "delete",
                        None,
                        {"ref": ref, "sender": pusher},
                    )
                )
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
