"""Outcome → commit status: the whole table, in one place."""

import pytest

from ouro.store import StoreError, StoreRefused
from tasks.forge import Status
from tasks.worker.checkout import ChangeError, CheckoutError, RebaseFailed
from tasks.worker.outcome import JobFailedToStart, final_status, in_progress, needs_replay
from tasks.worker.runner import CommandNotFound, RunResult, Stop

URL = "http://store/logs/j/index.html"


@pytest.mark.parametrize(
    ("result", "error", "expected"),
    [
        (RunResult(0), None, ("success", "Success [w1]")),
        (RunResult(1), None, ("failure", "Tests failed [w1]")),
        (RunResult(137), None, ("failure", "Tests failed [w1]")),
        (RunResult(None, timed_out=True), None, ("failure", "Timeout after 2 minutes")),
        (RunResult(None, stopped=Stop.CANCELLED), None, ("error", "Cancelled")),
        (None, RuntimeError("boom"), ("error", "Internal error [w1]")),
        # Infrastructure: the status says why the job could not run.
        (None, CheckoutError("fetch failed"), ("error", "Checkout failed [w1]")),
        (
            None,
            JobFailedToStart("Secret 'x' not configured"),
            ("error", "Secret 'x' not configured [w1]"),
        ),
        (None, StoreRefused("PUT x: HTTP 401"), ("error", "Log store refused an upload [w1]")),
        (None, StoreError("PUT x: HTTP 503"), ("error", "Log store unavailable [w1]")),
        (
            None,
            OSError(28, "No space left on device"),
            ("error", "Worker error: No space left on device [w1]"),
        ),
        (None, RebaseFailed("Rebase on main failed"), ("failure", "Rebase on main failed [w1]")),
        (None, ChangeError("Invalid .ci/container"), ("failure", "Invalid .ci/container [w1]")),
        (
            None,
            CommandNotFound("No .ci/run in the repository"),
            ("failure", "No .ci/run in the repository [w1]"),
        ),
    ],
)
def test_outcome_to_status(
    result: RunResult | None, error: Exception | None, expected: tuple[str, str]
) -> None:
    status = final_status("ctx", "w1", URL, 120, result=result, error=error)
    assert status == Status("ctx", *expected, URL)


def test_only_errors_that_are_not_the_changes_are_replayed() -> None:
    assert needs_replay(CheckoutError("fetch failed"))
    assert needs_replay(RuntimeError("a bug"))
    assert not needs_replay(RebaseFailed("Rebase on main failed"))
    assert not needs_replay(CommandNotFound("No .ci/run in the repository"))
    assert not needs_replay(None)


def test_internal_error_keeps_the_traceback_out_of_the_status() -> None:
    status = final_status("ctx", "w1", URL, 60, error=ValueError("secret detail"))
    assert status is not None
    assert "secret detail" not in status.description


def test_handed_back_job_gets_no_verdict() -> None:
    assert (
        final_status("ctx", "w1", URL, 60, result=RunResult(None, stopped=Stop.HANDED_BACK)) is None
    )


@pytest.mark.parametrize(
    ("seconds", "text"), [(60, "1 minute"), (3600, "60 minutes"), (90, "90 seconds")]
)
def test_timeout_text(seconds: int, text: str) -> None:
    status = final_status("c", "w", URL, seconds, result=RunResult(None, timed_out=True))
    assert status is not None
    assert status.description == f"Timeout after {text}"


def test_in_progress_links_the_log() -> None:
    assert in_progress("ctx", "w1", URL) == Status("ctx", "pending", "In progress [w1]", URL)
