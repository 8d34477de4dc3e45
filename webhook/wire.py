"""A strict, minimal HTTP/1.1 request head parser and response writer (pure functions).

The receiver serves one kind of client (GitHub, through an ingress) and a few probes, so
it parses only what it needs and refuses anything ambiguous instead of guessing: RFC 9112
says a recipient must reject what could be read two ways (two different
`Content-Length`s, whitespace before a colon, folded lines), because a proxy in front
may read it the other way (request smuggling).
"""

import time
from dataclasses import dataclass
from email.utils import formatdate

# Request line and headers together; GitHub's are about 1 KiB.
MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
# GitHub caps payloads at 25 MB; a larger body is not a GitHub delivery.
MAX_BODY = 25 * 1024 * 1024

_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")

REASONS = {
    100: "Continue",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    503: "Service Unavailable",
}


class Refused(Exception):
    """The request gets `code` with `reason` as its body (and, if `close`, no successor)."""

    def __init__(self, code: int, reason: str, *, close: bool = False, detail: str = ""):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        # For the log only: the client learns the reason, not our broker's address.
        self.detail = detail
        # The body was not read (entirely): the connection cannot carry another request.
        self.close = close


@dataclass(slots=True)
class Head:
    method: str
    target: str
    # Lower-case names; a repeated header keeps every value, so callers can refuse doubles.
    headers: dict[str, list[str]]
    keep_alive: bool
    length: int

    def get(self, name: str) -> str | None:
        """The value of a header that must appear at most once (`None` if absent)."""
        values = self.headers.get(name)
        if values is None:
            return None
        if len(values) > 1:
            raise Refused(400, f"more than one {name} header", close=True)
        return values[0]


def parse_head(data: bytes) -> Head:
    """The request line and headers (`data` without the final blank line); raises `Refused`."""
    try:
        text = data.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise Refused(400, "malformed request", close=True) from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not set(parts[0]) <= _TOKEN:
        raise Refused(400, "malformed request line", close=True)
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0") or not target.startswith("/"):
        raise Refused(400, "malformed request line", close=True)
    if len(lines) - 1 > MAX_HEADERS:
        raise Refused(400, "too many headers", close=True)
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        # No space before the colon, no folded continuation lines, no bare CR or LF:
        # each could make a proxy and us see different headers (RFC 9112 §5).
        if not colon or not name or not set(name) <= _TOKEN:
            raise Refused(400, "malformed header", close=True)
        value = value.strip(" \t")
        if "\r" in value or "\n" in value or "\0" in value:
            raise Refused(400, "malformed header", close=True)
        headers.setdefault(name.lower(), []).append(value)
    head = Head(method, target, headers, True, 0)
    if version == "HTTP/1.1":
        if len(headers.get("host", ())) != 1:
            raise Refused(400, "an HTTP/1.1 request needs exactly one Host", close=True)
        head.keep_alive = "close" not in _tokens(headers.get("connection"))
    else:
        head.keep_alive = "keep-alive" in _tokens(headers.get("connection"))
    if "transfer-encoding" in headers:
        # GitHub always sends Content-Length; refusing chunked bodies keeps the size
        # check ahead of the read, and Content-Length beside it is a smuggling attempt.
        raise Refused(411, "Content-Length required, not Transfer-Encoding", close=True)
    head.length = content_length(headers.get("content-length"))
    return head


def content_length(values: list[str] | None) -> int:
    """The body's length from every `Content-Length` value; -1 if there is none.

    ASCII digits only (`str.isdigit` also takes `²` or Arabic-Indic digits, which `int`
    then refuses or reads); several values, or a list, only if all are the same.
    """
    if values is None:
        return -1
    found = {item.strip(" \t") for value in values for item in value.split(",")}
    if len(found) != 1:
        raise Refused(400, "conflicting Content-Length values", close=True)
    (text,) = found
    if not text or not set(text) <= _DIGITS:
        raise Refused(400, "malformed Content-Length", close=True)
    # Checked on the text: `int` of thousands of digits is slow (and refused by Python).
    significant = text.lstrip("0")
    if len(significant) > len(str(MAX_BODY)) or int(significant or "0") > MAX_BODY:
        raise Refused(413, f"payload over {MAX_BODY} bytes", close=True)
    return int(significant or "0")


def _tokens(values: list[str] | None) -> set[str]:
    return {t.strip(" \t").lower() for v in values or () for t in v.split(",")}


_date_cache: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    # One formatdate per second, not per response.
    global _date_cache  # noqa: PLW0603
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode())
    return _date_cache[1]


def response(
    code: int,
    body: bytes,
    *,
    close: bool = False,
    content_type: bytes = b"text/plain; charset=utf-8",
    extra: bytes = b"",
) -> bytes:
    """A whole response in one buffer (one send; `extra` is ready-made header lines)."""
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\nServer: ouro-webhook\r\nDate: %s\r\nContent-Type: %s\r\n"
            b"Content-Length: %d\r\n"
            % (code, REASONS.get(code, "Error").encode(), _date(), content_type, len(body)),
            extra,
            b"Connection: close\r\n\r\n" if close else b"\r\n",
            body,
        )
    )
