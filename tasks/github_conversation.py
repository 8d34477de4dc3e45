"""The forge port's `Conversation` over PyGithub (part of the adapter `tasks.github`, whose
client, quoting and retry policy it shares): descriptions of pull requests and issues,
comments, and issues, all through GitHub's issues API, which serves both by number.

Writes are opt-in: without a token `tasks.github.open_conversation` returns the dry run
(`tasks.forge.DryRunConversation`) instead. Texts are never logged whole, at most their first
80 characters.

`comment`, `create_issue` and `create_pull` are retried like every call after a network
error or a 5xx, but are not idempotent: if GitHub did the work and only its answer was lost,
the retry writes a second comment or issue (a second PR from the same branch is refused).
"""

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ouro import jsonutil, validate
from ouro.retry import Sleep
from tasks import github_conditional
from tasks.forge import Conversation, DryRunConversation, IssueInfo
from tasks.github import Credentials, answer, repo_path, retried, segment

if TYPE_CHECKING:
    import github

log = logging.getLogger(__name__)

T = TypeVar("T")

PER_PAGE = 100
# A Link header that never ends (or a repository with more than 10,000 open issues and
# pull requests) must not keep the bot listing forever.
MAX_PAGES = 100


class GitHubConversation:
    def __init__(
        self,
        client: "github.Github",
        *,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self._client = client
        # As for `GitHubReader`: injected so that tests need not wait through the backoff,
        # and the bot's stop event can end the retries.
        self._sleep = sleep
        self._clock = clock

    def _retry(self, call: Callable[[], T], what: str) -> T:
        return retried(call, what, sleep=self._sleep, clock=self._clock)

    def _request(self, verb: str, url: str, **kwargs: Any) -> tuple[dict[str, Any], Any]:
        headers, data = self._client.requester.requestJsonAndCheck(verb, url, **kwargs)
        return headers, data

    def _issue_path(self, repo: str, number: int) -> str:
        validate.pr_number(number)
        return f"/repos/{repo_path(repo)}/issues/{segment(str(number))}"

    def body(self, repo: str, number: int) -> str:
        path = self._issue_path(repo, number)

        def read(data: Any) -> str:
            text = answer(lambda: jsonutil.get_optional_str(data, "body"), f"for {repo}#{number}")
            return text or ""

        def call() -> str:
            return github_conditional.get(self._client.requester, path, read)[0]

        return self._retry(call, f"reading the description of {repo}#{number}")

    def set_body(self, repo: str, number: int, body: str) -> None:
        path = self._issue_path(repo, number)
        # PATCH is idempotent: repeating it after a lost answer changes nothing more.
        self._retry(
            lambda: self._request("PATCH", path, input={"body": body}),
            f"setting the description of {repo}#{number}",
        )
        log.info("set the description of %s#%d to %.80r", repo, number, body)

    def comment(self, repo: str, number: int, text: str) -> None:
        path = f"{self._issue_path(repo, number)}/comments"
        self._retry(
            lambda: self._request("POST", path, input={"body": text}),
            f"commenting on {repo}#{number}",
        )
        log.info("commented on %s#%d: %.80r", repo, number, text)

    def open_issues(self, repo: str) -> list[IssueInfo]:
        """Open issues and pull requests, newest first. Read page by page with the raw
        answers: PyGithub's `Issue.pull_request` asks GitHub again for every plain issue
        (the listing leaves the key out, which PyGithub takes for "not loaded yet")."""
        path = f"/repos/{repo_path(repo)}/issues"
        first = {"state": "open", "per_page": PER_PAGE}

        def read(data: Any) -> list[IssueInfo]:
            return answer(functools.partial(_issues, data), f"listing {repo}'s issues")

        def call() -> list[IssueInfo]:
            found: list[IssueInfo] = []
            url = path
            for page in range(MAX_PAGES):
                parameters = None if page else first
                page_issues, following = github_conditional.get(
                    self._client.requester, url, read, parameters
                )
                found += page_issues
                if following is None:
                    return found
                url = following
            log.warning(
                "%s has more than %d pages of open issues: only those were read", repo, MAX_PAGES
            )
            return found

        return self._retry(call, f"listing open issues of {repo}")

    def create_issue(self, repo: str, title: str, body: str) -> int:
        path = f"/repos/{repo_path(repo)}/issues"

        def call() -> int:
            _, data = self._request("POST", path, input={"title": title, "body": body})
            return answer(lambda: jsonutil.get_int(data, "number"), f"creating {title!r:.80}")

        number = self._retry(call, f"opening an issue in {repo}")
        log.info("opened %s#%d %.80r", repo, number, title)
        return number

    def create_pull(self, repo: str, head: str, base: str, title: str, body: str) -> int:
        path = f"/repos/{repo_path(repo)}/pulls"
        fields = {"head": validate.ref(head), "base": validate.ref(base), "title": title}

        def call() -> int:
            _, data = self._request("POST", path, input={**fields, "body": body})
            return answer(lambda: jsonutil.get_int(data, "number"), f"opening {title!r:.80}")

        number = self._retry(call, f"opening a pull request in {repo}")
        log.info("opened %s#%d from %s into %s: %.80r", repo, number, head, base, title)
        return number


def _issues(data: Any) -> list[IssueInfo]:
    """A page of GitHub's issue listing; `PayloadError` for anything else."""
    listing = jsonutil.get_list({"page": data}, "page")
    found = []
    for item in listing:
        if not isinstance(item, dict):
            raise jsonutil.PayloadError("an issue is not an object")
        found.append(
            IssueInfo(
                number=jsonutil.get_int(item, "number"),
                title=jsonutil.get_str(item, "title"),
                body=jsonutil.get_optional_str(item, "body") or "",
                is_pull=item.get("pull_request") is not None,
            )
        )
    return found


def open_conversation(
    sleep: Sleep = time.sleep, credentials: Credentials | None = None
) -> Conversation:
    credentials = credentials or Credentials()
    if not credentials.can_write:
        log.warning("no GitHub token configured: comments and descriptions are logged (dry run)")
        return DryRunConversation()
    return GitHubConversation(credentials.client(), sleep=sleep)
