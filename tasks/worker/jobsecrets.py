"""The secrets a job names (docs/worker.md, "Secrets"): their files in the worker's secrets
folder, what the log must mask, and which are too short to mask."""

from pathlib import Path

from tasks.job import Job
from tasks.worker import refresh
from tasks.worker.joblog import MIN_SECRET, secret_variants
from tasks.worker.outcome import JobFailedToStart


def gather(
    job: Job, secrets_dir: Path, has_git_token: bool
) -> tuple[dict[str, Path], list[bytes], list[str]]:
    """The files of the secrets `job` names, what to mask, and which are too short to;
    `JobFailedToStart` if one is missing. `has_git_token`: an App's token pushes refreshes."""
    paths, masked, short = {}, [], []
    if (
        job.refresh is not None
        and not has_git_token
        and not refresh.token_file(secrets_dir, job.repo).is_file()
    ):
        # Known before a build of minutes, rather than after it.
        raise JobFailedToStart(f"No push token for {job.repo}")
    for name in job.secrets:
        path = secrets_dir / name
        if not path.is_file():
            raise JobFailedToStart(f"Secret {name!r} not configured")
        paths[name] = path
        value = path.read_bytes()
        masked += secret_variants(value)
        if len(value.strip()) < MIN_SECRET:
            short.append(name)
    return paths, masked, short
