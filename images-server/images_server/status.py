"""What the status page shows (`GET /status.json`): each queue's depth, the running jobs and
the last results.

Jobs come from the records the workers write into each job's folder (`ouro.store.jobrecord`),
read from this server's own disk: every job's folder is here, so no other component needs
asking. Depths come from the broker by passive declares (`ouro.queuedepth`), on a connection
opened per refresh. A refresh happens at most every `FRESH` seconds however many people
watch, and re-reads only the records that changed.
"""

import logging
import os
import threading
import time
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path
from typing import Any

from ouro import queues, validate
from ouro.config import ConfigError
from ouro.jsonutil import PayloadError
from ouro.store import jobrecord
from ouro.store.jobrecord import JobRecord

log = logging.getLogger(__name__)

FRESH = 2.0
RESULTS = 30
# Paths no store path can take (those start with `images/` or `logs/`); the page fetches
# its data relative to itself.
PAGE_PATH = "/status"
DATA_PATH = "/status.json"


def page() -> bytes:
    return files("images_server").joinpath("statuspage.html").read_bytes()


class Status:
    def __init__(self, root: Path, capabilities: tuple[str, ...] = ()):
        """`capabilities`: whose `tasks.<capability>` queues to show even before any of
        their jobs ran (those of the jobs seen are shown anyway)."""
        self._logs = root / "logs"
        try:
            self._capabilities = tuple(validate.capability(c) for c in capabilities)
        except validate.InvalidValue as error:
            raise ConfigError(str(error)) from None
        self._lock = threading.Lock()
        self._records: dict[str, tuple[tuple[int, int], JobRecord]] = {}
        self._answer: dict[str, Any] = {}
        self._refreshed = -FRESH

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            if time.monotonic() - self._refreshed >= FRESH:
                self._answer = self._refresh()
                self._refreshed = time.monotonic()
            return self._answer

    def _refresh(self) -> dict[str, Any]:
        records = self._read_records()
        running = sorted((r for r in records if r.running), key=lambda r: r.started)
        ended = sorted((r for r in records if not r.running), key=lambda r: -(r.finished or 0))
        queues, broker_error = self._depths(records)
        return {
            "now": time.time(),
            "queues": queues,
            "broker_error": broker_error,
            "running": [asdict(r) for r in running],
            "results": [asdict(r) for r in ended[:RESULTS]],
        }

    def _read_records(self) -> list[JobRecord]:
        seen: dict[str, tuple[tuple[int, int], JobRecord]] = {}
        try:
            folders = list(os.scandir(self._logs))
        except FileNotFoundError:
            folders = []
        for folder in folders:
            path = os.path.join(folder.path, jobrecord.NAME)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            version = (stat.st_mtime_ns, stat.st_size)
            known = self._records.get(path)
            if known is not None and known[0] == version:
                seen[path] = known
                continue
            try:
                with open(path, "rb") as file:
                    seen[path] = (version, JobRecord.from_json(file.read()))
            except (OSError, PayloadError, ValueError) as error:
                log.warning("status: %s left out (%s)", path, error)
        self._records = seen
        return [record for _, record in seen.values()]

    def _depths(self, records: list[JobRecord]) -> tuple[list[dict[str, Any]], str | None]:
        capabilities = set(self._capabilities)
        for record in records:
            capability = record.queue.removeprefix(queues.TASKS + ".")
            if capability != record.queue:
                try:
                    capabilities.add(validate.capability(capability))
                except validate.InvalidValue:
                    log.warning("status: job %s names no queue of ours", record.id)
        tasks = [queues.tasks_queue(c) for c in sorted(capabilities)]
        names = [queues.WEBHOOK, queues.TASKS, *tasks]
        names += [queues.dead_letter_queue(name) for name in names]
        # The broker's client loads only for the page, not with every images-server start.
        from ouro import amqp, queuedepth  # noqa: PLC0415

        try:
            connection = amqp.connect()
        except amqp.BrokerUnavailable as error:
            return [], str(error)
        try:
            return [asdict(d) for d in queuedepth.measure(connection, names)], None
        finally:
            connection.close()
