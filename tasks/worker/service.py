"""The consume loop: one job at a time, statuses around it, cancel and drain.

Ordering is what makes the worker lose nothing: "In progress" is posted before the job
starts, the log is finalised and the final status posted before the message is acked.
If either cannot be done (after the adapters' retries) the job is a `Retry` of the
consumer's poison-message policy (`ouro.poison`): it runs again after a backoff whose base
is `requeue_delay`, so that an outage does not become a tight loop of whole job runs,
while an acked job without a final status would stay "In progress" forever. After the
fifth attempt it is dead-lettered, with an `error` status that says why if GitHub takes it.

A refusal is different (`is_permanent`): GitHub answering a 4xx that is not a rate limit
(`ForgeRefused`: repository gone, the limit of statuses per context reached, a revoked
token), or the store refusing the request (`StoreRefused`), would answer every run of the
job the same way. Such a job is dead-lettered at once, with an `error` status that says
why (if GitHub takes it) and one error line for the operator; so is a job that could not
run for any reason other than the change (`outcome.needs_replay`), once its status is
posted, and a malformed job message. Nothing is dropped: `ouro queue replay` hands dead
letters back once the cause is fixed.
"""

import logging
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from ouro import amqp, consumer
from ouro.consumerhealth import ConsumerHealth
from ouro.jsonutil import PayloadError
from ouro.store import Store, StoreRefused
from ouro.validate import InvalidValue
from tasks import github_requests
from tasks.cancel import Cancel
from tasks.forge import Conversation, ForgeRateLimited, ForgeRefused, Status, Statuses
from tasks.job import Job
from tasks.worker import attachments, jobsecrets, logframe, outcome, refresh
from tasks.worker.canary import Canary
from tasks.worker.cancels import CancelQueue
from tasks.worker.config import WorkerConfig
from tasks.worker.execute import execute
from tasks.worker.gitauth import GitToken
from tasks.worker.joblog import JobLog
from tasks.worker.outcome import JobFailedToStart
from tasks.worker.records import Records
from tasks.worker.runner import Control, Runner, RunResult, Stop, make_runner

log = logging.getLogger(__name__)

# A cancel also stops jobs of its PR still waiting in the queue, if created before it.
CANCEL_MEMORY = 24 * 3600.0


def log_url(store: Store, job: Job) -> str:
    return store.url(f"{job.log}index.html")


