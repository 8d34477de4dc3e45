"""The forge port's GitHub adapter (`tasks.forge`): commit statuses and the bot's reads
(pull requests, branches, files, org membership, hook deliveries) through PyGithub, to
`GITHUB_API_URL` (mock-github locally). The only module that imports PyGithub;
`tasks.github_conversation` (descriptions, comments, issues) builds on its helpers.

Transient failures (network, 5xx) are retried here with `ouro.retry`'s backoff; what
still fails leaves as a forge error (`forge_error`), so callers never see PyGithub's or
requests' exceptions. Posting is opt-in: without a token `open_statuses` and
`open_conversation` return dry runs, and `redeliver` only logs. Reads work without a
token, as far as GitHub allows anonymous reads.
"""

import base64
import logging
import math
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import github
import requests

from ouro import jsonutil, validate
from ouro.config import ConfigError, optional_secret, setting
from ouro.retry import Sleep, with_retries
from tasks.forge import (
    Conversation,
    DryRunConversation,
    DryRunStatuses,
    ForgeError,
    ForgeNotFound,
    ForgeRateLimited,
    ForgeRefused,
    ForgeUnavailable,
    HookDelivery,
    PullInfo,
    Reader,
    Status,
    Statuses,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


def is_transient(error: Exception) -> bool:
    """Network errors and 5xx are worth retrying; a 4xx means our request is wrong."""
    if isinstance(error, github.GithubException):
        return error.status >= 500
    return isinstance(error, requests.RequestException | ConnectionError | TimeoutError)


def is_rate_limited(error: Exception) -> bool:
    """GitHub's primary or secondary rate limit (403 or 429): the request is right but must
    wait, for minutes rather than the seconds `with_retries` backs off."""
    return isinstance(error, github.RateLimitExceededException) or (
        isinstance(error, github.GithubException) and error.status == 429
    )


def is_permanent(error: Exception) -> bool:
    """A 4xx other than a rate limit: sending the same request again cannot succeed."""
    return (
        isinstance(error, github.GithubException)
        and 400 <= error.status < 500
        and not is_rate_limited(error)
    )


# GitHub asks to wait at least a minute after a secondary limit that names no time.
RATE_LIMIT_WAIT = 60.0
# A reset hours away (or a wrong header) must not park the bot silently for that long; and
# the bot holds the message unacked meanwhile, which RabbitMQ's consumer_timeout (30 min by
# default) would punish by closing the channel.
RATE_LIMIT_MAX_WAIT = 15 * 60.0


def rate_limit_wait(error: Exception, now: float) -> float:
    """Seconds to wait before repeating a rate-limited request, as GitHub's documentation
    asks: `retry-after` if given; else, when no requests remain, until `x-ratelimit-reset`
    (epoch seconds; `now` is the current epoch time); else a minute. Capped at
    `RATE_LIMIT_MAX_WAIT`, and at least a second (clocks differ)."""
    headers = (error.headers if isinstance(error, github.GithubException) else None) or {}
    try:
        if "retry-after" in headers:
            delay = float(headers["retry-after"])
        elif headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            delay = float(headers["x-ratelimit-reset"]) - now
        else:
            delay = RATE_LIMIT_WAIT
    except ValueError:
        delay = RATE_LIMIT_WAIT
    if not math.isfinite(delay):
        delay = RATE_LIMIT_WAIT
    return min(max(delay, 1.0), RATE_LIMIT_MAX_WAIT)


def forge_error(error: Exception, now: float) -> ForgeError | None:
    """What `error` (PyGithub's or the network's) means in the port's terms; None for
    anything else, which is a bug of ours rather than an answer of GitHub's."""
    if isinstance(error, github.GithubException):
        if is_rate_limited(error):
            return ForgeRateLimited(
                rate_limit_wait(error, now), status=error.status, message=str(error)
            )
        if is_permanent(error):
            if error.status == 404:
                return ForgeNotFound(str(error))
            return ForgeRefused(error.status, str(error))
        # 5xx. PyGithub raises only from 400 on, so nothing else is expected; for an answer
        # we do not understand, asking again later is the safe side.
        return ForgeUnavailable(str(error), error.status)
    if is_transient(error):
        return ForgeUnavailable(str(error) or type(error).__name__)
    return None


def segment(value: str) -> str:
    """`value` as one path segment of an API URL: `/`, `..`, `?`, `#` and the rest quoted,
    so that no value can reach another endpoint (callers validate values first; this holds
    even when one forgets)."""
    return urllib.parse.quote(value, safe="")


def repo_path(repo: str) -> str:
    """`owner/name` for `/repos/{owner}/{name}`, validated and each part quoted."""
    owner, name = validate.repo(repo).split("/")
    return f"{segment(owner)}/{segment(name)}"


def segments(value: str) -> str:
    """A validated path (a branch, a file's path) for the end of an API URL: each part
    quoted as a `segment`, the slashes between them kept."""
    return "/".join(segment(part) for part in value.split("/"))


def file_path(value: str) -> str:
    """A file's path in a repository, for `/contents/{path}`; `InvalidValue` for one that is
    empty, absolute, or has empty, `.` or `..` parts (another endpoint, or the root)."""
    if len(value) > 4096 or "\0" in value or {"", ".", ".."} & set(value.split("/")):
        raise validate.InvalidValue(f"invalid file path {value!r:.80}")
    return segments(value)


def answer(read: Callable[[], T], what: str) -> T:
    """`read()` of GitHub's JSON answer (`ouro.jsonutil` getters); an answer without the
    fields every answer has is GitHub failing, not a bug of ours."""
    try:
        return read()
    except jsonutil.PayloadError as error:
        raise ForgeUnavailable(f"unexpected answer {what}: {error}") from None


def retried(
    call: Callable[[], T],
    what: str,
    *,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.time,
) -> T:
    """`call()` under the shared retry policy; what still fails is raised as a forge error."""
    try:
        return with_retries(call, is_transient, what, sleep=sleep)
    except Exception as error:
        translated = forge_error(error, clock())
        if translated is None:
            raise
        raise translated from error


def github_client(token: str | None = None) -> github.Github:
    auth = github.Auth.Token(token) if token else None
    # PyGithub's own retry would also retry 4xx rate limits silently; our policy is explicit.
    # lazy: `get_repo` and friends make no request of their own (the status post is one call).
    # PyGithub spaces writes 1 s apart by default, as GitHub asks of integrations to stay
    # under its secondary rate limit; against the mock that only slows every test down.
    # It also spaces *every* request 0.25 s apart, which GitHub does not ask for: with a
    # status read and two posts per event that capped the bot near 1.3 events/s.
    try:
        write_interval = float(setting("GITHUB_WRITE_INTERVAL"))
    except ValueError:
        raise ConfigError("GITHUB_WRITE_INTERVAL must be a number of seconds") from None
    return github.Github(
        base_url=setting("GITHUB_API_URL"),
        auth=auth,
        retry=None,
        timeout=15,
        lazy=True,
        seconds_between_writes=write_interval,
        # PyGithub also pauses 0.25 s before every request; GitHub asks that only of writes.
        seconds_between_requests=None,
    )


def github_token() -> str | None:
    return optional_secret("GITHUB_TOKEN_FILE", "GITHUB_TOKEN")


class GitHubStatuses:
    def __init__(self, client: github.Github, *, sleep: Sleep = time.sleep):
        self._client = client
        # `sleep` may return True to end the retries early (see `ouro.retry`): the bot's
        # stop event, so that a SIGTERM during a GitHub outage is not held up by the backoff.
        self._sleep = sleep

    def post(self, repo: str, sha: str, status: Status) -> None:
        path = repo_path(repo)
        validate.sha(sha)

        def call() -> None:
            commit = self._client.get_repo(path).get_commit(sha)
            commit.create_status(
                status.state,
                target_url=status.target_url or github.GithubObject.NotSet,
                description=status.description[:140],
                context=status.context,
            )

        retried(call, f"posting {status.context} on {repo}@{sha[:12]}", sleep=self._sleep)
        log.info(
            "%s@%s %s: %s %s", repo, sha[:12], status.context, status.state, status.description
        )

    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        path = repo_path(repo)
        validate.sha(sha)

        def call() -> dict[str, Status]:
            found: dict[str, Status] = {}
            # GitHub lists statuses newest first; keep the first seen per context.
            for s in self._client.get_repo(path).get_commit(sha).get_statuses():
                found.setdefault(
                    s.context, Status(s.context, s.state, s.description or "", s.target_url)
                )
            return found

        return retried(call, f"reading statuses of {repo}@{sha[:12]}", sleep=self._sleep)


def open_statuses(sleep: Sleep = time.sleep) -> Statuses:
    token = github_token()
    if token is None:
        log.warning("no GitHub token configured: statuses are logged, not posted (dry run)")
        return DryRunStatuses()
    return GitHubStatuses(github_client(token), sleep=sleep)


class GitHubReader:
    """Reads for the bot and its recovery commands, each retried by the shared policy;
    failures leave as forge errors.

    Without a token, `redeliver` only logs "would redeliver" (posting is opt-in).
    """

    def __init__(
        self,
        client: github.Github,
        *,
        can_write: bool,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self._client = client
        self._can_write = can_write
        # Injected so that tests check the backoff sequence without waiting, and the wait a
        # rate limit's reset time asks for without depending on the time of day.
        self._sleep = sleep
        self._clock = clock

    def _retry(self, call: Callable[[], T], what: str) -> T:
        return retried(call, what, sleep=self._sleep, clock=self._clock)

    def pull(self, repo: str, number: int) -> PullInfo:
        path = repo_path(repo)
        validate.pr_number(number)

        def call() -> PullInfo:
            return _pull_info(repo, self._client.get_repo(path).get_pull(number))

        return self._retry(call, f"reading {repo}#{number}")

    def open_pulls(self, repo: str) -> list[PullInfo]:
        path = repo_path(repo)

        def call() -> list[PullInfo]:
            pulls = self._client.get_repo(path).get_pulls(state="open")
            return [_pull_info(repo, p) for p in pulls]

        return self._retry(call, f"listing open pull requests of {repo}")

    def is_member(self, org: str, login: str) -> bool:
        """Membership as the token sees it: with a member's token, private members count.

        Raises `InvalidValue` for a login or org that is not a GitHub name: built into the
        path unchecked, `../../../orgs/acme/members/dave` or `dave?x=` asked about someone
        else, and GitHub's 204 for them made an outsider a member."""
        path = f"/orgs/{segment(validate.login(org))}/members/{segment(validate.login(login))}"

        def call() -> bool:
            status, _, _ = self._client.requester.requestJson("GET", path)
            if status >= 500:
                raise github.GithubException(status, None, None)
            # 204 member; 404 not a member (or no such org); 302 means "ask the public list".
            return status == 204

        return self._retry(call, f"checking {login} in {org}")

    def hook_deliveries(self, repo: str) -> list[HookDelivery]:
        """Recent deliveries of every hook of `repo`, newest first per hook."""

        path = repo_path(repo)

        def call() -> list[HookDelivery]:
            gh_repo = self._client.get_repo(path)
            found = []
            for hook in gh_repo.get_hooks():
                for d in gh_repo.get_hook_deliveries(hook.id):
                    if d.id is None or d.delivered_at is None:
                        continue
                    found.append(
                        HookDelivery(
                            id=d.id,
                            hook_id=hook.id,
                            guid=d.guid or "",
                            delivered_at=d.delivered_at,
                            status_code=d.status_code or 0,
                            event=d.event or "",
                            redelivery=bool(d.redelivery),
                        )
                    )
            return found

        return self._retry(call, f"listing hook deliveries of {repo}")

    def redeliver(self, repo: str, delivery: HookDelivery) -> None:
        what = f"delivery {delivery.guid} ({delivery.event}) of {repo}"
        if not self._can_write:
            log.info("would redeliver %s", what)
            return

        hook, attempt = segment(str(int(delivery.hook_id))), segment(str(int(delivery.id)))
        path = f"/repos/{repo_path(repo)}/hooks/{hook}/deliveries/{attempt}/attempts"

        def call() -> None:
            self._client.requester.requestJsonAndCheck("POST", path)

        # Not idempotent in theory, but a second attempt of a failed delivery is harmless:
        # the bot drops a delivery id it has already processed.
        self._retry(call, f"redelivering {what}")
        log.info("redelivered %s", what)

    def _read_str(self, path: str, field: str, what: str) -> str:
        """The string at `field` (dotted) of GitHub's answer to `GET path`."""

        def call() -> str:
            _, data = self._client.requester.requestJsonAndCheck("GET", path)
            return answer(lambda: jsonutil.get_str(data, field), f"for {what}")

        return self._retry(call, f"reading {what}")

    def default_branch(self, repo: str) -> str:
        path = f"/repos/{repo_path(repo)}"
        return self._read_str(path, "default_branch", f"the default branch of {repo}")

    def branch_head(self, repo: str, branch: str) -> str:
        path = f"/repos/{repo_path(repo)}/branches/{segments(validate.ref(branch))}"
        return self._read_str(path, "commit.sha", f"branch {branch} of {repo}")

    def file_text(self, repo: str, ref: str, path: str) -> str | None:
        """The file's text (UTF-8, undecodable bytes replaced); None when GitHub answers 404
        (no such file, ref or repository) or the path is not a file (a directory, a
        submodule). A file over 1 MB is refused: the contents API leaves those out."""
        url = f"/repos/{repo_path(repo)}/contents/{file_path(path)}"
        where = f"{repo}@{validate.ref(ref)}:{path}"

        def call() -> str | None:
            try:
                _, data = self._client.requester.requestJsonAndCheck(
                    "GET", url, parameters={"ref": ref}
                )
            except github.GithubException as error:
                if error.status == 404:
                    return None
                raise
            if not isinstance(data, dict) or data.get("type") != "file":
                return None
            if data.get("encoding") != "base64":  # "none": over 1 MB
                raise ForgeRefused(403, f"{where} is too large for the contents API")
            content = answer(lambda: jsonutil.get_str(data, "content"), f"about {where}")
            return base64.b64decode(content).decode("utf-8", errors="replace")

        return self._retry(call, f"reading {where}")


def _pull_info(repo: str, pull: Any) -> PullInfo:
    return PullInfo(
        repo=repo,
        number=pull.number,
        head_sha=pull.head.sha,
        base_ref=pull.base.ref,
        title=pull.title or "",
        draft=bool(pull.draft),
        state=pull.state,
        author=pull.user.login,
        author_association=pull.raw_data.get("author_association", "NONE"),
        clone_url=pull.base.repo.clone_url,
        # A fork's repository may be gone (GitHub then sends `head.repo: null`).
        head_repo=pull.head.repo.full_name if pull.head.repo else "",
        head_ref=pull.head.ref,
        body=pull.body or "",
    )


def open_reader(sleep: Sleep = time.sleep) -> Reader:
    token = github_token()
    return GitHubReader(github_client(token), can_write=token is not None, sleep=sleep)


def open_conversation(sleep: Sleep = time.sleep) -> Conversation:
    token = github_token()
    if token is None:
        log.warning("no GitHub token configured: comments and descriptions are logged (dry run)")
        return DryRunConversation()
    from tasks.github_conversation import GitHubConversation  # noqa: PLC0415 (it imports us)

    return GitHubConversation(github_client(token), sleep=sleep)
