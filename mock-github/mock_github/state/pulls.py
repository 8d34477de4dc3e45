"""Pull requests in `State`: opening one from a branch, and merging it."""

from mock_github.errors import ApiError, not_found, validation_failed
from mock_github.gitstore import GitError
from mock_github.records import Event, Issue, Pull, Repo, now, pull_of
from mock_github.state.commits import CommitState
from mock_github.state.issues import IssueState
from mock_github.state.repos import RepoState


class PullState(IssueState, CommitState, RepoState):
    def pull(self, repo: Repo, number: int) -> Issue:
        found = self.issue(repo, number)
        if found.pull is None:
            raise not_found()
        return found

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
