"""Secrets kept one per line in a file, re-read when the file changes.

Used for the webhook secrets (`WEBHOOK_SECRET_FILE`) and the images-server's upload
tokens (`IMAGES_TOKEN_FILE`). Several lines are valid at once so that a secret can be
rotated without downtime: add the new line, switch the other side over, remove the old
line; the reader notices each change on its next use, without a restart.
"""

import hmac
import logging
import os
import threading
from pathlib import Path

from ouro.config import ConfigError, read_secret_file

log = logging.getLogger(__name__)


def parse(text: str) -> list[bytes]:
    return [line.strip().encode() for line in text.splitlines() if line.strip()]


class SecretFile:
    """The secrets in `path`; `what` names them in messages ("webhook secret")."""

    def __init__(self, path: str | Path, what: str):
        self.path = Path(path)
        self.what = what
        self._lock = threading.Lock()
        # At start an unusable file is a configuration error, not a stream of 401s.
        self._stamp = self._stat()
        self._secrets = parse(read_secret_file(self.path, what))

    def _stat(self) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        # Inode for rename-into-place rotation, mtime/ctime/size for rewrites in place.
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    def secrets(self) -> list[bytes]:
        """The current secrets; a stat per call, a read only after the file changed."""
        stamp = self._stat()
        with self._lock:
            if stamp is not None and stamp != self._stamp:
                try:
                    self._secrets = parse(read_secret_file(self.path, self.what))
                    log.info("re-read %s: %d %s(s)", self.path, len(self._secrets), self.what)
                except ConfigError as error:
                    # Mid-rewrite (truncated) or briefly unreadable: keep the last good
                    # secrets rather than refuse everyone until the next change.
                    log.warning("keeping the previous %ss: %s", self.what, error)
                self._stamp = stamp
            return self._secrets

    def accepts(self, given: str) -> bool:
        """Whether `given` is one of the secrets, in time independent of which and of how
        much of it matches: every secret is compared, none skipped after a match."""
        candidate = given.encode()
        matches = [hmac.compare_digest(candidate, known) for known in self.secrets()]
        return any(matches)
