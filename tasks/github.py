"""The forge port's GitHub adapter (`tasks.forge`): commit statuses and the bot's reads
(pull requests, branches, files, org membership, hook deliveries) through PyGithub, to
`GITHUB_API_URL` (mock-github locally). The only module that imports PyGithub;
`tasks.github_conversation` (descriptions, comments, issues) builds on its helpers.

Transient failures (network, 5xx) are retried here with `ouro.retry`'s backoff; what
still fails leaves as a forge error (`forge_error`), so callers never see PyGithub's or
requests' exceptions. Posting is opt-in: without a token `open_statuses` and
`open_conversation` return dry runs, and `redeliver` only logs. Reads work without a
token, as far as GitHub allows anonymous reads.

In App mode (`Credentials`, `GITHUB_APP_ID`) the same clients act as the App's
installation, and `open_statuses` reports check runs (`tasks.github_checks`).
"""

import functools
import http.client
import logging
import math
import os
import time
import urllib.parse
from collections.abc import Callable
from typing import TypeVar

import github
import jwt
import requests

from ouro import jsonutil, validate
from ouro.config import ConfigError, optional_secret, read_secret_file, setting
from ouro.retry import Sleep, with_retries
from tasks import github_conditional, github_requests, github_transport
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
    # OSError: refused, reset, timed out, a certificate refused (`tasks.github_transport`).
    return isinstance(error, requests.RequestException | OSError | http.client.HTTPException)


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


def github_client(
    token: str | None = None, *, auth: github.Auth.Auth | None = None
) -> github.Github:
    """A client with `token`, or with `auth` (an App installation's, `app_auth`)."""
    if token:
        auth = github.Auth.Token(token)
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
    client = github.Github(
        base_url=setting("GITHUB_API_URL"),
        auth=auth,
        retry=None,
        timeout=15,
        lazy=True,
        seconds_between_writes=write_interval,
        # PyGithub also pauses 0.25 s before every request; GitHub asks that only of writes.
        seconds_between_requests=None,
    )
    count_requests(client.requester)
    return client


# PyGithub makes each client's connection when it first needs one, from this class of its
# requester: the only place to see every request, pages and redirects included. A PyGithub
# that renames it fails here, at start, not silently.
_CONNECTION_CLASS = "_Requester__connectionClass"


def count_requests(requester: github.Requester.Requester) -> None:
    """Send `requester`'s requests through `tasks.github_transport`, counting every answer
    (`tasks.github_requests`); through PyGithub's own `requests` session, counted too, when
    the environment names a proxy for GitHub."""
    base_url = urllib.parse.urlsplit(requester.base_url)
    prefix = base_url.path.rstrip("/")

    def record(method: str, path: str, status: int) -> None:
        github_requests.record(method, path, status, prefix)

    if not requests.utils.get_environ_proxies(requester.base_url):
        lean = (
            github_transport.TLSConnection
            if base_url.scheme == "https"
            else github_transport.Connection
        )
        setattr(requester, _CONNECTION_CLASS, functools.partial(lean, record=record))
        return

    base = getattr(requester, _CONNECTION_CLASS)

    def hook(response: requests.Response, *args: object, **kwargs: object) -> None:
        record(response.request.method or "", response.request.path_url, response.status_code)

    class Counted(base):  # type: ignore[misc, valid-type]
        verify: bool | str

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.session.hooks["response"].append(hook)
            # `requests` looks for proxies (walking the whole environment twice) and a CA
            # bundle in the environment before each request: a third of its CPU per request.
            # The connection talks to one host, so the answer is the same every time.
            url = f"{self.protocol}://{self.host}:{self.port}/"
            self.session.proxies = requests.utils.get_environ_proxies(url)
            self.verify = github_transport.ca_bundle(self.verify) or False
            self.session.trust_env = False

    setattr(requester, _CONNECTION_CLASS, Counted)


def github_token() -> str | None:
    return optional_secret("GITHUB_TOKEN_FILE", "GITHUB_TOKEN")


APP_KEY_FILE = "/run/secrets/github/app.pem"


def app_auth() -> github.Auth.AppInstallationAuth | None:
    """In App mode (`GITHUB_APP_ID` set): the installation's credentials, which PyGithub
    renews before they expire (20 s ahead); None in token mode.

    The key is a secret file (`GITHUB_APP_KEY_FILE`); the installation is
    `GITHUB_APP_INSTALLATION_ID`, or else the App's only one, looked up with its JWT."""
    app_id = os.environ.get("GITHUB_APP_ID", "").strip()
    if not app_id:
        return None
    if not app_id.isdigit():
        raise ConfigError(f"GITHUB_APP_ID must be the App's number, not {app_id!r:.40}")
    key_file = os.environ.get("GITHUB_APP_KEY_FILE") or APP_KEY_FILE
    key = read_secret_file(key_file, "GITHUB_APP_KEY_FILE")
    try:
        signer = github.Auth.AppAuth(int(app_id), key)
        signer.create_jwt()
    except (ValueError, TypeError, jwt.PyJWTError) as error:
        raise ConfigError(f"GITHUB_APP_KEY_FILE is no usable private key: {error}") from None
    text = os.environ.get("GITHUB_APP_INSTALLATION_ID", "").strip()
    if text and not text.isdigit():
        raise ConfigError(f"GITHUB_APP_INSTALLATION_ID must be a number, not {text!r:.40}")
    installation = int(text) if text else _only_installation(signer)
    auth = signer.get_installation_auth(installation)
    log.info("GitHub App %s, installation %d", app_id, installation)
    return auth


