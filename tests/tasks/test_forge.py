"""The forge port stays free of client libraries: pure code can use its types and errors
without loading PyGithub, requests or pika, and the adapter is the only way in."""

import logging
import subprocess
import sys

import pytest

from tasks.forge import (
    DryRunStatuses,
    ForgeError,
    ForgeNotFound,
    ForgeRateLimited,
    ForgeRefused,
    ForgeUnavailable,
    Status,
)


def loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("tasks.forge", {"github", "requests", "pika"}),
        ("tasks.interpret", {"github", "requests"}),
    ],
)
def test_no_client_library_is_loaded(module: str, forbidden: set[str]) -> None:
    assert loaded_after_import(module) & forbidden == set()


def test_errors_say_what_callers_may_do() -> None:
    refused = ForgeRefused(422, "422 Validation Failed")
    assert refused.status == 422
    assert str(refused) == "422 Validation Failed"
    assert ForgeRefused(401).args == ("HTTP 401",)
    # A 404 is a refusal: whatever catches refusals catches it too.
    assert isinstance(ForgeNotFound(), ForgeRefused)
    assert ForgeNotFound().status == 404
    limited = ForgeRateLimited(30.0, status=403)
    assert (limited.retry_after, limited.status) == (30.0, 403)
    # A rate limit is not a refusal (the request is right), nor is an outage.
    assert not isinstance(limited, ForgeRefused)
    assert not isinstance(ForgeUnavailable("down"), ForgeRefused)
    assert ForgeUnavailable("down").status is None
    for error in (refused, limited, ForgeUnavailable("down", 502)):
        assert isinstance(error, ForgeError)


def test_dry_run_remembers_what_it_would_post(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "tasks.forge")
    statuses = DryRunStatuses()
    statuses.post("o/r", "a" * 40, Status("ci", "pending", "Not yet tested"))
    statuses.post("o/r", "a" * 40, Status("ci", "success", "ok"))
    assert statuses.latest("o/r", "a" * 40) == {"ci": Status("ci", "success", "ok")}
    assert statuses.latest("o/r", "b" * 40) == {}
    assert "would post o/r@aaaaaaaaaaaa ci: success ok" in caplog.text
