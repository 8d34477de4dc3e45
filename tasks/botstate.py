"""What the bot remembers across restarts: processed deliveries and published jobs.

GitHub keeps a delivery's id when it redelivers it, for up to 3 days, so ids are
kept for a week. Published (repo, sha, context) triples make a second event for
the same head start nothing, even before the first "Not yet tested" is visible
through the API. SQLite in the state directory (`OURO_STATE_DIR`): one file,
atomic writes, nothing to run.
"""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ouro.config import ConfigError, setting
from tasks.job import Job

RETENTION = 7 * 24 * 3600.0

_SCHEMA = """
-- WAL with NORMAL sync: one fsync per checkpoint instead of two per insert. A power cut
-- may forget the last few ids; the statuses already posted on GitHub still stop duplicates.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    repo TEXT NOT NULL, sha TEXT NOT NULL, context TEXT NOT NULL,
    job TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (repo, sha, context)
);
CREATE INDEX IF NOT EXISTS deliveries_at ON deliveries (at);
CREATE INDEX IF NOT EXISTS jobs_at ON jobs (at);
"""


class BotState:
    def __init__(
        self,
        path: Path,
        retention: float = RETENTION,
        clock: Callable[[], float] = time.time,
    ):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The consumer's handler thread and the scans share it; the lock serialises access.
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(f"cannot open the bot state {path}: {error}") from None
        self._lock = threading.Lock()
        self._retention = retention
        self._clock = clock

    @classmethod
    def open_default(cls) -> "BotState":
        return cls(Path(setting("OURO_STATE_DIR")) / "bot.sqlite")

    def seen(self, delivery: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery,)).fetchone()
        return row is not None

    def remember_delivery(self, delivery: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO deliveries VALUES (?, ?)", (delivery, self._clock())
            )

    def job_published(self, repo: str, sha: str, context: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM jobs WHERE repo = ? AND sha = ? AND context = ?",
                (repo, sha, context),
            ).fetchone()
        return row is not None

    def remember_jobs(self, jobs: Iterable[Job]) -> None:
        """Note each of `jobs` as published, in one transaction (one write to the log)."""
        at = self._clock()
        rows = [(job.repo, job.sha, job.context, job.id, at) for job in jobs]
        if not rows:
            return
        # `with` commits the transaction begun, or rolls it back.
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?)", rows)

    def prune(self) -> int:
        """Forget entries older than the retention; the number forgotten."""
        cutoff = self._clock() - self._retention
        with self._lock:
            gone = self._db.execute("DELETE FROM deliveries WHERE at < ?", (cutoff,)).rowcount
            gone += self._db.execute("DELETE FROM jobs WHERE at < ?", (cutoff,)).rowcount
        return gone

    def close(self) -> None:
        with self._lock:
            self._db.close()
