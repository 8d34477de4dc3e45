"""`X-Hub-Signature-256`: signing and checking, as pure functions.

The receiver checks with `verify`; mock-github and the tests sign with `sign`,
so both sides of the contract run the same code.
"""

import hashlib
import hmac
from collections.abc import Iterable

PREFIX = "sha256="


class SignatureError(Exception):
    """The delivery is not signed by a secret we hold; the HTTP layer answers 401."""


def sign(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` header value for `body`."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secrets: Iterable[bytes], body: bytes, header: str | None) -> None:
    """Accept `body` if `header` is its signature with any of `secrets` (rotation), else raise."""
    secrets = [s for s in secrets if s]
    if not secrets:
        # Without a secret anyone could post; refuse rather than accept everything.
        raise SignatureError("no webhook secret configured")
    if not header:
        raise SignatureError("missing X-Hub-Signature-256")
    if not header.startswith(PREFIX):
        raise SignatureError("X-Hub-Signature-256 does not start with sha256=")
    if not header.isascii():
        # compare_digest raises TypeError on non-ASCII str; a forged header is a 401, not a crash.
        raise SignatureError("X-Hub-Signature-256 does not match")
    if not any(hmac.compare_digest(sign(secret, body), header) for secret in secrets):
        raise SignatureError("X-Hub-Signature-256 does not match")
