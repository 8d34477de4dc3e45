"""GitHub's rate limits: a budget per user (per address without a token), its headers, and a
secondary limit a test can switch on; `GET /rate_limit`, and `/_mock/rate_limit` to set them.

Rules copied from GitHub ("Rate limits for the REST API"), because clients act on them:
- every REST answer carries `X-RateLimit-Limit`, `-Remaining`, `-Used`, `-Reset` (epoch
  seconds) and `-Resource`; a budget lasts an hour from the client's first counted request;
- a user has `limit` requests an hour (5000), whatever token it uses; an address without a
  token has 60;
- a 304 (a conditional request that matched) and `GET /rate_limit` do not count;
- a spent budget answers 403 "API rate limit exceeded for …" with `X-RateLimit-Remaining: 0`
  until the reset;
- a secondary limit answers 403 or 429 with `Retry-After` and "You have exceeded a secondary
  rate limit…".
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mock_github.errors import ApiError
from mock_github.routing import Request, Response, Router, error_response

log = logging.getLogger(__name__)

WINDOW = 3600
DEFAULT_LIMIT = 5000
UNAUTHENTICATED_LIMIT = 60
RESOURCES = ("core", "search", "graphql")
DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


@dataclass(frozen=True)
class Client:
    """Whose budget a request draws on: the user's if it sent a valid token, else its address."""

    login: str | None
    address: str
    user_id: int | None = None

    @property
    def key(self) -> str:
        return f"user:{self.login.lower()}" if self.login else f"address:{self.address}"


def resource_of(path: str) -> str | None:
    """The budget a REST path draws on; None for `/rate_limit`, which draws on none."""
    if path == "/rate_limit":
        return None
    if path in ("/graphql", "/api/graphql"):
        return "graphql"
    return "search" if path.startswith("/search/") else "core"


@dataclass
class _Budget:
    used: int
    reset: int


class RateLimits:
    def __init__(self, limit: int = DEFAULT_LIMIT, clock: Callable[[], float] = time.time):
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._budgets: dict[tuple[str, str], _Budget] = {}
        # The secondary limit: how many of the next requests it refuses, and how.
        self._secondary = 0
        self._secondary_status = 403
        self._retry_after = 60

    def register(self, router: Router) -> None:
        router.add("GET", "/rate_limit", self.overview)
        router.add("POST", "/_mock/rate_limit", self.configure)

    def limit_of(self, client: Client) -> int:
        return self.limit if client.login else UNAUTHENTICATED_LIMIT

    def _budget(self, client: Client, resource: str) -> _Budget:
        """The client's budget (under `_lock`), a fresh one once the last has reset."""
        now = int(self._clock())
        budget = self._budgets.get((client.key, resource))
        if budget is None or budget.reset <= now:
            budget = self._budgets[(client.key, resource)] = _Budget(0, now + WINDOW)
        return budget

    def metered(self, client: Client, path: str, serve: Callable[[], Response]) -> Response:
        """`serve()`'s answer, or a refusal when a limit is reached; with the headers, and
        counted unless it is a 304 or the path draws on no budget."""
        resource = resource_of(path)
        refusal = self._refusal(client, resource) if resource else None
        if refusal is not None:
            response = refusal
        else:
            try:
                response = serve()
            except ApiError as error:
                response = error_response(error)
        with self._lock:
            budget = self._budget(client, resource or "core")
            if resource and refusal is None and response.status != 304:
                budget.used += 1
            limit = self.limit_of(client)
            response.headers.update(
                {
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": str(max(0, limit - budget.used)),
                    "X-RateLimit-Used": str(budget.used),
                    "X-RateLimit-Reset": str(budget.reset),
                    "X-RateLimit-Resource": resource or "core",
                }
            )
        return response

    def _refusal(self, client: Client, resource: str) -> Response | None:
        with self._lock:
            if self._secondary > 0:
                self._secondary -= 1
                log.info("secondary rate limit for %s (%d more)", client.key, self._secondary)
                message = (
                    "You have exceeded a secondary rate limit. Please wait a few minutes "
                    "before you try again."
                )
                body = {"message": message, "documentation_url": DOCS}
                headers = {"Retry-After": str(self._retry_after)}
                return Response(self._secondary_status, body, headers)
            if self._budget(client, resource).used < self.limit_of(client):
                return None
        log.info("rate limit of %s spent (%s)", client.key, resource)
        if client.login:
            message = f"API rate limit exceeded for user ID {client.user_id}."
        else:
            message = (
                f"API rate limit exceeded for {client.address}. (But here's the good news: "
                "Authenticated requests get a higher rate limit. Check out the documentation "
                "for more details.)"
            )
        return Response(403, {"message": message, "documentation_url": DOCS})

    def overview(self, request: Request) -> Response:
        """`GET /rate_limit`: the caller's budgets, as GitHub lists them."""
        client = Client(request.login, request.client)
        resources = {}
        with self._lock:
            limit = self.limit_of(client)
            for resource in RESOURCES:
                budget = self._budget(client, resource)
                resources[resource] = {
                    "limit": limit,
                    "used": budget.used,
                    "remaining": max(0, limit - budget.used),
                    "reset": budget.reset,
                    "resource": resource,
                }
        return Response(200, {"resources": resources, "rate": resources["core"]})

    def configure(self, request: Request) -> Response:
        """`POST /_mock/rate_limit`: `limit` (an hour's budget of a user), `reset` (true: every
        budget starts again now), `secondary` (the next K REST requests get a secondary
        limit) with `status` (403 or 429) and `retry_after` (seconds)."""
        limit = request.field("limit", int, self.limit)
        secondary = request.field("secondary", int, None)
        status = request.field("status", int, 403)
        retry_after = request.field("retry_after", int, 60)
        if limit < 0 or (secondary or 0) < 0 or retry_after < 0 or status not in (403, 429):
            raise ApiError(
                422,
                "Invalid request.\n\nlimit, secondary and retry_after must not be negative; "
                "status is 403 or 429.",
            )
        with self._lock:
            self.limit = limit
            if request.field("reset", bool, False):
                self._budgets.clear()
            if secondary is not None:
                self._secondary, self._secondary_status = secondary, status
                self._retry_after = retry_after
            settings = {"limit": self.limit, "secondary": self._secondary}
        log.info("rate limits set: %s", settings)
        return Response(200, settings)