def _only_installation(signer: github.Auth.AppAuth) -> int:
    integration = github.GithubIntegration(
        base_url=setting("GITHUB_API_URL"), auth=signer, retry=None, timeout=15
    )
    try:
        found = retried(
            lambda: [i.id for i in integration.get_installations()], "listing installations"
        )
    finally:
        integration.close()
    if len(found) != 1:
        raise ConfigError(
            f"the GitHub App has {len(found)} installations: set GITHUB_APP_INSTALLATION_ID"
        )
    return found[0]


class Credentials:
    """What the adapter writes with: a token, an App installation, or nothing (a dry run).
    Read once at start, so the bot's and the worker's ports share one installation token."""

    def __init__(self) -> None:
        self.token = github_token()
        self.app = app_auth() if self.token is None else None
        # The installation's credentials renew through a client's requester (to GITHUB_API_URL).
        self._renewer = github_client(auth=self.app) if self.app else None

    @property
    def can_write(self) -> bool:
        return self.token is not None or self.app is not None

    def client(self) -> github.Github:
        return github_client(self.token, auth=self.app)

    def git_token(self) -> str | None:
        """The installation token, renewed if it is about to expire (so fresh for each git
        command); None in token mode, where git reads public repositories anonymously."""
        app = self.app
        if app is None:
            return None
        # PyGithub's property renews it through the App's JWT when it is near its end.
        return retried(lambda: app.token, "renewing the App's token")


class GitHubStatuses:
    def __init__(self, client: github.Github, *, sleep: Sleep = time.sleep):
        self._client = client
        # `sleep` may return True to end the retries early (see `ouro.retry`): the bot's
        # stop event, so that a SIGTERM during a GitHub outage is not held up by the backoff.
        self._sleep = sleep

    def post(self, repo: str, sha: str, status: Status) -> None:
        path = repo_path(repo)
        validate.sha(sha)

        fields = {
            "state": status.state,
            "description": status.description[:140],
            "context": status.context,
        }
        if status.target_url:
            fields["target_url"] = status.target_url

        def call() -> None:
            # Raw: PyGithub's objects for the answer cost more CPU than the bot's own work.
            self._client.requester.requestJsonAndCheck(
                "POST", f"/repos/{path}/statuses/{segment(sha)}", input=fields
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
            url: str | None = f"/repos/{path}/commits/{segment(sha)}/statuses"
            parameters: dict[str, int] | None = {"per_page": 100}
            what = f"for {repo}@{sha[:12]}"
            while url is not None:
                page, url = github_conditional.get(
                    self._client.requester,
                    url,
                    lambda data: answer(functools.partial(_statuses, data), what),
                    parameters,
                )
                # GitHub lists statuses newest first; keep the first seen per context.
                for s in page:
                    found.setdefault(s.context, s)
                parameters = None
            return found

        return retried(call, f"reading statuses of {repo}@{sha[:12]}", sleep=self._sleep)


def _statuses(data: object) -> list[Status]:
    """A page of GitHub's statuses of a commit; `PayloadError` for anything else."""
    found = []
    for item in jsonutil.get_list({"page": data}, "page"):
        if not isinstance(item, dict):
            raise jsonutil.PayloadError("a status is not an object")
        found.append(
            Status(
                jsonutil.get_str(item, "context"),
                jsonutil.get_str(item, "state"),
                jsonutil.get_optional_str(item, "description") or "",
                jsonutil.get_optional_str(item, "target_url"),
            )
        )
    return found


def open_statuses(sleep: Sleep = time.sleep, credentials: Credentials | None = None) -> Statuses:
    credentials = credentials or Credentials()
    if not credentials.can_write:
        log.warning("no GitHub token configured: statuses are logged, not posted (dry run)")
        return DryRunStatuses()
    if credentials.app is not None:
        # Imported here: tasks.github_checks builds on this module's helpers.
        from tasks.github_checks import CheckRunStatuses  # noqa: PLC0415

        app_id = int(credentials.app.app_id)
        return CheckRunStatuses(credentials.client(), app_id, sleep=sleep)
    return GitHubStatuses(credentials.client(), sleep=sleep)
