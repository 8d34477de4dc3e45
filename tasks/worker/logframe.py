"""What the worker writes into a job's log around the command's own output: who ran what
and why (a rerun after a lost worker, secrets too short to mask) before it, and how it
ended after it, so that the log page stands on its own without the commit status."""

from datetime import UTC, datetime

from tasks.forge import Status
from tasks.job import Job
from tasks.worker.config import WorkerConfig
from tasks.worker.joblog import MIN_SECRET, JobLog
from tasks.worker.runner import RunResult


def header(
    joblog: JobLog,
    job: Job,
    config: WorkerConfig,
    previous: Status | None,
    short_secrets: list[str],
) -> None:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    pr = f" (PR #{job.pr} onto {job.base_ref or '?'})" if job.pr is not None else ""
    joblog.line(f"Job {job.id}: {job.context} for {job.repo} at {job.sha}{pr}")
    joblog.line(f"Worker: {config.name} ({config.mode} mode)")
    role = " (canary)" if config.canary_share is not None else ""
    joblog.line(f"Release: {config.release or 'unnamed'}{role}")
    joblog.line(f"Started: {started}")
    joblog.line(f"Command: {job.command}")
    if job.source_url is not None:
        joblog.line(f"Testing: {job.source_url} at {job.source_sha}")
    if previous is not None and previous.description.startswith("In progress"):
        joblog.line(
            f"Note: this job was started before ({previous.description!r}) by a "
            "worker that stopped without finishing it; running it again."
        )
    if short_secrets:
        joblog.line(f"Warning: secrets {short_secrets} are under {MIN_SECRET} bytes: not masked.")
    joblog.line("")


def footer(joblog: JobLog, result: RunResult | None, seconds: float, status: Status | None) -> None:
    """`status` None: the job is handed back to the queue rather than ended."""
    joblog.line("")
    if result is not None and result.exit_code is not None:
        joblog.line(f"Exit code: {result.exit_code}")
    elif result is not None and result.timed_out:
        joblog.line("Killed: timeout")
    elif result is not None and result.stopped is not None:
        joblog.line(f"Killed: {result.stopped.value}")
    joblog.line(f"Duration: {seconds:.1f} s")
    joblog.line(
        f"Result: {status.state} {status.description}"
        if status
        else "Result: handed back to the queue, to run again"
    )
