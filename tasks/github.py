"""GitHub access for the bot and the worker: commit statuses behind a small interface.

`GitHubStatuses` posts through PyGithub (to `GITHUB_API_URL`, the mock locally);
`DryRunStatuses` only logs "would post". Posting is opt-in: without a token,
`open_statuses` returns the dry run (STYLE.md #5). Workers use this interface
and never import PyGithub themselves.
"""

import logging
from dataclasses import dataclass
from typing import Protocol

import github
import requests

from tasks.config import optional_secret, setting
from tasks.retry import with_retries

log = logging.getLogger(__name__)

STATES = ("pending", "success", "failure", "error")


@dataclass(frozen=True)
class Status:
    context: str
    state: str
    description: str
    target_url: str | None = None


class Statuses(Protocol):
    def post(self, repo: str, sha: str, status: Status) -> None: ...

    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        """The newest status per context for `sha`."""


def is_transient(error: Exception) -> bool:
    """Network errors and 5xx are worth retrying; a 4xx means our request is wrong."""
    if isinstance(error, github.GithubException):
        return error.status >= 500
    return isinstance(error, requests.RequestException | ConnectionError | TimeoutError)


def github_client(token: str | None = None) -> github.Github:
    auth = github.Auth.Token(token) if token else None
    # PyGithub's own retry would also retry 4xx rate limits silently; our policy is explicit.
    return github.Github(base_url=setting("GITHUB_API_URL"), auth=auth, retry=None, timeout=15)


def github_token() -> str | None:
    return optional_secret("GITHUB_TOKEN_FILE", "GITHUB_TOKEN")


class GitHubStatuses:
    def __init__(self, client: github.Github):
        self._client = client

    def post(self, repo: str, sha: str, status: Status) -> None:
        def call() -> None:
            commit = self._client.get_repo(repo, lazy=True).get_commit(sha)
            commit.create_status(
                status.state,
                target_url=status.target_url or github.GithubObject.NotSet,
                description=status.description[:140],
                context=status.context,
            )

        with_retries(call, is_transient, f"posting {status.context} on {repo}@{sha[:12]}")
        log.info(
            "%s@%s %s: %s %s", repo, sha[:12], status.context, status.state, status.description
        )

    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        def call() -> dict[str, Status]:
            found: dict[str, Status] = {}
            # GitHub lists statuses newest first; keep the first seen per context.
            for s in self._client.get_repo(repo, lazy=True).get_commit(sha).get_statuses():
                found.setdefault(
                    s.context, Status(s.context, s.state, s.description or "", s.target_url)
                )
            return found

        return with_retries(call, is_transient, f"reading statuses of {repo}@{sha[:12]}")


class DryRunStatuses:
    """Logs what it would post and remembers it, so a dry run still deduplicates."""

    def __init__(self) -> None:
        self._posted: dict[tuple[str, str], dict[str, Status]] = {}

    def post(self, repo: str, sha: str, status: Status) -> None:
        log.info(
            "would post %s@%s %s: %s %s",
            repo,
            sha[:12],
            status.context,
            status.state,
            status.description,
        )
        self._posted.setdefault((repo, sha), {})[status.context] = status

    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        return dict(self._posted.get((repo, sha), {}))


def open_statuses() -> Statuses:
    token = github_token()
    if token is None:
        log.warning("no GitHub token configured: statuses are logged, not posted (dry run)")
        return DryRunStatuses()
    return GitHubStatuses(github_client(token))
