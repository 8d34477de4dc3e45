"""The job's record in the store (`ouro.store.jobrecord`) for the status page, and the time
each job waited in its queue: written when the job starts and again when it ends.

Best effort: a record the store does not take changes nothing about the job, whose log
and status say it all; the page then shows what it last knew.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from ouro.store import Store
from ouro.store.jobrecord import NAME, JobRecord
from tasks.forge import Status
from tasks.job import Job
from tasks.worker.metrics import WAIT, context_label

log = logging.getLogger(__name__)


class Records:
    def __init__(
        self,
        store: Store,
        worker: str,
        clock: Callable[[], float] = time.time,
        *,
        release: str = "",
        canary: bool = False,
    ):
        self._store = store
        self._worker = worker
        self._release = release
        self._canary = canary
        self._clock = clock
        self._current: JobRecord | None = None

    def started(self, job: Job, log_url: str) -> None:
        now = self._clock()
        # `created` is the bot's clock: a little skew must not make a negative wait.
        WAIT.labels(context_label(job.context)).observe(max(0.0, now - job.created))
        self._current = JobRecord(
            id=job.id, repo=job.repo, sha=job.sha, context=job.context, worker=self._worker,
            queue=job.queue, log_url=log_url, created=job.created, started=now, pr=job.pr,
            release=self._release, canary=self._canary,
        )  # fmt: skip
        self._write(job, self._current)

    def ended(self, job: Job, status: Status, *, internal: bool = False) -> None:
        record = self._current
        if record is None or record.id != job.id:
            return
        self._current = None
        ended = replace(
            record,
            state=status.state,
            description=status.description,
            finished=self._clock(),
            internal=internal,
        )
        self._write(job, ended)

    def _write(self, job: Job, record: JobRecord) -> None:
        try:
            self._store.put(job.log + NAME, record.to_json())
        except Exception as error:
            log.warning("job %s: cannot write its record for the status page (%r)", job.id, error)
