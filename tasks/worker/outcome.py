"""How a job's end becomes its commit status: the one place that decides
(docs/worker.md, "What a job goes through").

Exit code 0 is `success`. Any other exit code, a timeout, or an unusable change (a PR that
does not rebase, a bad `.ci/container`, no `.ci/run`) is `failure`: the change's fault.
A cancel and every other exception are `error`: nobody's verdict on the change. The
traceback of an internal error goes to the log only; the status says "Internal error".
"""

from tasks.forge import Status
from tasks.worker.checkout import ChangeError
from tasks.worker.runner import RunResult, Stop


def in_progress(context: str, worker: str, log_url: str) -> Status:
    return Status(context, "pending", f"In progress [{worker}]", log_url)


def handed_back(context: str, worker: str, log_url: str) -> Status:
    return Status(context, "pending", f"Requeued: worker {worker} stopped", log_url)


def log_refused(context: str, worker: str) -> Status:
    """The store refused the log: no log URL to give, but the commit must not stay pending."""
    return Status(context, "error", f"Log store refused the upload [{worker}]")


def duration_text(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def final_status(
    context: str,
    worker: str,
    log_url: str | None,
    timeout: int,
    *,
    result: RunResult | None = None,
    error: BaseException | None = None,
) -> Status | None:
    """The final status for a run that ended with `result` or raised `error`;
    None when the job is handed back to the queue (no verdict)."""
    if error is not None:
        failed = isinstance(error, ChangeError)
        state, description = ("failure", f"{error}") if failed else ("error", "Internal error")
        return Status(context, state, f"{description} [{worker}]", log_url)
    if result is None:
        raise ValueError("final_status needs a result or an error")
    if result.stopped is Stop.HANDED_BACK:
        return None
    if result.stopped is Stop.CANCELLED:
        state, description = "error", "Cancelled"
    elif result.timed_out:
        state, description = "failure", f"Timeout after {duration_text(timeout)}"
    elif result.exit_code == 0:
        state, description = "success", f"Success [{worker}]"
    else:
        state, description = "failure", f"Tests failed [{worker}]"
    return Status(context, state, description, log_url)
