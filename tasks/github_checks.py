"""The forge port's `Statuses` as check runs (part of the adapter `tasks.github`, whose
quoting and retry policy it shares): in App mode each job is a check run named by its
context, instead of a commit status (docs/tasks-bot.md, "Check runs").

A status maps to a check run's phase:

| status | check run |
|---|---|
| `pending` "In progress …" (the worker took the job) | `in_progress`, `started_at` |
| other `pending` ("Not yet tested", "Manual testing required", "Requeued …") | `queued` |
| `success` / `failure` | `completed`, conclusion `success` / `failure` |
| `error` "Cancelled" | `completed`, `cancelled` |
| other `error` (nobody's verdict on the change) | `completed`, `failure` |

The description is the output's title and summary, the log link the `details_url`. A
status for a context whose newest run of this App on the sha is still open updates that
run; after a completed one (a re-run), a new run starts. `latest` reads the runs back as
statuses: queued and in_progress are `pending`, and the description is the title, so the
bot's rules ("Not yet tested" lost, "Manual testing required") work unchanged.
"""

import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ouro import jsonutil, validate
from ouro.retry import Sleep
from tasks import github_conditional
from tasks.forge import Status
from tasks.github import answer, repo_path, retried, segment

if TYPE_CHECKING:
    import github

log = logging.getLogger(__name__)

IN_PROGRESS = "In progress"
CANCELLED = "Cancelled"
PER_PAGE = 100
# A Link header that never ends must not keep a reader listing forever.
MAX_PAGES = 20
# GitHub's bound on a check run's output title.
TITLE_MAX = 255


def phase(status: Status) -> tuple[str, str | None]:
    """(the check run's `status`, its `conclusion`) for a commit status."""
    if status.state == "pending":
        if status.description.startswith(IN_PROGRESS):
            return "in_progress", None
        return "queued", None
    if status.state == "error":
        return "completed", "cancelled" if status.description == CANCELLED else "failure"
    return "completed", status.state


def as_status(run: jsonutil.JsonDict) -> Status:
    """A check run read back as the status it stands for."""
    name = jsonutil.get_str(run, "name")
    output = jsonutil.get_dict(run, "output")
    title = output.get("title")
    description = title if isinstance(title, str) else ""
    url = run.get("details_url")
    app = run.get("app")
    # Without a details_url of ours, GitHub shows the App's homepage there: no log link.
    homepages = (app.get("external_url"), app.get("html_url")) if isinstance(app, dict) else ()
    target = url if isinstance(url, str) and url and url not in homepages else None
    if jsonutil.get_str(run, "status") != "completed":
        return Status(name, "pending", description, target)
    conclusion = jsonutil.get_optional_str(run, "conclusion")
    state = {"success": "success", "failure": "failure", "timed_out": "failure"}.get(
        conclusion or "", "error"
    )
    return Status(name, state, description, target)


def _app_of(run: jsonutil.JsonDict) -> int | None:
    app = run.get("app")
    number = app.get("id") if isinstance(app, dict) else None
    return number if isinstance(number, int) else None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CheckRunStatuses:
    def __init__(
        self,
        client: "github.Github",
        app_id: int,
        *,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        """`app_id`: the App whose runs these are; other Apps' runs of a name are not ours."""
        self._client = client
        self._app_id = app_id
        self._sleep = sleep
        self._clock = clock

    def _request(self, verb: str, url: str, **kwargs: Any) -> Any:
        _, data = self._client.requester.requestJsonAndCheck(verb, url, **kwargs)
        return data

    def _runs(self, repo: str, sha: str, name: str | None = None) -> list[jsonutil.JsonDict]:
        """This App's check runs on `sha` (of one name), newest first."""
        url = f"/repos/{repo_path(repo)}/commits/{segment(sha)}/check-runs"
        params: dict[str, Any] = {"per_page": PER_PAGE, "filter": "all"}
        if name is not None:
            params["check_name"] = name
        found: list[jsonutil.JsonDict] = []
        for page in range(1, MAX_PAGES + 1):
            (ours, count), _ = github_conditional.get(
                self._client.requester, url, self._ours, {**params, "page": page}
            )
            found += ours
            if count < PER_PAGE:
                break
        return sorted(found, key=lambda r: int(r.get("id", 0)), reverse=True)

    def _ours(self, data: Any) -> tuple[list[jsonutil.JsonDict], int]:
        """This App's runs of a page of runs, and how many the page had."""
        runs = answer(functools.partial(jsonutil.get_list, data, "check_runs"), "listing runs")
        return [r for r in runs if isinstance(r, dict) and _app_of(r) == self._app_id], len(runs)

    def post(self, repo: str, sha: str, status: Status) -> None:
        validate.sha(sha)
        run_status, conclusion = phase(status)
        title = status.description[:TITLE_MAX]
        body: dict[str, Any] = {
            "status": run_status,
            "output": {"title": title, "summary": status.description or title},
        }
        if status.target_url:
            body["details_url"] = status.target_url
        if run_status == "in_progress":
            body["started_at"] = _now()
        if conclusion is not None:
            body.update(conclusion=conclusion, completed_at=_now())

        def call() -> None:
            runs = self._runs(repo, sha, status.context)
            open_run = runs[0] if runs and runs[0].get("status") != "completed" else None
            if open_run is None:
                url = f"/repos/{repo_path(repo)}/check-runs"
                self._request("POST", url, input={"name": status.context, "head_sha": sha, **body})
            else:
                number = int(open_run["id"])
                self._request("PATCH", f"/repos/{repo_path(repo)}/check-runs/{number}", input=body)

        what = f"check run {status.context} on {repo}@{sha[:12]}"
        retried(call, what, sleep=self._sleep, clock=self._clock)
        log.info("%s@%s %s: %s %s", repo, sha[:12], status.context, conclusion or run_status, title)

    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        validate.sha(sha)

        def call() -> dict[str, Status]:
            found: dict[str, Status] = {}
            for run in self._runs(repo, sha):
                status = answer(functools.partial(as_status, run), "reading a check run")
                found.setdefault(status.context, status)
            return found

        return retried(
            call, f"reading check runs of {repo}@{sha[:12]}", sleep=self._sleep, clock=self._clock
        )
