"""Every request the forge adapter makes to GitHub, counted (docs/tasks-bot.md, "Metrics"):
by cause (the bot's event type, `scan`, `image-scan`, the worker's `job`), method, endpoint
(GitHub's route template, so that no repository, sha or login makes a series of its own) and
status; and how many requests each event or job cost.

The adapter (`tasks.github`) calls `record` for each answer GitHub sends; the bot and the
worker name what they are doing with `counting`. Free of PyGithub and `requests`, so that
the bot may import it without crossing the forge port's wall.
"""

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "ouro_github_requests_total",
    "Requests to GitHub, by cause (event type, scan, image-scan, job), method, route template "
    "and status; a 304 does not count against GitHub's rate limit",
    ["cause", "method", "endpoint", "status"],
)
PER_UNIT = Histogram(
    "ouro_github_requests_per_unit",
    "Requests to GitHub made for one event (bot) or one job (worker), 304s included, by cause",
    ["cause"],
    buckets=(0, 1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128, 256),
)

# The routes the adapter uses; `{path}` may span slashes (a branch, a file's path).
ROUTES = (
    "/repos/{owner}/{repo}",
    "/repos/{owner}/{repo}/commits/{ref}/statuses",
    "/repos/{owner}/{repo}/commits/{ref}/check-runs",
    "/repos/{owner}/{repo}/statuses/{sha}",
    "/repos/{owner}/{repo}/check-runs",
    "/repos/{owner}/{repo}/check-runs/{id}",
    "/repos/{owner}/{repo}/pulls",
    "/repos/{owner}/{repo}/pulls/{number}",
    "/repos/{owner}/{repo}/issues",
    "/repos/{owner}/{repo}/issues/{number}",
    "/repos/{owner}/{repo}/issues/{number}/comments",
    "/repos/{owner}/{repo}/branches/{path}",
    "/repos/{owner}/{repo}/contents/{path}",
    "/repos/{owner}/{repo}/hooks",
    "/repos/{owner}/{repo}/hooks/{id}/deliveries",
    "/repos/{owner}/{repo}/hooks/{id}/deliveries/{delivery}/attempts",
    "/repos/{owner}/{repo}/installation",
    "/orgs/{org}/members/{login}",
    "/orgs/{org}/public_members/{login}",
    "/app",
    "/app/installations",
    "/app/installations/{id}",
    "/app/installations/{id}/access_tokens",
    "/rate_limit",
)
OTHER = "other"


def _pattern(route: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", route)
    regex = "".join(
        ".+" if p == "{path}" else "[^/]+" if p.startswith("{") else re.escape(p) for p in parts
    )
    return re.compile(regex)


_PATTERNS = tuple((_pattern(route), route) for route in ROUTES)


def endpoint(path: str, prefix: str = "") -> str:
    """The route template of a request's path (query and the API's own prefix, such as GitHub
    Enterprise's `/api/v3`, left out); `other` for a route not in `ROUTES`."""
    path = path.partition("?")[0]
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    return next((route for regex, route in _PATTERNS if regex.fullmatch(path)), OTHER)


@dataclass
class _Tally:
    cause: str
    count: int = 0


# Per thread: the bot handles one event at a time on its consumer thread, the worker one job.
_CURRENT: contextvars.ContextVar[_Tally | None] = contextvars.ContextVar(
    "github_cause", default=None
)


def record(method: str, path: str, status: int, prefix: str = "") -> None:
    """One answer from GitHub; counted under the cause of the current thread (`none` outside
    of `counting`, e.g. an App's token renewal between events)."""
    tally = _CURRENT.get()
    if tally is not None:
        tally.count += 1
    cause = tally.cause if tally is not None else "none"
    REQUESTS.labels(cause, method.upper(), endpoint(path, prefix), str(status)).inc()


@contextmanager
def counting(cause: str) -> Iterator[None]:
    """Count the requests made inside under `cause`, and their number as one unit of it."""
    tally = _Tally(cause)
    token = _CURRENT.set(tally)
    try:
        yield
    finally:
        _CURRENT.reset(token)
        PER_UNIT.labels(cause).observe(tally.count)
