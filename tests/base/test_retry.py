"""The retry policy: backoff 1, 2, 4, 8 s for transient errors, none for the others."""

import github
import pytest
import requests

from ouro.retry import with_retries
from tasks.github import is_permanent, is_rate_limited, is_transient


class Flaky:
    def __init__(self, failures: list[Exception]):
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def server_error() -> github.GithubException:
    return github.GithubException(502, {"message": "Bad Gateway"}, None)


def test_transient_errors_are_retried_with_backoff() -> None:
    slept: list[float] = []
    call = Flaky([server_error(), requests.ConnectionError(), server_error()])
    assert with_retries(call, is_transient, "test", sleep=slept.append) == "ok"
    assert slept == [1.0, 2.0, 4.0]
    assert call.calls == 4


def test_gives_up_after_the_last_delay() -> None:
    slept: list[float] = []
    call = Flaky([server_error() for _ in range(5)])
    with pytest.raises(github.GithubException):
        with_retries(call, is_transient, "test", sleep=slept.append)
    assert slept == [1.0, 2.0, 4.0, 8.0]
    assert call.calls == 5


def test_client_errors_are_raised_at_once() -> None:
    slept: list[float] = []
    call = Flaky([github.GithubException(422, {"message": "Validation Failed"}, None)])
    with pytest.raises(github.GithubException):
        with_retries(call, is_transient, "test", sleep=slept.append)
    assert slept == []
    assert call.calls == 1


@pytest.mark.parametrize(
    ("error", "rate_limited", "permanent"),
    [
        (
            github.RateLimitExceededException(403, {"message": "API rate limit exceeded"}, None),
            True,
            False,
        ),
        (github.GithubException(429, {"message": "Too Many Requests"}, None), True, False),
        (github.GithubException(422, {"message": "Validation Failed"}, None), False, True),
        (github.UnknownObjectException(404, {"message": "Not Found"}, None), False, True),
        (github.BadCredentialsException(401, {"message": "Bad credentials"}, None), False, True),
        (server_error(), False, False),
        (requests.ConnectionError(), False, False),
    ],
)
def test_rate_limits_wait_and_other_4xx_are_permanent(
    error: Exception, rate_limited: bool, permanent: bool
) -> None:
    assert is_rate_limited(error) is rate_limited
    assert is_permanent(error) is permanent
