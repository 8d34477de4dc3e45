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

import logging
import math
import time
import urllib.parse
from collections.abc import Callable
from typing import TypeVar

import github
import requests

from ouro import jsonutil, validate
from ouro.config import ConfigError, optional_secret, setting
from ouro.retry import Sleep, with_retries
from tasks.forge import (
    DryRunStatuses,
    ForgeError,
    ForgeNotFound,
    ForgeRateLimited,
    ForgeRefused,
    ForgeUnavailable,
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
