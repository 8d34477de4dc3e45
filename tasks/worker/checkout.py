"""Check out the tested revision on the worker's host, to be mounted into the job's container.

Cloning on the host keeps git out of the job images and puts the clone's retries and
timeouts under the worker's control. git's output goes to the job's log, so a person
sees why a checkout failed.
"""

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tasks.job import IMAGE_PATTERN, Job
from tasks.worker.gitauth import GitEnv, no_credentials

Output = Callable[[bytes], None]

# Fixed identity for the rebase commits, and the commits of image refreshes.
IDENTITY = ["-c", "user.name=Ouroboros", "-c", "user.email=ouroboros@localhost"]
_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LC_ALL": "C",
}


class CheckoutError(Exception):
    """The repository could not be fetched (after retries): an infrastructure error."""


class ChangeError(Exception):
    """The tested change itself is unusable: its fault, so a `failure`, not an `error`."""


class RebaseFailed(ChangeError):
    """The PR does not apply on its base branch."""


def container_image(source: Path, default: str) -> str:
    """The image named by the checkout's `.ci/container` (first line that is not a comment),
    else `default` (the test map's image)."""
    path = source / ".ci" / "container"
    if not path.is_file():
        return default
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not names or not IMAGE_PATTERN.fullmatch(names[0]):
        raise ChangeError("Invalid .ci/container")
    return names[0]


def git(
    args: list[str],
    cwd: Path,
    output: Output,
    timeout: float,
    *,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> bool:
    """Run git, its output to the job's log; `env` adds settings that must not be shown
    (a push token's header goes there, never into `args`, which are logged)."""
    output(f"+ git {' '.join(args)}\n".encode())
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**_ENV, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        output(f"git {args[0]} timed out after {timeout:.0f}s\n".encode())
        if check:
            raise CheckoutError(f"git {args[0]} timed out") from None
        return False
    output(result.stdout)
    if result.returncode != 0 and check:
        raise CheckoutError(f"git {args[0]} failed with exit code {result.returncode}")
    return result.returncode == 0


def git_text(args: list[str], cwd: Path, timeout: float = 60.0) -> str:
    """git's output, for the worker to read rather than for the log."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, env=_ENV, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise CheckoutError(f"git {args[0]} timed out") from None
    if result.returncode != 0:
        raise CheckoutError(f"git {args[0]} failed: {result.stderr.strip()[:200]}")
    return result.stdout


def _fetch(target: Path, sha: str, output: Output, timeout: float, auth: GitEnv) -> None:
    # Servers speaking protocol v2 (GitHub, git http-backend) serve any reachable sha;
    # others only advertised refs, so fall back to every branch and PR head.
    fetch = ["fetch", "--no-tags", "origin"]
    if git([*fetch, sha], target, output, timeout, check=False, env=auth()):
        return
    refspecs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/pull/*/head:refs/remotes/origin/pr/*"]
    git([*fetch, *refspecs], target, output, timeout, env=auth())
    git(["cat-file", "-e", f"{sha}^{{commit}}"], target, output, timeout)


def _retried(
    step: Callable[[], None],
    what: str,
    output: Output,
    retries: int,
    sleep: Callable[[float], None],
) -> None:
    for attempt in range(retries + 1):
        try:
            step()
            return
        except CheckoutError as error:
            if attempt == retries:
                raise CheckoutError(f"{what}: {error} (after {retries + 1} attempts)") from None
            delay = 2.0**attempt
            output(f"{what} failed ({error}); retrying in {delay:.0f}s\n".encode())
            sleep(delay)


def fetch_revision(
    url: str,
    sha: str,
    target: Path,
    output: Output,
    *,
    retries: int = 3,
    timeout: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
    auth: GitEnv = no_credentials,
) -> None:
    """Leave `target` (created) with `sha` of the repository at `url` checked out; `auth`
    gives each fetch its credentials (tasks/worker/gitauth.py)."""
    target.mkdir(parents=True)
    git(["init", "--quiet"], target, output, timeout)
    git(["remote", "add", "origin", url], target, output, timeout)
    _retried(lambda: _fetch(target, sha, output, timeout, auth), "fetching", output, retries, sleep)
    git(["-c", "advice.detachedHead=false", "checkout", "--quiet", sha], target, output, 60)


def checkout(
    job: Job,
    target: Path,
    output: Output,
    *,
    retries: int = 3,
    timeout: float = 600.0,
    rebase: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    auth: GitEnv = no_credentials,
) -> None:
    """Leave `target` (created) with the job's revision checked out, rebased on `job.base_ref`
    for PRs. Not rebased: another repository's revision (`job.source_url`), and an image
    refresh, whose commit goes on top of the PR's head as it is."""
    fetch_revision(job.checkout_url, job.checkout_sha, target, output,
                   retries=retries, timeout=timeout, sleep=sleep, auth=auth)  # fmt: skip
    own = job.source_url is None and job.refresh is None
    if not (rebase and own and job.pr is not None and job.base_ref):
        return
    base = f"refs/remotes/origin/{job.base_ref}"
    refspec = f"+refs/heads/{job.base_ref}:{base}"

    def fetch_base() -> None:
        git(["fetch", "--no-tags", "origin", refspec], target, output, timeout, env=auth())

    _retried(fetch_base, f"fetching {job.base_ref}", output, retries, sleep)
    if not git([*IDENTITY, "rebase", "--quiet", base], target, output, timeout, check=False):
        git(["rebase", "--abort"], target, output, 60, check=False)
        raise RebaseFailed(f"Rebase on {job.base_ref} failed")
