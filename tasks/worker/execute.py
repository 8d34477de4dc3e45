"""A job's steps in its scratch folder: the checkout (and the tooling revision), the
command in its image, and an image refresh's push.

`service` wraps them: the statuses, the log's header and footer, attachments, and what
becomes of the message.
"""

from dataclasses import replace
from pathlib import Path

from tasks.job import Job
from tasks.worker import gitauth, refresh
from tasks.worker.checkout import checkout, container_image, fetch_revision
from tasks.worker.config import WorkerConfig
from tasks.worker.gitauth import GitToken
from tasks.worker.joblog import JobLog
from tasks.worker.runner import Control, JobSpec, Runner, RunResult, check_command


def execute(
    job: Job,
    control: Control,
    scratch: Path,
    secrets: dict[str, Path],
    joblog: JobLog,
    *,
    config: WorkerConfig,
    runner: Runner,
    git_token: GitToken | None,
) -> tuple[RunResult, str | None]:
    """How the command ended, and the sha an image refresh pushed (if any). `git_token`:
    an App installation's token for git, else None."""
    tooling = scratch / "tooling" if job.tooling_url else None
    spec = JobSpec(
        job, scratch / "source", scratch / "attachments", scratch, secrets, tooling=tooling
    )
    spec.attachments.mkdir()
    if control.reason is None:
        checkout(
            job,
            spec.source,
            joblog.write,
            retries=config.clone_retries,
            timeout=config.clone_timeout,
            rebase=config.rebase,
            auth=gitauth.for_url(git_token, job.checkout_url, job.clone_url),
        )
        if tooling is not None and job.tooling_url and job.tooling_sha:
            joblog.line(f"\nTooling: {job.tooling_url} at {job.tooling_sha}")
            fetch_revision(
                job.tooling_url, job.tooling_sha, tooling, joblog.write,
                retries=config.clone_retries, timeout=config.clone_timeout,
                auth=gitauth.for_url(git_token, job.tooling_url, job.clone_url),
            )  # fmt: skip
        joblog.line("")
    if control.reason is not None:
        return RunResult(None, stopped=control.reason), None
    check_command(spec)
    image = container_image(spec.source, job.image)
    if config.mode == "podman":
        joblog.line(f"Image: {image}\n")
    result = runner.run(replace(spec, image=image), joblog.write, control)
    if job.refresh is None or result.exit_code != 0:
        return result, None
    joblog.line("")
    pushed = refresh.publish(job, spec.source, config.secrets_dir, joblog.write, git_token)
    return result, pushed
