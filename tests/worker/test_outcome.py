"""Outcome → commit status: the whole table, in one place."""

import pytest

from tasks.forge import Status
from tasks.worker.checkout import ChangeError, CheckoutError, RebaseFailed
from tasks.worker.outcome import final_status, in_progress
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
        (None, CheckoutError("fetch failed"), ("error", "Internal error [w1]")),
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
