"""What the receiver checks in a signed body, and the queue message it makes of it."""

import json

from ouro.jsonutil import MAX_DEPTH as MAX_NESTING
from ouro.jsonutil import PayloadError, parse_object
from webhook.wire import Refused

__all__ = ["MAX_NESTING", "check_json", "queue_message"]


def check_json(body: bytes) -> None:
    """Refuse (400) a body that is not a UTF-8 JSON object nested at most `MAX_NESTING`
    deep, by the rules the bot reads its messages with (`ouro.jsonutil.parse_object`)."""
    try:
        parse_object(body, "body")
    except PayloadError as error:
        raise Refused(400, str(error)) from None


def queue_message(event: str, delivery: str, body: bytes) -> bytes:
    """The `webhook` queue message. The payload is spliced in byte for byte (it was just
    parsed, so it is valid JSON): the bot sees exactly what GitHub signed."""
    head = json.dumps({"event": event, "delivery": delivery})[:-1]
    return head.encode() + b', "request": ' + body + b"}"
