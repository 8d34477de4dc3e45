"""Conditional reads for the forge adapter (`tasks.github`): a GET of something read before
carries its `ETag` as `If-None-Match`, and GitHub's `304 Not Modified` — which does not
count against the rate limit — hands back the answer kept from last time. A scan of open
pull requests that did not change then costs no counted request (docs/tasks-bot.md,
"GitHub requests").

A 304 comes only when the tag still matches what GitHub would send now, so a kept answer is
never stale; the cache is shared by the process's clients (each scan builds its own) and
keyed by the API's URL, the path and its parameters. What is kept is the caller's reading
of an answer (its `PullInfo`s, say), not the answer: a page of 100 pull requests is
megabytes of JSON. Bounded: the least recently used go first.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import github

# A few hundred open pull requests' statuses and listings, each answer up to 100 items.
ENTRIES = 2048

T = TypeVar("T")


class ETagCache:
    def __init__(self, entries: int = ENTRIES):
        self._entries = entries
        # key → (ETag, what the caller read from the answer, the next page's URL)
        self._kept: OrderedDict[str, tuple[str, Any, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[str, Any, str | None] | None:
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def put(self, key: str, etag: str, value: Any, following: str | None) -> None:
        with self._lock:
            self._kept[key] = (etag, value, following)
            self._kept.move_to_end(key)
            while len(self._kept) > self._entries:
                self._kept.popitem(last=False)


SHARED = ETagCache()


def get(
    requester: "github.Requester.Requester",
    url: str,
    read: Callable[[Any], T],
    parameters: Mapping[str, Any] | None = None,
    cache: ETagCache = SHARED,
) -> tuple[T, str | None]:
    """`read` of the parsed JSON of `GET url`, and the next page's URL (`Link`), both from
    `cache` when GitHub answers 304. Raises PyGithub's exceptions for 4xx and 5xx, as
    `requestJsonAndCheck` does, and whatever `read` raises (then nothing is kept)."""
    params = dict(parameters or {})
    key = f"{requester.base_url} {url} {sorted(params.items())}"
    kept = cache.get(key)
    headers = {"If-None-Match": kept[0]} if kept else None
    answer_headers, data = requester.requestJsonAndCheck(
        "GET", url, parameters=params or None, headers=headers
    )
    if kept is not None and data is None:
        # 304: no body. (A GET of these routes answers 200 with JSON, never 204.)
        return kept[1], kept[2]
    value, following = read(data), next_page(answer_headers)
    etag = _etag(answer_headers)
    if etag:
        cache.put(key, etag, value, following)
    return value, following


def _etag(headers: Mapping[str, Any]) -> str | None:
    value = headers.get("etag")
    return str(value) if value else None


def next_page(headers: Mapping[str, Any]) -> str | None:
    """The `rel="next"` URL of GitHub's `Link` header, if any."""
    link = next((str(v) for k, v in headers.items() if k.lower() == "link"), "")
    for part in link.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            # PyGithub sends only the path and query of a URL, to its own host.
            return url.strip().removeprefix("<").removesuffix(">")
    return None
