"""A canary worker: a new release running a share of the real jobs, from the same queues as
the stable workers, and rolling itself back when it breaks them (docs/worker.md, "Canary
workers").

Which jobs: those whose id falls in its share (`share_of`, the same answer on every canary).
It declines the others (`amqp.Decline`): requeued at once, untouched and uncounted, for a
stable worker, while it pauses its consumers, so that the broker does not offer it the same
job straight back. The pause starts at `DECLINE_PAUSE` and doubles while the same job comes
back (no stable worker was free to take it), up to `MAX_DECLINE_PAUSE`. A job requeued
`REPUBLISH_AFTER` times is published again instead, with a fresh delivery count.

A job it ends with an internal error (anything but the change's failure, a cancel or a
hand-back) gets no `error` status from it: it is handed over (`amqp.HandOver`), marked with
`FAILED_HEADER`, which no canary takes, and a stable worker runs it again. When more than
`max_error_rate` of its last `window` jobs ended so, it rolls itself back: a marker in
the state folder (so that a restart stays rolled back), no more consuming, not ready on
`/readyz`, `ouro_worker_canary_rolled_back` 1, and one error line.

Its runs keep their logs and records in a folder of their own (`logs/<job>.canary/`): a
stable worker's run of a handed-over job must not overwrite the canary's record, which
`ouro deploy canary report` reads.
"""

import hashlib
import logging
import threading
from collections import deque
from dataclasses import replace
from pathlib import Path

from ouro import amqp
from ouro.consumerhealth import ConsumerHealth
from tasks.job import Job
from tasks.worker.config import WorkerConfig
from tasks.worker.metrics import CANARY_JOBS, CANARY_ROLLED_BACK

log = logging.getLogger(__name__)

# On a job a canary failed: the failing canary's release. No canary takes such a job again.
FAILED_HEADER = "x-ouro-canary-failed"
DECLINE_PAUSE = 0.1
MAX_DECLINE_PAUSE = 30.0
FOLDER_SUFFIX = ".canary"
REPUBLISH_AFTER = 10


def _deliveries(message: amqp.Message) -> int:
    """How many times a quorum queue has delivered `message` before."""
    count = message.headers.get("x-delivery-count")
    return count if isinstance(count, int) else 0


def share_of(job_id: str) -> float:
    """Where `job_id` falls in [0, 1), uniformly: a canary takes the jobs below its share."""
    digest = hashlib.sha256(job_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def marker(state_dir: Path, release: str) -> Path:
    """The file that says release `release`'s canary rolled back on this host or volume."""
    return state_dir / f"canary-{release}.rolled-back"


class Canary:
    def __init__(self, config: WorkerConfig, health: ConsumerHealth | None = None):
        if config.canary_share is None:
            raise ValueError("not a canary worker")
        self.release = config.release
        self.share = config.canary_share
        self._name = config.name
        self._max_rate = config.canary_max_error_rate
        self._marker = marker(config.state_dir, config.release)
        self._health = health
        self._recent: deque[bool] = deque(maxlen=config.canary_window)
        self._declined: str | None = None
        self._pause = DECLINE_PAUSE
        self._lock = threading.Lock()
        self.rolled_back = False
        # Set when it rolls back, or when the worker is told to stop: stops its consuming.
        self.halt = threading.Event()
        if self._marker.exists():
            self._retire(f"canary of release {self.release} rolled back before this start")

    def follow(self, stop: threading.Event) -> threading.Event:
        """An event for the consume loop: set by a rollback, or once `stop` is set."""

        def relay() -> None:
            stop.wait()
            self.halt.set()

        threading.Thread(target=relay, name="canary-stop", daemon=True).start()
        return self.halt

    def declines(self, message: amqp.Message, job: Job) -> amqp.Result | None:
        """What becomes of a job this canary does not run; None if it runs it."""
        if self.halt.is_set():
            return amqp.Outcome.REQUEUE
        if message.headers.get(FAILED_HEADER) is not None:
            why = f"failed by the canary of release {message.headers[FAILED_HEADER]!s:.64}"
        elif share_of(job.id) >= self.share:
            why = f"outside its share of {self.share:g}"
        else:
            self._declined, self._pause = None, DECLINE_PAUSE
            CANARY_JOBS.labels("ran").inc()
            return None
        if _deliveries(message) >= REPUBLISH_AFTER:
            # Published afresh rather than requeued once more: RabbitMQ 4 drops a quorum
            # queue's message requeued 20 times (its default delivery limit).
            CANARY_JOBS.labels("declined").inc()
            log.info("job %s: declined (%s); published again", job.id, why)
            return amqp.HandOver({})
        # The same job again: no stable worker was free for it; ask less often.
        again = job.id == self._declined
        self._pause = min(self._pause * 2, MAX_DECLINE_PAUSE) if again else DECLINE_PAUSE
        self._declined = job.id
        CANARY_JOBS.labels("declined").inc()
        log.info("job %s: declined (%s); paused %g s", job.id, why, self._pause)
        return amqp.Decline(self._pause)

    @staticmethod
    def own_folder(job: Job) -> Job:
        """`job` logging into the canary's folder of its own (`logs/<job>.canary/`)."""
        return replace(job, log=f"{job.log.rstrip('/')}{FOLDER_SUFFIX}/")

    def ended(self, job: Job, internal: bool) -> amqp.Result | None:
        """Count a job that ended; for one that ended with an internal error, the hand-over
        to the stable workers (None: the job's status stands). May roll the canary back."""
        with self._lock:
            self._recent.append(internal)
            errors, window = sum(self._recent), self._recent.maxlen or 1
        if internal:
            CANARY_JOBS.labels("handed_over").inc()
            log.warning(
                "job %s: internal error on the canary of release %s (%d of its last %d "
                "jobs); handed over to a stable worker",
                job.id,
                self.release,
                errors,
                len(self._recent),
            )
        if errors / window > self._max_rate and not self.rolled_back:
            self._roll_back(errors, window)
        return amqp.HandOver({FAILED_HEADER: self.release}) if internal else None

    def _roll_back(self, errors: int, window: int) -> None:
        try:
            self._marker.parent.mkdir(parents=True, exist_ok=True)
            self._marker.write_text(f"{errors} internal errors in the last {window} jobs\n")
        except OSError as error:
            log.error("cannot write the canary's marker %s (%s)", self._marker, error)
        log.error(
            "CANARY ROLLED BACK: release %s on worker %s ended %d of its last %d jobs with an "
            "internal error (more than %g); it takes no more jobs (marker %s)",
            self.release,
            self._name,
            errors,
            window,
            self._max_rate,
            self._marker,
        )
        self._retire(f"canary of release {self.release} rolled back: {errors} of {window} jobs")

    def _retire(self, reason: str) -> None:
        self.rolled_back = True
        CANARY_ROLLED_BACK.set(1)
        if self._health is not None:
            self._health.retire(reason)
        self.halt.set()
