"""A job's log as it streams to the store, with the secrets it was given masked."""

import threading
from collections.abc import Iterable

from ouro.store import LiveLog

MASK = b"********"
# Shorter values would mask ordinary output ("abc" everywhere); such a secret is refused.
MIN_SECRET = 6


def secret_variants(value: bytes) -> list[bytes]:
    """What to mask for a secret file: its content, and each long line of a multi-line one
    (a key file printed line by line must not leak either)."""
    variants = {value, value.strip()}
    lines = value.strip().splitlines()
    if len(lines) > 1:
        variants.update(line.strip() for line in lines if len(line.strip()) >= 8)
    return [v for v in variants if len(v) >= MIN_SECRET]


class Masker:
    """Replaces secrets in a byte stream, even when one is split across writes.

    It holds back the last `len(longest secret) - 1` bytes, since they may be the start
    of a secret whose rest has not arrived yet; `finish` releases them.
    """

    def __init__(self, secrets: Iterable[bytes]):
        self._secrets = sorted(set(secrets), key=len, reverse=True)
        self._keep = max((len(s) for s in self._secrets), default=1) - 1
        self._pending = b""

    def _mask(self, data: bytes) -> bytes:
        for secret in self._secrets:
            data = data.replace(secret, MASK)
        return data

    def feed(self, data: bytes) -> bytes:
        masked = self._mask(self._pending + data)
        cut = max(0, len(masked) - self._keep)
        self._pending = masked[cut:]
        return masked[:cut]

    def finish(self) -> bytes:
        masked, self._pending = self._mask(self._pending), b""
        return masked


class JobLog:
    """Thread-safe, masking writer over a `LiveLog`: the job's output (from the reader thread)
    and the worker's notes interleave. The `LiveLog` flushes itself every few seconds."""

    def __init__(self, live: LiveLog, secrets: Iterable[bytes] = ()):
        self._live = live
        self._masker = Masker(secrets)
        self._lock = threading.Lock()
        self._closed = False

    def write(self, data: bytes) -> None:
        with self._lock:
            if not self._closed:
                self._live.write(self._masker.feed(data))

    def line(self, text: str) -> None:
        self.write(text.encode("utf-8", "replace") + b"\n")

    def close(self) -> None:
        """Write the remaining output and finalise the log; raises `StoreError` if it cannot."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._live.write(self._masker.finish())
        self._live.close()
