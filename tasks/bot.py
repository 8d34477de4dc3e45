"""The tasks bot: the thin effects loop around `tasks.interpret`.

For each message of the `webhook` queue: parse it, skip it if its delivery was
processed before, interpret it, then carry the decision out — "Manual testing
required" where no status exists yet, each job's `pending` "Not yet tested", then the
cancels (to the fanout exchange) and the jobs published together and confirmed — and
only then remember the delivery and ack. The consumer's poison-message policy (`ouro.poison`)
does the rest: a message that cannot be processed (not JSON, missing fields, invalid
values such as a login that is no GitHub login, a 4xx from GitHub about it) is a
`DeadLetter`: published to `webhook.dead` with the reason in the `x-ouro-reason` header
and acked, never redelivered in a loop and never crashing the bot; it is not remembered
as processed, so `ouro queue replay webhook.dead` can hand it back once the cause is
fixed. Transient failures (broker, GitHub 5xx after the adapter's retries) are a `Retry`:
the message comes back after a backoff, at most five times, then it is dead-lettered
too. A GitHub rate limit is neither: the bot waits it out, then requeues the message.
"""

import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from ouro import amqp, queues, validate
from ouro.jsonutil import JsonDict, PayloadError, get_dict, get_str, parse_object
from tasks import botmetrics, github_requests
from tasks.botstate import BotState
from tasks.cancel import Cancel
from tasks.decision import MANUAL_TESTING, NOT_YET_TESTED, Decision, StartJob
from tasks.forge import (
    Conversation,
    ForgeRateLimited,
    ForgeRefused,
    ForgeUnavailable,
    PullInfo,
    Reader,
    Status,
    Statuses,
)
from tasks.interpret import interpret, pull_decision
from tasks.job import Job, NewId, new_job_id
from tasks.testmap import TestMap
from tasks.trust import CachedMembership

log = logging.getLogger(__name__)

# GitHub delivery ids are GUIDs; anything else is refused before it reaches a log or the store.
_DELIVERY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class Publisher(Protocol):
    def publish_all(self, messages: Sequence[amqp.Outgoing]) -> None: ...


def parse_message(body: bytes) -> tuple[str, str, JsonDict]:
    """(event, delivery id, payload) of a webhook queue message."""
    data = parse_object(body, "message")
    event = get_str(data, "event")
    delivery = get_str(data, "delivery")
    if not _DELIVERY.fullmatch(delivery):
        raise PayloadError(f"invalid delivery id {delivery!r:.60}")
    return event, delivery, get_dict(data, "request")


class _Lookups:
    """What interpretation may ask GitHub, membership answers cached."""

    def __init__(self, reader: Reader, statuses: Statuses):
        self._reader = reader
        self._statuses = statuses
        self._membership = CachedMembership(reader.is_member)

    def is_member(self, org: str, login: str) -> bool:
        return self._membership(org, login)

    def pull(self, repo: str, number: int) -> PullInfo:
        return self._reader.pull(repo, number)

    def statuses(self, repo: str, sha: str) -> dict[str, Status]:
        return self._statuses.latest(repo, sha)

    def default_branch(self, repo: str) -> str:
        return self._reader.default_branch(repo)

    def branch_head(self, repo: str, branch: str) -> str:
        return self._reader.branch_head(repo, branch)


