"""The webhook secrets: one per line in `WEBHOOK_SECRET_FILE`, re-read when the file changes.

Several secrets are valid at once so that a secret can be rotated without
downtime: add the new line, switch GitHub over, remove the old line; the
receiver notices each change on its next delivery, without a restart.
"""

import logging
import os
import threading
from pathlib import Path

from tasks.config import ConfigError, read_secret_file

log = logging.getLogger(__name__)


def parse(text: str) -> list[bytes]:
    return [line.strip().encode() for line in text.splitlines() if line.strip()]


class SecretFile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int, int] | None = None
        self._secrets: list[bytes] = []
        # At start an unusable file is a configuration error, not a stream of 401s.
        self._stamp = self._stat()
        self._secrets = parse(read_secret_file(self.path, "webhook secret"))

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
                    self._secrets = parse(read_secret_file(self.path, "webhook secret"))
                    log.info("re-read %s: %d secret(s)", self.path, len(self._secrets))
                except ConfigError as error:
                    # Mid-rewrite (truncated) or briefly unreadable: keep the last good
                    # secrets rather than refuse every delivery until the next change.
                    log.warning("keeping the previous webhook secrets: %s", error)
                self._stamp = stamp
            return self._secrets
