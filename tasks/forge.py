"""The forge port: what the bot and the worker need of GitHub, in our own terms.

Value types (a commit status, a pull request, an issue, a hook delivery), the interfaces
(`Statuses` to post and read commit statuses, `Reader` for the bot's reads and
redeliveries, `Conversation` for descriptions and comments) and the errors an adapter
raises once its own retries are spent:

- `ForgeUnavailable`: the network or a 5xx — the same request may succeed later;
- `ForgeRateLimited`: the request is right but must wait `retry_after` seconds;
- `ForgeRefused` (and `ForgeNotFound`, its 404): a 4xx that is not a rate limit —
  sending the same request again cannot succeed.

`tasks.github` is the adapter over PyGithub; callers see only these errors, never the
client library's. This module imports no third-party code, so pure code (interpretation,
recovery) can use the value types without loading an HTTP client. `DryRunStatuses` and
`DryRunConversation` are here for the same reason: writing is opt-in, and a dry run needs
no client at all.
"""

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

log = logging.getLogger(__name__)

STATES = ("pending", "success", "failure", "error")


@dataclass(frozen=True)
class Status:
    context: str
    state: str
    description: str
    target_url: str | None = None


@dataclass(frozen=True)
class PullInfo:
    """What the bot needs to know about a pull request; values are still unvalidated."""

    repo: str
    number: int
    head_sha: str
    base_ref: str
    title: str
    draft: bool
    state: str
    author: str
    author_association: str
    clone_url: str
    # Where the head branch lives (`owner/name`, the base repository unless a fork) and its
    # name: an image refresh pushes there. The description, for task lines.
    head_repo: str = ""
    head_ref: str = ""
    body: str = ""


@dataclass(frozen=True)
class IssueInfo:
    """An open issue or pull request, as listed (GitHub lists both as issues)."""

    number: int
    title: str
    body: str
    is_pull: bool


@dataclass(frozen=True)
class HookDelivery:
    id: int
    hook_id: int
    guid: str
    delivered_at: datetime
    status_code: int
    event: str
    redelivery: bool


class Statuses(Protocol):
    def post(self, repo: str, sha: str, status: Status) -> None: ...

    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        """The newest status per context for `sha`."""


class Reader(Protocol):
    def pull(self, repo: str, number: int) -> PullInfo: ...

    def open_pulls(self, repo: str) -> list[PullInfo]: ...

    def is_member(self, org: str, login: str) -> bool:
        """Membership as the adapter's credentials see it (private members may count)."""

    def hook_deliveries(self, repo: str) -> list[HookDelivery]:
        """Recent deliveries of every hook of `repo`, newest first per hook."""

    def redeliver(self, repo: str, delivery: HookDelivery) -> None: ...

    def default_branch(self, repo: str) -> str: ...

    def branch_head(self, repo: str, branch: str) -> str:
        """The sha the branch points at now."""

    def file_text(self, repo: str, ref: str, path: str) -> str | None:
        """A file's text at `ref` (a branch or sha); None if there is no such file."""


class Conversation(Protocol):
    """What is written on pull requests and issues: descriptions and comments (GitHub's
    issues API serves both, by number)."""

    def body(self, repo: str, number: int) -> str: ...

    def set_body(self, repo: str, number: int, body: str) -> None: ...

    def comment(self, repo: str, number: int, text: str) -> None: ...

    def open_issues(self, repo: str) -> list[IssueInfo]:
        """Open issues and pull requests of `repo`."""

    def create_issue(self, repo: str, title: str, body: str) -> int:
        """The new issue's number."""

    def create_pull(self, repo: str, head: str, base: str, title: str, body: str) -> int:
        """A pull request from branch `head` of `repo` into `base`; its number."""


class ForgeError(Exception):
    """The forge did not do what was asked (after the adapter's own retries)."""


class ForgeUnavailable(ForgeError):
    """The forge could not be reached or failed (network error, 5xx): worth asking again
    later. `status` is the HTTP status if there was an answer."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ForgeRefused(ForgeError):
    """A 4xx that is not a rate limit: the request itself is wrong (a commit that is gone,
    a revoked token, a limit of the forge reached), so repeating it cannot succeed."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message or f"HTTP {status}")
        self.status = status


class ForgeNotFound(ForgeRefused):
    """404: the repository, commit or pull request does not exist (or is hidden from us)."""

    def __init__(self, message: str = ""):
        super().__init__(404, message)


class ForgeRateLimited(ForgeError):
    """The request is right but must wait: for `retry_after` seconds (what the forge asked,
    within the adapter's bounds), minutes rather than the seconds of a retry's backoff.
    `status` is the HTTP status it came with (GitHub uses 403 and 429)."""

    def __init__(self, retry_after: float, *, status: int = 429, message: str = ""):
        super().__init__(message or f"rate limited ({status}); retry after {retry_after:g} s")
        self.retry_after = retry_after
        self.status = status


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


class DryRunConversation:
    """Logs what it would write (texts cut at 80 characters) and remembers it, so that a dry
    run reads back its own descriptions and issues. It reads nothing from the forge: a
    description it did not set is "", and its issues, numbered from 1, are the only ones."""

    def __init__(self) -> None:
        self._bodies: dict[tuple[str, int], str] = {}
        self._issues: dict[str, list[IssueInfo]] = {}

    def body(self, repo: str, number: int) -> str:
        return self._bodies.get((repo, number), "")

    def set_body(self, repo: str, number: int, body: str) -> None:
        log.info("would set the description of %s#%d to %.80r", repo, number, body)
        self._bodies[(repo, number)] = body

    def comment(self, repo: str, number: int, text: str) -> None:
        log.info("would comment on %s#%d: %.80r", repo, number, text)

    def open_issues(self, repo: str) -> list[IssueInfo]:
        return [
            replace(issue, body=self.body(repo, issue.number))
            for issue in reversed(self._issues.get(repo, []))
        ]

    def create_issue(self, repo: str, title: str, body: str) -> int:
        issues = self._issues.setdefault(repo, [])
        number = len(issues) + 1
        log.info("would open issue %s#%d %.80r", repo, number, title)
        issues.append(IssueInfo(number, title, body, is_pull=False))
        self._bodies[(repo, number)] = body
        return number

    def create_pull(self, repo: str, head: str, base: str, title: str, body: str) -> int:
        issues = self._issues.setdefault(repo, [])
        number = len(issues) + 1
        log.info(
            "would open PR %s#%d from %.80r into %.80r: %.80r", repo, number, head, base, title
        )
        issues.append(IssueInfo(number, title, body, is_pull=True))
        self._bodies[(repo, number)] = body
        return number