class Bot:
    def __init__(
        self,
        testmap: TestMap,
        *,
        statuses: Statuses,
        reader: Reader,
        conversation: Conversation,
        publisher: Publisher,
        state: BotState,
        wait: Callable[[float], bool],
        new_id: NewId = new_job_id,
    ):
        """`wait(seconds)` pauses for a rate limit and must return early when the bot is
        asked to stop (the consumer's stop event's `wait`), or SIGTERM would hang."""
        self.testmap = testmap
        self._statuses = statuses
        self._reader = reader
        self._conversation = conversation
        self._publisher = publisher
        self._state = state
        self._new_id = new_id
        self._wait = wait
        self._lookups = _Lookups(reader, statuses)
        # When the message being handled was queued (its AMQP timestamp), until the first
        # status posted for it is timed.
        self._queued_at: float | None = None

    def handle(self, message: amqp.Message) -> amqp.Result:
        """The consumer's handler: ACK, a dead letter, a retry, or (after a rate limit's
        wait) a requeue."""
        began = time.monotonic()
        try:
            event, delivery, payload = parse_message(message.body)
        except PayloadError as error:
            result: amqp.Result = amqp.DeadLetter(str(error))
            botmetrics.observe("", result, time.monotonic() - began)
            return result
        if self._state.seen(delivery):
            log.info("delivery %s (%s) was already processed; dropped", delivery, event)
            botmetrics.observe(event, amqp.Outcome.ACK, 0.0, duplicate=True)
            return amqp.Outcome.ACK
        self._queued_at = message.timestamp
        try:
            result = self._handle(event, delivery, payload)
        finally:
            self._queued_at = None
        botmetrics.observe(event, result, time.monotonic() - began)
        return result

    def _handle(self, event: str, delivery: str, payload: JsonDict) -> amqp.Result:
        try:
            with github_requests.counting(botmetrics.event_label(event)):
                decision = interpret(event, payload, self.testmap, self._lookups, self._new_id)
                started = self.apply(decision)
        except (
            PayloadError,
            validate.InvalidValue,
            ForgeRateLimited,
            ForgeRefused,
            ForgeUnavailable,
            amqp.BrokerUnavailable,
        ) as error:
            return self._failed(delivery, event, error)
        self._state.remember_delivery(delivery)
        if decision.starts or decision.statuses or decision.cancels:
            log.info("delivery %s (%s): %s; %d job(s)", delivery, event, decision.reason, started)
        else:
            log.debug("delivery %s (%s) dropped: %s", delivery, event, decision.reason)
        return amqp.Outcome.ACK

    def _failed(self, delivery: str, event: str, error: Exception) -> amqp.Result:
        """What becomes of the message after `error`: the policy of docs/tasks-bot.md."""
        if isinstance(error, ForgeRateLimited):
            return self._wait_out_rate_limit(delivery, event, error)
        if isinstance(error, ForgeRefused):
            return amqp.DeadLetter(f"{event}: GitHub answered {error.status}")
        if isinstance(error, ForgeUnavailable | amqp.BrokerUnavailable):
            # The GitHub adapter has already backed off 1+2+4+8 s; the consumer adds its own
            # backoff between attempts, and gives up (dead letter) after the fifth.
            log.warning("delivery %s (%s): %s; to be retried", delivery, event, error)
            return amqp.Retry(f"{event}: {error}")
        # Invalid: the consumer publishes it to webhook.dead and logs it with the message id,
        # which is the delivery id (the receiver sets it from X-GitHub-Delivery).
        return amqp.DeadLetter(f"{event}: {error}")

    def _wait_out_rate_limit(
        self, delivery: str, event: str, error: ForgeRateLimited
    ) -> amqp.Outcome:
        # The message stays unacked while we wait, and the consumer takes one message at a
        # time, so nothing else is processed meanwhile: right for a rate limit, which every
        # other event would hit too. Requeued (not dead-lettered): the event is valid.
        log.warning(
            "delivery %s (%s): GitHub rate limit (%d); waiting %.0fs, then requeueing",
            delivery,
            event,
            error.status,
            error.retry_after,
        )
        self._wait(error.retry_after)
        return amqp.Outcome.REQUEUE

    def apply(self, decision: Decision, *, scan: bool = False) -> int:
        """Carry out `decision`; the number of jobs published.

        Idempotent per (repo, sha, context) unless a job is forced: a context is skipped
        when this bot published it before or GitHub shows a status for it. One exception
        outside scans: a lone "Not yet tested" that this bot has no record of is a publish
        that failed after its status was posted, so the job is published again.
        """
        latest: dict[tuple[str, str], dict[str, Status]] = {}

        def statuses_of(repo: str, sha: str) -> dict[str, Status]:
            if (repo, sha) not in latest:
                latest[repo, sha] = self._statuses.latest(repo, sha)
            return latest[repo, sha]

        for post in decision.statuses:
            if post.status.context not in statuses_of(post.repo, post.sha):
                self._post(post.repo, post.sha, post.status)
        jobs: list[Job] = []
        try:
            for start in decision.starts:
                if start.exclusive:
                    # Asked for by a person, so started again even after a result; never twice.
                    if self._running(start.job, statuses_of):
                        continue
                elif not self._should_start(start, statuses_of, scan=scan):
                    continue
                else:
                    # A person who asked waits for the job's own "In progress" instead.
                    job = start.job
                    self._post(job.repo, job.sha, Status(job.context, "pending", NOT_YET_TESTED))
                jobs.append(start.job)
        finally:
            # Even when a later post failed: a scan does not publish a lone "Not yet tested".
            self._publish(decision.cancels, jobs)
        for comment in decision.comments:
            self._conversation.comment(comment.repo, comment.number, comment.text)
        return len(jobs)

    def _running(self, job: Job, statuses_of: Callable[[str, str], dict[str, Status]]) -> bool:
        """Whether a run of the job's context is queued or running on its sha; if so, the
        person who asked for another is told so, with the running one's log."""
        existing = statuses_of(job.repo, job.sha).get(job.context)
        if existing is None:
            # Queued by this bot and not started yet, or never asked for.
            if not self._state.job_published(job.repo, job.sha, job.context):
                return False
        elif existing.state != "pending" or existing.description == MANUAL_TESTING:
            return False
        asked_on = job.pr if job.pr is not None else job.issue
        if asked_on is not None:
            url = existing.target_url if existing is not None else None
            where = f" (log: {url})" if url else ""
            text = f"{job.context} is already queued or running on {job.sha[:12]}{where}"
            self._conversation.comment(job.repo, asked_on, text)
        log.info("%s@%s %s: already queued or running", job.repo, job.sha[:12], job.context)
        return True

    def _should_start(
        self, start: StartJob, statuses_of: Callable[[str, str], dict[str, Status]], *, scan: bool
    ) -> bool:
        job = start.job
        if start.force:
            return True
        if self._state.job_published(job.repo, job.sha, job.context):
            log.debug("%s@%s %s already queued", job.repo, job.sha[:12], job.context)
            return False
        existing = statuses_of(job.repo, job.sha).get(job.context)
        if existing is None:
            return True
        if existing.state == "pending" and existing.description == MANUAL_TESTING:
            # Trust was granted since (e.g. the author joined the org): run now.
            return True
        lost = existing.state == "pending" and existing.description == NOT_YET_TESTED
        if lost and not scan:
            log.warning("%s@%s %s: re-publishing", job.repo, job.sha[:12], job.context)
            return True
        log.debug("%s@%s %s has a status already", job.repo, job.sha[:12], job.context)
        return False

    def _post(self, repo: str, sha: str, status: Status) -> None:
        self._statuses.post(repo, sha, status)
        if self._queued_at is not None:
            # The message's timestamp is the receiver's clock, in whole seconds.
            botmetrics.FIRST_STATUS.observe(max(0.0, time.time() - self._queued_at))
            self._queued_at = None

    def _publish(self, cancels: Sequence[Cancel], jobs: list[Job]) -> None:
        """The decision's cancels and jobs, confirmed together. Each job's "Not yet tested"
        is posted before it is published, or it could overwrite the worker's "In progress"."""
        messages = [
            amqp.Outgoing(
                "",
                cancel.to_json(),
                f"cancel-{secrets.token_hex(8)}",
                exchange=queues.CANCEL_EXCHANGE,
            )
            for cancel in cancels
        ]
        messages += [amqp.Outgoing(j.queue, j.to_json(), j.id, priority=j.priority) for j in jobs]
        self._publisher.publish_all(messages)
        for cancel in cancels:
            log.info("cancel sent for %s#%d (%s)", cancel.repo, cancel.pr, cancel.reason)
        self._state.remember_jobs(jobs)
        for job in jobs:
            botmetrics.JOBS.labels(job.queue).inc()
            log.info(
                "job %s queued on %s: %s@%s %s",
                job.id, job.queue, job.repo, job.sha[:12], job.context,
            )  # fmt: skip

    def scan(self, repos: Iterable[str] | None = None, *, pr: int | None = None) -> int:
        """Queue the open PRs (or only PR number `pr`) whose head lacks expected statuses;
        the number of jobs."""
        with github_requests.counting("scan"):
            started = sum(self._scan_repo(repo, pr) for repo in repos or self.testmap.repos)
        log.info("scan: %d job(s) queued", started)
        return started

    def _scan_repo(self, repo: str, pr: int | None) -> int:
        started = 0
        pulls = [self._reader.pull(repo, pr)] if pr is not None else self._reader.open_pulls(repo)
        for pull in pulls:
            try:
                decision = pull_decision(pull, self.testmap, self._lookups, new_id=self._new_id)
                started += self.apply(decision, scan=True)
            except (PayloadError, validate.InvalidValue) as error:
                log.warning("scan: %s#%d skipped: %s", repo, pull.number, error)
        return started
