"""Conditional and range GETs (RFC 9110): a file's validators, `304`, and one `Range`."""

import email.utils
import os

from images_server.errors import Refused


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def etag(stat: os.stat_result) -> str:
    """A strong validator: changes whenever the file is replaced or rewritten."""
    return f'"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"'


def not_modified(
    tag: str, mtime: float, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """Whether the client's copy (by `If-None-Match`, else `If-Modified-Since`) is current."""
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return tag in tags or "*" in tags
    if if_modified_since:
        try:
            return int(mtime) <= email.utils.parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=` range; None to send the whole file."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None  # multiple ranges are optional (RFC 9110); the whole file is a valid answer
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first_text:
            length = int(last_text)
            if length <= 0:
                raise Refused(416, "empty suffix range")
            return max(size - length, 0), size - 1
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size:
        raise Refused(416, f"range starts beyond the end ({size} bytes)")
    if first > last:
        return None
    return first, min(last, size - 1)
