"""The worker's metrics, mostly read off the statuses it posts through the forge port: every
job posts "In progress" when it starts and one final status when it ends, so the stream of
statuses says how many jobs run, how they end and how long they take. How long a job waited
in its queue is observed when it starts (tasks/worker/records.py)."""

import threading
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

from tasks.forge import Status, Statuses

JOBS = Counter(
    "ouro_worker_jobs_total", "Jobs that ended, by context and commit state", ["context", "state"]
)
RUNNING = Gauge("ouro_worker_jobs_running", "Jobs between In progress and their final status")
DURATION = Histogram(
    "ouro_worker_job_seconds",
    "From In progress to the final status, by context",
    ["context"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
WAIT = Histogram(
    "ouro_worker_job_wait_seconds",
    "From the bot queueing a job (its `created`) to a worker starting it, by context",
    ["context"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
)
FINAL = ("success", "failure", "error")
RELEASE = Gauge(
    "ouro_worker_release_info",
    "1, labelled with this worker's release and role",
    ["release", "role"],
)
CANARY_JOBS = Counter(
    "ouro_worker_canary_jobs_total",
    "Jobs a canary worker was offered: ran, declined (outside its share, or failed by a "
    "canary before), handed over (it failed them with an internal error)",
    ["result"],
)
CANARY_ROLLED_BACK = Gauge(
    "ouro_worker_canary_rolled_back", "1 once this canary worker has rolled itself back"
)


def context_label(context: str) -> str:
    """The context without a revision suffix: `vm@infra#12` counts as `vm`, so that every
    infrastructure PR does not make series of its own."""
    return context.partition("@")[0]


class MeteredStatuses:
    """`Statuses` that counts what passes through."""

    def __init__(self, statuses: Statuses, clock: Callable[[], float] = time.monotonic):
        self._statuses = statuses
        self._clock = clock
        self._lock = threading.Lock()
        self._started: dict[tuple[str, str, str], float] = {}

    def post(self, repo: str, sha: str, status: Status) -> None:
        self._statuses.post(repo, sha, status)
        key, label = (repo, sha, status.context), context_label(status.context)
        with self._lock:
            if status.state == "pending" and status.description.startswith("In progress"):
                if key not in self._started:
                    RUNNING.inc()
                self._started[key] = self._clock()
            elif status.state in FINAL:
                JOBS.labels(label, status.state).inc()
                started = self._started.pop(key, None)
                if started is not None:
                    RUNNING.dec()
                    DURATION.labels(label).observe(self._clock() - started)

    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        return self._statuses.latest(repo, sha)
