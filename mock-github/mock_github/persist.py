"""The mock's state on disk: records by kind and key, as JSON, in one SQLite table.

A `Kind` says how one sort of record is found in the state (its rows: key and JSON value)
and how a row is put back at start. `Store.save` compares each row with what it last
wrote and writes only the changed, new and gone ones, in one transaction; a kind that is
`write_once` (statuses, deliveries: never changed once made) is not even encoded again.
The caller holds the state's lock, so a save is one consistent picture of the state.

SQLite's WAL journal with `synchronous=NORMAL`: a write survives the process being
killed (not a power cut), and costs no fsync per request.
"""

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

S = TypeVar("S")
FILENAME = "state.sqlite3"


@dataclass(frozen=True)
class Kind(Generic[S]):
    name: str
    # (key, record) for every record of this kind the state holds now.
    records: Callable[[S], Iterable[tuple[str, Any]]]
    # The record as JSON values (e.g. codec.dump).
    encode: Callable[[Any], Any]
    # Put a row back into the state at start: (state, key, JSON value).
    restore: Callable[[S, str, Any], None]
    write_once: bool = False


class Store(Generic[S]):
    def __init__(self, data_dir: Path, kinds: Sequence[Kind[S]]):
        names = [kind.name for kind in kinds]
        if len(set(names)) != len(names):
            raise ValueError(f"kinds named twice: {names}")
        self.kinds = kinds
        self.path = data_dir / FILENAME
        # One connection, used only under the state's lock, from whichever request thread.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records "
            "(kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key))"
        )
        self._saved: dict[str, dict[str, str]] = {name: {} for name in names}

    def restore(self, state: S) -> int:
        """Put every saved row back into `state`, kind by kind in the order given, each in
        the order first written; returns the number of rows."""
        count = 0
        for kind in self.kinds:
            rows = self._db.execute(
                "SELECT key, value FROM records WHERE kind = ? ORDER BY rowid", (kind.name,)
            ).fetchall()
            for key, value in rows:
                kind.restore(state, key, json.loads(value))
                self._saved[kind.name][key] = value
            count += len(rows)
        stored = {kind for (kind,) in self._db.execute("SELECT DISTINCT kind FROM records")}
        if unknown := sorted(stored - self._saved.keys()):
            log.warning("%s has records of unknown kinds, left alone: %s", self.path, unknown)
        return count

    def save(self, state: S) -> int:
        """Write what changed since the last save; returns the number of rows written."""
        upserts: list[tuple[str, str, str]] = []
        deletes: list[tuple[str, str]] = []
        for kind in self.kinds:
            saved = self._saved[kind.name]
            present = set()
            for key, record in kind.records(state):
                present.add(key)
                if kind.write_once and key in saved:
                    continue
                value = json.dumps(kind.encode(record), sort_keys=True)
                if saved.get(key) != value:
                    upserts.append((kind.name, key, value))
            deletes += [(kind.name, key) for key in saved.keys() - present]
        if not upserts and not deletes:
            return 0
        self._db.execute("BEGIN")
        with self._db:  # commits, or rolls back on an error
            self._db.executemany(
                "INSERT INTO records (kind, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
                upserts,
            )
            self._db.executemany("DELETE FROM records WHERE kind = ? AND key = ?", deletes)
        for name, key, value in upserts:
            self._saved[name][key] = value
        for name, key in deletes:
            del self._saved[name][key]
        return len(upserts) + len(deletes)

    def close(self) -> None:
        self._db.close()
