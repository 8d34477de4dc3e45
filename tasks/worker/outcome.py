"""How a job's end becomes its commit status: the one place that decides
(docs/worker.md, "What a job goes through").

Exit code 0 is `success`. Any other exit code, a timeout, or an unusable change (a PR that
does not rebase, a bad `.ci/container`, no `.ci/run`) is `failure`: the change's fault.
A cancel and every other exception are `error`: nobody's verdict on the change. An error
says in a few words why the job could not run (`why`: a secret this worker lacks, the
checkout, the store…); its traceback goes to the log only. Such a job is dead-lettered
for replay once the cause is fixed (`needs_replay`).
"""

from ouro.store import StoreError, StoreRefused
from tasks.forge import Status
from tasks.worker.checkout import ChangeError, CheckoutError
from tasks.worker.runner import RunResult, Stop


class JobFailedToStart(Exception):
    """The worker cannot give the job what it asks for (e.g. a secret it does not have):
    the worker's fault, not the change's."""


def in_progress(context: str, worker: str, log_url: str) -> Status:
    return Status(context, "pending", f"In progress [{worker}]", log_url)


def handed_back(context: str, worker: str, log_url: str) -> Status:
    return Status(context, "pending", f"Requeued: worker {worker} stopped", log_url)


def canary_failed(context: str, worker: str, log_url: str) -> Status:
    """A canary worker failed the job with an internal error: a stable worker runs it again."""
    return Status(context, "pending", f"Requeued: internal error on canary [{worker}]", log_url)


def log_refused(context: str, worker: str) -> Status:
    """The store refused the log: no log URL to give, but the commit must not stay pending."""
    return Status(context, "error", f"Log store refused the upload [{worker}]")


def gave_up(context: str, worker: str, why: str, log_url: str | None = None) -> Status:
    """The job is dead-lettered for `why` (an outage outlasted its attempts, a refusal):
    the commit must not stay pending, and the reason is what the author can act on."""
    return Status(context, "error", f"{why} [{worker}]", log_url)


def why(error: BaseException) -> str:
    """Why a job could not run, in a few words for its status; the details are in its log."""
    if isinstance(error, JobFailedToStart):
        return str(error)
    if isinstance(error, CheckoutError):
        return "Checkout failed"
    if isinstance(error, StoreRefused):
        return "Log store refused an upload"
    if isinstance(error, StoreError):
        return "Log store unavailable"
    if isinstance(error, OSError) and error.strerror:
        # ENOSPC, EMFILE, a missing podman: the host's trouble, named by the system.
        return f"Worker error: {error.strerror}"
    return "Internal error"


def needs_replay(error: BaseException | None) -> bool:
    """Whether a run that raised `error` is kept (dead-lettered) to be run again once its
    cause is fixed: every error that is not the change's (a failure is a verdict)."""
    return error is not None and not isinstance(error, ChangeError)


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
        state, description = ("failure", f"{error}") if failed else ("error", why(error))
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
