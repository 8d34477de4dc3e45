"""Conditional GETs as GitHub answers them: `ETag` (and `Last-Modified` for one object with
an `updated_at`), and a 304 with no body when the client's copy is current.

Clients that cache (PyGithub's `update()`, octokit's plugins) send `If-None-Match` with the
ETag they hold, or `If-Modified-Since`; a 304 costs them no rate limit (ratelimit.py).
"""

import hashlib
import json
from datetime import datetime
from email.message import Message
from email.utils import format_datetime, parsedate_to_datetime

from mock_github.routing import Response

# GitHub's, on every cacheable answer: caches must not share one user's answer with another.
CACHE_HEADERS = {
    "Cache-Control": "private, max-age=60, s-maxage=60",
    "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
}


def etag(body: object) -> str:
    """A weak ETag of the JSON body (weak: the bytes on the wire may be formatted otherwise)."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return f'W/"{digest}"'


def _last_modified(body: object) -> datetime | None:
    updated = body.get("updated_at") if isinstance(body, dict) else None
    if not isinstance(updated, str):
        return None
    try:
        return datetime.fromisoformat(updated)
    except ValueError:
        return None


def _matches(if_none_match: str, tag: str) -> bool:
    """RFC 9110's weak comparison: `*`, or any listed tag equal but for its `W/`."""
    listed = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in listed or tag.removeprefix("W/") in listed


def _unmodified_since(if_modified_since: str, modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    return since.tzinfo is not None and modified <= since


def answer(headers: Message, response: Response) -> Response:
    """`response` (a 200 to a GET) with its validators; a 304 if the client's copy is current.

    `If-None-Match` decides when sent; `If-Modified-Since` only without it (RFC 9110)."""
    if response.status != 200 or response.body is None:
        return response
    validators = {**CACHE_HEADERS, "ETag": etag(response.body)}
    modified = _last_modified(response.body)
    if modified is not None:
        validators["Last-Modified"] = format_datetime(modified, usegmt=True)
    response.headers.update(validators)
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        current = _matches(if_none_match, validators["ETag"])
    else:
        since = headers.get("If-Modified-Since")
        current = modified is not None and since is not None and _unmodified_since(since, modified)
    if not current:
        return response
    kept = {k: v for k, v in response.headers.items() if k != "Link"}
    return Response(304, None, kept)
