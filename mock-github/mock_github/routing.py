"""Requests, responses and routes: the small web layer under the REST and control APIs."""

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mock_github.errors import ApiError, not_found
from mock_github.records import Event
from mock_github.shapes.base import JsonDict, Urls


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    params: dict[str, str]
    raw_body: bytes
    login: str | None  # the token's user, if a valid token was sent
    urls: Urls
    app_jwt: str | None = None  # the JWT an App sent, checked by the App's routes
    client: str = ""  # the client's address (rate limits without a token)
    _json: Any = field(default=None, init=False)

    def json(self) -> JsonDict:
        """The body as a JSON object ({} if empty); 400 as GitHub answers otherwise."""
        if self._json is None:
            if not self.raw_body.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.raw_body)
                except (ValueError, UnicodeDecodeError):
                    raise ApiError(400, "Problems parsing JSON") from None
            if not isinstance(self._json, dict):
                raise ApiError(400, "Problems parsing JSON")
        result: JsonDict = self._json
        return result

    def field(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        body = self.json()
        if name not in body:
            if default is ...:
                raise ApiError(
                    422,
                    "Invalid request.",
                    [{"resource": "Request", "code": "missing_field", "field": name}],
                )
            return default
        value = body[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise ApiError(
                422,
                f"Invalid request.\n\nFor 'properties/{name}', {json.dumps(value)[:60]} "
                "has the wrong type.",
            )
        return value

    def user(self) -> str:
        if self.login is None:
            raise ApiError(401, "Requires authentication")
        return self.login

    def number(self) -> int:
        try:
            return int(self.params["number"])
        except ValueError:
            raise not_found() from None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    # Work done once the state lock is released, before answering (redeliveries).
    after: list[Callable[[], object]] = field(default_factory=list)


Handler = Callable[[Request], Response]


def error_response(error: ApiError) -> Response:
    """GitHub's answer for `error`; a 401 names the scheme (git asks for credentials then)."""
    response = Response(error.status, error.body())
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="mock-github"'
    return response


class Router:
    """Routes written as `/repos/{owner}/{repo}/contents/{path*}` (`*`: may span slashes)."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.templates: list[tuple[str, str]] = []  # (method, pattern) as written, in order

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self.routes.append((method, re.compile(regex), handler))
        self.templates.append((method, pattern))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler for `method path`; 404 when no route matches."""
        for route_method, pattern, handler in self.routes:
            found = pattern.fullmatch(path)
            if found is not None and (
                route_method == method or (route_method, method) == ("GET", "HEAD")
            ):
                return handler, found.groupdict()
        raise not_found()


def paginate(request: Request, items: list[Any]) -> Response:
    """One page of `items` with GitHub's `Link` header (page/per_page, at most 100)."""
    try:
        per_page = max(1, min(100, int(request.query.get("per_page", "30"))))
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        per_page, page = 30, 1
    last = max(1, (len(items) + per_page - 1) // per_page)
    chunk = items[(page - 1) * per_page : page * per_page]
    links = []

    def link(number: int, rel: str) -> str:
        query = {**request.query, "page": str(number), "per_page": str(per_page)}
        return f'<{request.urls.api}{request.path}?{urllib.parse.urlencode(query)}>; rel="{rel}"'

    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    return Response(200, chunk, {"Link": ", ".join(links)} if links else {})
