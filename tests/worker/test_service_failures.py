"""What becomes of a job through `Worker.handle` when GitHub or the store fails or refuses
(docs/worker.md, "When a job cannot run"): retried with the worker's pause as the base of
the consumer's backoff, dead-lettered when refused, and told why on the last attempt.
Fakes record; tests/worker/test_consume.py has the same against the real services."""

import json
import logging
import threading
import time
from dataclasses import replace

import pytest

from ouro.amqp import DeadLetter, Message, Outcome, Result, Retry
from ouro.store import StoreError, StoreRefused
from tasks.forge import ForgeRateLimited, ForgeRefused, ForgeUnavailable
from tasks.job import Job
from tasks.worker.config import WorkerConfig
from tests.worker.conftest import JobFactory
from tests.worker.fakes import FakeLiveLog, FakeStore
from tests.worker.test_service import message, setup


def retried(outcome: Result) -> str:
    assert isinstance(outcome, Retry), outcome
    # The consumer's backoff starts from the worker's pause.
    assert outcome.delay == 0
    return outcome.reason


def test_status_that_cannot_be_posted_is_retried(
    direct_config: WorkerConfig, make_job: JobFactory
) -> None:
    worker, statuses, _ = setup(direct_config)
    statuses.fail_posts = 1
    reason = retried(worker.handle(message(make_job())))
    assert reason == "GitHub did not take the In progress status: GitHub is down"
    assert statuses.posted == []


def test_final_status_that_cannot_be_posted_is_retried(
    direct_config: WorkerConfig, make_job: JobFactory
) -> None:
    worker, statuses, _ = setup(direct_config)
    statuses.final_error = ForgeUnavailable("GitHub is down")
    retried(worker.handle(message(make_job())))
    assert statuses.states() == [("pending", "In progress [w1]")]


def test_last_attempt_says_why_it_gave_up(
    direct_config: WorkerConfig, make_job: JobFactory
) -> None:
    worker, statuses, store = setup(direct_config)
    job = make_job()
    fail_puts_once_the_log_started(store, StoreError("store is down"))
    last = Message(job.to_json(), job.id, True, {}, None, queue="tasks", attempt=5)
    # The consumer dead-letters a Retry of the last attempt; the commit says why.
    retried(worker.handle(last))
    assert statuses.states()[-1] == ("error", "Gave up: the store was unavailable [w1]")


def dropped(caplog: pytest.LogCaptureFixture, job: Job) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.getMessage().startswith(f"job {job.id}:")
    ]


@pytest.mark.parametrize(
    ("status", "data"),
    [
        (422, {"message": "This SHA and context has reached the maximum number of statuses."}),
        (404, {"message": "Not Found"}),
        (401, {"message": "Bad credentials"}),
    ],
)
def test_final_status_that_github_refuses_dead_letters_the_job(
    direct_config: WorkerConfig,
    make_job: JobFactory,
    caplog: pytest.LogCaptureFixture,
    status: int,
    data: dict[str, str],
) -> None:
    # A long pause that the test would notice: a refusal is not waited for.
    worker, statuses, _ = setup(replace(direct_config, requeue_delay=60))
    refusal = ForgeRefused(status, f"{status} {json.dumps(data)}")
    statuses.final_error = refusal
    job = make_job()
    started = time.monotonic()
    outcome = worker.handle(message(job))
    assert outcome == DeadLetter(f"GitHub refused the final status: {refusal}")
    assert time.monotonic() - started < 30
    assert statuses.states() == [("pending", "In progress [w1]")]
    assert dropped(caplog, job) == [
        f"job {job.id}: GitHub refused the final status ({refusal}); "
        "dead-lettering the job, running it again cannot succeed"
    ]


