"""Credentials for git over HTTP(S): a token sent as an `Authorization` header through git's
environment (`http.extraHeader` by `GIT_CONFIG_*`), never on a command line, never in the
job's log.

In App mode the token is the App installation's, asked for again before each git command
(`GitToken`), so one that expires during a long job is renewed rather than refused; and it
is only ever sent to the host of the job's own repository.
"""

import base64
import urllib.parse
from collections.abc import Callable

# The current token for git (renewed by the forge adapter when near its expiry), or None.
GitToken = Callable[[], str | None]
# The environment a git command needs for its credentials, computed just before it runs.
GitEnv = Callable[[], dict[str, str]]


def no_credentials() -> dict[str, str]:
    return {}


def header_env(token: str) -> dict[str, str]:
    """git's environment to send `token` as HTTP Basic (`x-access-token`), as GitHub takes
    a token for git."""
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def for_url(git_token: GitToken | None, url: str, home: str) -> GitEnv:
    """Credentials for git commands on `url`: the token's header if `url` is on the same
    scheme, host and port as `home` (the job's repository), else none."""
    if git_token is None or _origin(url) != _origin(home):
        return no_credentials

    def env() -> dict[str, str]:
        token = git_token()
        return header_env(token) if token else {}

    return env
