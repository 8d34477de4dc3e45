"""What the receiver checks in a signed body, and the queue message it makes of it."""

import json
import re
from typing import NoReturn

from webhook.wire import Refused

# GitHub's payloads nest about 10 deep. The bound is far above that and far below
# Python's recursion limit, which the C JSON parser would otherwise hit (RecursionError:
# no answer at all) on a body like `[[[[…]]]]`, and which the bot's readers would hit next.
MAX_NESTING = 64

# A JSON string, so that brackets inside strings are not counted as nesting.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def nesting_exceeds(body: bytes, limit: int = MAX_NESTING) -> bool:
    """Whether `body`'s brackets nest deeper than `limit` (before parsing, without recursion)."""
    # Cheap and usual: fewer opening brackets than the bound cannot nest deeper than it.
    if body.count(b"{") + body.count(b"[") <= limit:
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def check_json(body: bytes) -> None:
    """Refuse (400) a body that is not a UTF-8 JSON object nested at most `MAX_NESTING` deep."""
    if nesting_exceeds(body):
        raise Refused(400, f"body nests deeper than {MAX_NESTING}")
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError both are
        raise Refused(400, "body is not UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "body is not a JSON object")


def queue_message(event: str, delivery: str, body: bytes) -> bytes:
    """The `webhook` queue message. The payload is spliced in byte for byte (it was just
    parsed, so it is valid JSON): the bot sees exactly what GitHub signed."""
    head = json.dumps({"event": event, "delivery": delivery})[:-1]
    return head.encode() + b', "request": ' + body + b"}"