def is_permanent(error: Exception) -> bool:
    """GitHub or the store refused the request itself: running the job again cannot help."""
    return isinstance(error, ForgeRefused | StoreRefused)


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        statuses: Statuses,
        store: Store,
        runner: Runner | None = None,
        *,
        conversation: Conversation | None = None,
        git_token: GitToken | None = None,
        clock: Callable[[], float] = time.time,
        canary: Canary | None = None,
    ):
        """`conversation` ticks image refresh task lines; without it they are not ticked.
        `git_token`: an App installation's token for git (clone, fetch, push), else none.
        `canary`: this worker is a canary (tasks/worker/canary.py)."""
        self.config = config
        self._canary = canary
        self._git_token = git_token
        self._statuses = statuses
        self._conversation = conversation
        self._store = store
        self._records = Records(
            store, config.name, clock, release=config.release, canary=canary is not None
        )
        self._runner = runner or make_runner(config)
        self._clock = clock
        self._lock = threading.Lock()
        self._current: tuple[Job, Control] | None = None
        # The newest cancel per (repo, PR), with when it arrived.
        self._cancels: dict[tuple[str, int], tuple[Cancel, float]] = {}
        self._draining = threading.Event()
        # After a lost broker connection, `consumer.consume` reconnects and may deliver again
        # (even the same job) while the old run goes on: the new delivery waits for it.
        self._one_at_a_time = threading.Lock()

    # -- the broker side --------------------------------------------------------------

    def serve(
        self,
        stop: threading.Event,
        url: str | None = None,
        health: ConsumerHealth | None = None,
    ) -> None:
        """Consume jobs until `stop` is set and the running job has ended; `health` learns
        whether the worker is connected and consuming (its probes)."""
        role = "stable" if self._canary is None else f"canary, share {self._canary.share:g}"
        log.info(
            "worker %s (release %s, %s) serving %s in %s mode",
            self.config.name,
            self.config.release or "unnamed",
            role,
            self.config.queues,
            self.config.mode,
        )
        capabilities = (None, *self.config.capabilities)
        cancels = CancelQueue(self.cancel, url, capabilities)
        consuming = stop if self._canary is None else self._canary.follow(stop)
        try:
            consumer.consume(
                self.config.queues,
                self.handle,
                url=url,
                capabilities=capabilities,
                stop=consuming,
                on_connected=health.hook(cancels.on_connected) if health else cancels.on_connected,
                crash_delay=self.config.requeue_delay,
            )
        finally:
            cancels.close()
        if self._canary is not None and self._canary.rolled_back:
            # Up, not ready and consuming nothing, until told to stop.
            stop.wait()

    def cancel(self, message: Cancel) -> None:
        now = self._clock()
        with self._lock:
            self._cancels[(message.repo, message.pr)] = (message, now)
            for key, (_, received) in list(self._cancels.items()):
                if now - received > CANCEL_MEMORY:
                    del self._cancels[key]
            if self._current is not None:
                job, control = self._current
                if message.applies_to(job.repo, job.pr, job.sha):
                    log.info("job %s: cancelled (%s)", job.id, message.reason)
                    control.stop(Stop.CANCELLED)

    def begin_drain(self) -> None:
        """Take no new job; the running one goes on (until `hand_back`), and a job waiting
        out `requeue_delay` is handed back at once."""
        log.info(
            "worker %s draining: finishing the running job, taking no new one", self.config.name
        )
        self._draining.set()

    def hand_back(self) -> None:
        """Stop the running job and return it to the queue (the grace period is over)."""
        self._draining.set()
        with self._lock:
            if self._current is not None:
                job, control = self._current
                log.info("job %s: grace period over, handing it back", job.id)
                control.stop(Stop.HANDED_BACK)

    # -- one job ----------------------------------------------------------------------

    def handle(self, message: amqp.Message) -> amqp.Result:
        with self._one_at_a_time, github_requests.counting("job"):
            return self._handle(message)

    def _handle(self, message: amqp.Message) -> amqp.Result:
        try:
            job = Job.from_json(message.body)
        except (PayloadError, InvalidValue) as error:
            # Running it again cannot help; it has no trustworthy repo/sha for a status.
            log.error("malformed job message %s: %s", message.message_id, error)
            return amqp.DeadLetter(f"malformed job: {error}")
        if self._draining.is_set():
            log.info("job %s: arrived while draining; handing it back", job.id)
            return amqp.Outcome.REQUEUE
        if self._canary is not None:
            declined = self._canary.declines(message, job)
            if declined is not None:
                return declined
            job = self._canary.own_folder(job)
        previous = None
        if message.redelivered:
            previous = self._previous_status(job)
            if previous is not None and previous.state != "pending":
                log.info("job %s: already ended (%s); not running it again", job.id, previous.state)
                return amqp.Outcome.ACK
        control = Control()
        with self._lock:
            self._current = (job, control)
            found = self._cancels.get((job.repo, job.pr)) if job.pr is not None else None
            if found and found[0].applies_to(job.repo, job.pr, job.sha) and job.created < found[1]:
                control.stop(Stop.CANCELLED)
        try:
            return self._run(job, control, previous, message.last_attempt)
        finally:
            with self._lock:
                self._current = None

    def _previous_status(self, job: Job) -> Status | None:
        try:
            return self._statuses.latest(job.repo, job.sha).get(job.context)
        except Exception as error:
            log.warning("job %s: cannot read earlier statuses (%s)", job.id, error)
            return None

    def _post(self, job: Job, status: Status, what: str, last: bool) -> amqp.Result | None:
        """Post `status`: None once posted, else what becomes of the job."""
        try:
            self._statuses.post(job.repo, job.sha, status)
        except Exception as error:
            return self._not_written(job, "GitHub", what, error, last)
        return None

    def _post_best_effort(self, job: Job, status: Status) -> None:
        """Post a status whose failure changes nothing about the job's fate."""
        try:
            self._statuses.post(job.repo, job.sha, status)
        except Exception as error:
            log.warning("job %s: cannot post %r (%r)", job.id, status.description, error)

    def _not_written(
        self, job: Job, where: str, what: str, error: Exception, last: bool
    ) -> amqp.Result:
        """What becomes of `job` when `what` could not be written to `where` (after the
        adapters' retries): dead-lettered if refused, else retried (`last`: this was the
        last attempt, so the consumer dead-letters it)."""
        name = self.config.signature
        if is_permanent(error):
            log.error(
                "job %s: %s refused %s (%s); dead-lettering the job, running it again "
                "cannot succeed",
                job.id,
                where,
                what,
                error,
            )
            if isinstance(error, StoreRefused):
                # GitHub still answers: end the commit's "In progress" rather than leave it.
                self._post_best_effort(job, outcome.log_refused(job.context, name))
            else:
                # Worth one try: a refused final status (the per-context limit) may not mean
                # that every status is refused.
                self._post_best_effort(
                    job, outcome.gave_up(job.context, name, f"GitHub refused {what}")
                )
            return amqp.DeadLetter(f"{where} refused {what}: {error}")
        if isinstance(error, ForgeRateLimited):
            # Not the job's failure: waited out and handed back, not counted. Sooner than
            # GitHub's reset time, every run of the job would be refused again.
            delay = max(self.config.requeue_delay, error.retry_after)
            log.error(
                "job %s: GitHub rate limit for %s; handing the job back in %g s",
                job.id,
                what,
                delay,
            )
            # The signal handler's drain sets this event: a SIGTERM is never held up here.
            self._draining.wait(delay)
            return amqp.Outcome.REQUEUE
        log.error("job %s: %s did not take %s (%r); to be retried", job.id, where, what, error)
        if last:
            self._post_best_effort(
                job, outcome.gave_up(job.context, name, f"Gave up: {where} was unavailable")
            )
        return amqp.Retry(f"{where} did not take {what}: {error}", self.config.requeue_delay)

    def _run(self, job: Job, control: Control, previous: Status | None, last: bool) -> amqp.Result:
        config = self.config
        url = log_url(self._store, job)
        setup_error: Exception | None = None
        try:
            secrets, masked, short = jobsecrets.gather(
                job, config.secrets_dir, self._git_token is not None
            )
        except (JobFailedToStart, OSError) as failure:
            secrets, masked, short, setup_error = {}, [], [], failure
        unposted = self._post(
            job,
            outcome.in_progress(job.context, config.signature, url),
            "the In progress status",
            last,
        )
        if unposted is not None:
            return unposted
        try:
            if previous is not None:
                # Chunks of the earlier run would mix with this run's on the log page.
                self._store.delete(job.log)
            live = self._store.live_log(job.log)
        except Exception as store_error:
            return self._not_written(job, "the store", "the live log", store_error, last)
        self._records.started(job, url)
        joblog = JobLog(live, masked)
        log.info("job %s: %s %s@%s started", job.id, job.context, job.repo, job.sha[:12])
        start = time.monotonic()
        logframe.header(joblog, job, config, previous, short)
        result, pushed, error = self._execute(job, control, secrets, joblog, setup_error)
        status = outcome.final_status(
            job.context, config.signature, url, job.timeout, result=result, error=error
        )
        internal = status is not None and outcome.needs_replay(error)
        handover = self._canary.ended(job, internal) if self._canary and status else None
        footer_status = None if handover is not None else status
        logframe.footer(joblog, result, time.monotonic() - start, footer_status)
        if handover is not None and status is not None:
            return self._hand_over(job, joblog, status, url, handover)
        if job.refresh is not None and status is not None:
            refresh.tell(self._conversation, job, status, url, pushed is not None)
        finished = self._finish(job, joblog, status, url, last=last, internal=internal)
        if finished is amqp.Outcome.ACK and status is not None and internal:
            # Posted, so the PR says why; kept for `ouro queue replay` once that is fixed.
            return amqp.DeadLetter(f"job {job.id}: {status.description}")
        return finished

    def _execute(
        self,
        job: Job,
        control: Control,
        secrets: dict[str, Path],
        joblog: JobLog,
        error: BaseException | None,
    ) -> tuple[RunResult | None, str | None, BaseException | None]:
        """Run `job` unless its setup failed (`error`), upload its attachments and log what
        went wrong: the result, the sha an image refresh pushed, and the error if any."""
        result: RunResult | None = None
        pushed: str | None = None
        scratch = Path(tempfile.mkdtemp(prefix=f"ouro-job-{job.id}-", dir=self.config.work_dir))
        try:
            if error is None:
                result, pushed = execute(
                    job,
                    control,
                    scratch,
                    secrets,
                    joblog,
                    config=self.config,
                    runner=self._runner,
                    git_token=self._git_token,
                )
        except Exception as raised:
            error = raised
        finally:
            try:
                uploaded = attachments.upload(self._store, job.log, scratch / "attachments")
                if uploaded:
                    joblog.line(f"\nAttachments: {len(uploaded)} uploaded")
            except Exception as raised:
                error = error or raised
            shutil.rmtree(scratch, ignore_errors=True)
        if error is not None:
            log.error("job %s: %s", job.id, "".join(traceback.format_exception_only(error)).strip())
            joblog.line("\n" + "".join(traceback.format_exception(error)).rstrip())
        return result, pushed, error

    def _finish(
        self,
        job: Job,
        joblog: JobLog,
        status: Status | None,
        url: str,
        *,
        last: bool,
        internal: bool,
    ) -> amqp.Result:
        try:
            joblog.close()
        except Exception as error:
            return self._not_written(job, "the store", "the log", error, last)
        if status is None:
            # It goes back to the queue all the same; its next run posts "In progress".
            handed_back = outcome.handed_back(job.context, self.config.signature, url)
            self._post_best_effort(job, handed_back)
            self._records.ended(job, handed_back)
            return amqp.Outcome.REQUEUE
        unposted = self._post(job, status, "the final status", last)
        if unposted is not None:
            return unposted
        self._records.ended(job, status, internal=internal)
        log.info("job %s: %s %s", job.id, status.state, status.description)
        return amqp.Outcome.ACK

    def _hand_over(
        self, job: Job, joblog: JobLog, status: Status, url: str, handover: amqp.Result
    ) -> amqp.Result:
        """A canary's internal error: no `error` status; a stable worker runs the job again.
        Best effort but the hand-over: the log, the record and the status are for people."""
        try:
            joblog.close()
        except Exception as error:
            log.warning("job %s: cannot finish the canary's log (%r)", job.id, error)
        self._records.ended(job, status, internal=True)
        self._post_best_effort(job, outcome.canary_failed(job.context, self.config.signature, url))
        return handover
