"""A canary worker's choices (tasks/worker/canary.py): which jobs it runs, what it declines,
when it rolls itself back, and that a rollback outlives a restart."""

from pathlib import Path

import pytest

from ouro import amqp
from ouro.config import ConfigError
from ouro.consumerhealth import ConsumerHealth
from tasks.job import Job
from tasks.worker import canary
from tasks.worker.canary import FAILED_HEADER, Canary, share_of
from tasks.worker.config import WorkerConfig, from_environment


def config(tmp_path: Path, **fields: object) -> WorkerConfig:
    values: dict[str, object] = {
        "name": "c1", "mode": "direct", "release": "r2", "canary_share": 0.25,
        "canary_window": 4, "canary_max_error_rate": 0.5, "state_dir": tmp_path / "state",
    }  # fmt: skip
    return WorkerConfig(**{**values, **fields})  # type: ignore[arg-type]


def job(job_id: str) -> Job:
    return Job(
        id=job_id, repo="acme/w", sha="a" * 40, context="unit-tests", command=["true"],
        image="img", clone_url="http://127.0.0.1/acme/w.git",
    )  # fmt: skip


def message(headers: dict[str, object] | None = None) -> amqp.Message:
    return amqp.Message(b"{}", "m", redelivered=False, headers=headers or {}, timestamp=None)


def ids(inside: bool, count: int) -> list[str]:
    """`count` job ids inside (or outside) a share of 0.25."""
    found = (f"job-{n}" for n in range(10_000))
    return [i for i in found if (share_of(i) < 0.25) == inside][:count]


def test_the_share_is_uniform_over_job_ids() -> None:
    taken = sum(share_of(f"job-{n:012x}") < 0.25 for n in range(8000))
    assert 0.23 < taken / 8000 < 0.27


def test_runs_its_share_and_declines_the_rest_pausing_longer_for_the_same_job(
    tmp_path: Path,
) -> None:
    worker = Canary(config(tmp_path))
    assert worker.declines(message(), job(ids(True, 1)[0])) is None
    outside = job(ids(False, 1)[0])
    pauses = [worker.declines(message(), outside) for _ in range(4)]
    first = canary.DECLINE_PAUSE
    assert pauses == [amqp.Decline(first * p) for p in (1, 2, 4, 8)]
    # Any other job starts again from the shortest pause.
    assert worker.declines(message(), job(ids(False, 2)[1])) == amqp.Decline(first)


def test_never_takes_a_job_a_canary_failed_and_republishes_one_requeued_often(
    tmp_path: Path,
) -> None:
    worker = Canary(config(tmp_path))
    inside = job(ids(True, 1)[0])
    assert isinstance(worker.declines(message({FAILED_HEADER: "r1"}), inside), amqp.Decline)
    often = message({"x-delivery-count": canary.REPUBLISH_AFTER})
    assert worker.declines(often, job(ids(False, 1)[0])) == amqp.HandOver({})


def test_its_jobs_log_into_a_folder_of_their_own(tmp_path: Path) -> None:
    assert Canary.own_folder(job("job-1")).log == "logs/job-1.canary/"


def test_rolls_back_past_the_threshold_and_stays_rolled_back(tmp_path: Path) -> None:
    health = ConsumerHealth()
    worker = Canary(config(tmp_path), health)
    assert worker.ended(job("j1"), internal=False) is None
    handed = [worker.ended(job(f"j{n}"), internal=True) for n in (2, 3)]
    assert handed == [amqp.HandOver({FAILED_HEADER: "r2"})] * 2
    # 2 of the last 4 jobs: not more than half yet.
    assert not worker.halt.is_set()
    worker.ended(job("j4"), internal=True)
    assert worker.rolled_back
    assert worker.halt.is_set()
    assert (tmp_path / "state" / "canary-r2.rolled-back").is_file()
    ready = health.readiness()
    assert not ready.ok
    assert "rolled back" in ready.text
    # Once rolled back, it takes nothing, and a restart changes nothing.
    assert worker.declines(message(), job(ids(True, 1)[0])) is amqp.Outcome.REQUEUE
    again = Canary(config(tmp_path), ConsumerHealth())
    assert again.rolled_back
    # Another release's canary starts afresh.
    assert not Canary(config(tmp_path, release="r3")).rolled_back


def test_a_canary_needs_a_release_and_a_share_in_range(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs its release"):
        config(tmp_path, release="")
    with pytest.raises(ConfigError, match="share"):
        config(tmp_path, canary_share=1.5)
    with pytest.raises(ConfigError, match="release"):
        config(tmp_path, release="bad name")
    assert config(tmp_path).signature == "c1, release r2"


def test_a_window_of_zero_from_the_command_line_is_refused(tmp_path: Path) -> None:
    # 0 is a value given, not an option left out: the check refuses it.
    with pytest.raises(ConfigError, match="window"):
        from_environment(release="r", canary_share=0.5, canary_window=0)
