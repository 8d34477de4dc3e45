"""`ouro deploy canary report`'s figures and verdict (ouro/deploy/canary.py), on job records
made here; the acceptance test (tests/worker/test_canary_acceptance.py) reads real ones."""

from ouro.deploy.canary import side, verdict
from ouro.store.jobrecord import JobRecord


def record(state: str, seconds: float, *, internal: bool = False, release: str = "") -> JobRecord:
    return JobRecord(
        id="j", repo="acme/w", sha="a" * 40, context="unit-tests", worker="w", queue="tasks",
        log_url="http://x/logs/j/index.html", created=0.0, started=10.0, state=state,
        finished=10.0 + seconds, internal=internal, release=release,
    )  # fmt: skip


STABLE = side([record("success", 10), record("failure", 10), record("success", 12)])


def test_figures_of_a_side_leave_out_running_jobs() -> None:
    running = JobRecord(
        id="r", repo="acme/w", sha="b" * 40, context="c", worker="w", queue="tasks",
        log_url="u", created=0.0, started=1.0,
    )  # fmt: skip
    figures = side([record("error", 4, internal=True, release="r2"), record("success", 6), running])
    assert (figures.jobs, figures.success, figures.error, figures.internal) == (2, 1, 1, 1)
    assert figures.median == 5.0
    assert figures.releases == ("r2", "unnamed")
    assert figures.error_rate == figures.internal_rate == 0.5


def test_promote_only_a_canary_as_good_as_the_stable_workers() -> None:
    assert verdict(side([record("success", 11), record("failure", 9)]), STABLE)[0]
    no_jobs = verdict(side([]), STABLE)
    assert no_jobs == (False, "no canary job among them: nothing shows that its release works")
    internal = verdict(side([record("error", 1, internal=True), record("success", 10)]), STABLE)
    assert not internal[0]
    assert "internal-error rate 50%" in internal[1]
    cancelled = verdict(side([record("error", 1), record("success", 10)]), STABLE)
    assert not cancelled[0]
    assert "error rate 50%" in cancelled[1]
    slow = verdict(side([record("success", 16)]), STABLE)
    assert not slow[0]
    assert "median duration 16.0s above 1.5 times the stable workers' 10.0s" in slow[1]
    assert verdict(side([record("success", 16)]), STABLE, max_slowdown=2)[0]