def test_in_progress_status_that_github_refuses_dead_letters_the_job(
    direct_config: WorkerConfig, make_job: JobFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A status for a commit that is no longer in the repository (a force-push).
    worker, statuses, store = setup(direct_config)
    statuses.fail_posts = 1
    refusal = ForgeRefused(422, '422 {"message": "No commit found"}')
    statuses.post_error = refusal
    job = make_job()
    assert isinstance(worker.handle(message(job)), DeadLetter)
    assert store.files == {}
    # The one status it tries afterwards says why, should GitHub take it.
    assert statuses.states() == [("error", "GitHub refused the In progress status [w1]")]
    assert dropped(caplog, job) == [
        f"job {job.id}: GitHub refused the In progress status ({refusal}); "
        "dead-lettering the job, running it again cannot succeed"
    ]


def test_github_outage_is_retried_after_the_pause(
    direct_config: WorkerConfig, make_job: JobFactory, caplog: pytest.LogCaptureFixture
) -> None:
    worker, statuses, _ = setup(replace(direct_config, requeue_delay=0.5))
    # What the adapter raises once its own retries are spent.
    statuses.final_error = ForgeUnavailable('502 {"message": "Bad Gateway"}', 502)
    job = make_job()
    # The pause is the consumer's, between attempts (tests/worker/test_poison.py).
    outcome = worker.handle(message(job))
    assert isinstance(outcome, Retry)
    assert outcome.delay == 0.5
    assert statuses.states() == [("pending", "In progress [w1]")]
    assert any("to be retried" in m for m in dropped(caplog, job))
    assert not any("dead-lettering" in m for m in dropped(caplog, job))


def test_rate_limit_requeues_after_the_wait_github_asks_for(
    direct_config: WorkerConfig, make_job: JobFactory, caplog: pytest.LogCaptureFixture
) -> None:
    worker, statuses, _ = setup(replace(direct_config, requeue_delay=0))
    statuses.final_error = ForgeRateLimited(1.0, status=403)
    job = make_job()
    started = time.monotonic()
    assert worker.handle(message(job)) is Outcome.REQUEUE
    assert time.monotonic() - started >= 1.0
    assert statuses.states() == [("pending", "In progress [w1]")]
    assert any("handing the job back in 1 s" in m for m in dropped(caplog, job))


def test_drain_cuts_the_rate_limit_wait_short(
    direct_config: WorkerConfig, make_job: JobFactory
) -> None:
    worker, statuses, _ = setup(replace(direct_config, requeue_delay=60))
    statuses.final_error = ForgeRateLimited(600.0, status=403)

    def drain_when_refused() -> None:
        statuses.final_tried.wait(60)
        time.sleep(0.2)
        worker.begin_drain()

    drainer = threading.Thread(target=drain_when_refused)
    drainer.start()
    started = time.monotonic()
    assert worker.handle(message(make_job())) is Outcome.REQUEUE
    assert time.monotonic() - started < 30
    drainer.join()


def fail_puts_once_the_log_started(store: FakeStore, error: StoreError) -> None:
    original = store.live_log

    def failing_live_log(job_dir: str) -> FakeLiveLog:
        live = original(job_dir)
        store.put_error = error
        return live

    store.live_log = failing_live_log  # type: ignore[method-assign]


def test_log_that_cannot_be_finalised_is_retried(
    direct_config: WorkerConfig, make_job: JobFactory
) -> None:
    worker, statuses, store = setup(direct_config)
    fail_puts_once_the_log_started(store, StoreError("store is down"))
    retried(worker.handle(message(make_job())))
    assert statuses.states() == [("pending", "In progress [w1]")]


def test_checksum_mismatch_is_retried_not_dropped(
    direct_config: WorkerConfig, make_job: JobFactory
) -> None:
    # What the images-server's 422 becomes (tests/images_server: not a StoreRefused).
    worker, statuses, store = setup(direct_config)
    fail_puts_once_the_log_started(store, StoreError("PUT logs/x/log: HTTP 422 mismatch"))
    retried(worker.handle(message(make_job())))
    assert statuses.states() == [("pending", "In progress [w1]")]


def test_log_that_the_store_refuses_dead_letters_the_job(
    direct_config: WorkerConfig, make_job: JobFactory, caplog: pytest.LogCaptureFixture
) -> None:
    worker, statuses, store = setup(replace(direct_config, requeue_delay=60))
    refusal = StoreRefused("PUT logs/x/log: HTTP 401 the bearer token is not valid")
    fail_puts_once_the_log_started(store, refusal)
    job = make_job()
    assert worker.handle(message(job)) == DeadLetter(f"the store refused the log: {refusal}")
    assert statuses.states() == [
        ("pending", "In progress [w1]"),
        ("error", "Log store refused the upload [w1]"),
    ]
    assert dropped(caplog, job)[-1] == (
        f"job {job.id}: the store refused the log ({refusal}); "
        "dead-lettering the job, running it again cannot succeed"
    )


def test_live_log_that_the_store_refuses_dead_letters_the_job(
    direct_config: WorkerConfig, make_job: JobFactory
) -> None:
    worker, statuses, store = setup(replace(direct_config, requeue_delay=60))
    store.put_error = StoreRefused("PUT logs/x/index.html: HTTP 403 forbidden")
    assert isinstance(worker.handle(message(make_job())), DeadLetter)
    assert statuses.states() == [
        ("pending", "In progress [w1]"),
        ("error", "Log store refused the upload [w1]"),
    ]
