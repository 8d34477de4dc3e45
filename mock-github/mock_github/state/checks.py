"""Check runs and check suites in `State`, with GitHub's rules for creating and updating them.

GitHub lets only GitHub Apps write checks; the mock lets any token write them and takes
the acting account for the app: `NAME[bot]` is the app `NAME`, a user's token is an app
named after the user. GitHub groups the runs of one app on one commit into a check
suite, made with the first run; a suite's status and conclusion follow from the newest
run of each name.
"""

import re
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mock_github.errors import ApiError, not_found, validation_failed
from mock_github.records import Event, Repo, now
from mock_github.state.apps import AppState
from mock_github.state.commits import CommitState

RUN_STATUSES = ("queued", "in_progress", "completed")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
)
# A suite concludes with the first of these its runs have; else success, neutral, skipped.
_SEVERE = ("action_required", "cancelled", "timed_out", "failure", "stale")
_SHA = re.compile(r"[0-9a-fA-F]{7,40}")
MAX_OUTPUT = 65535  # GitHub's limit on output.summary and output.text


@dataclass
class CheckRun:
    id: int
    repo: str  # full name
    suite_id: int
    app: str  # the login that acts for the app (see the module's doc)
    name: str
    head_sha: str
    status: str = "queued"
    conclusion: str | None = None
    started_at: str = field(default_factory=now)
    completed_at: str | None = None
    details_url: str | None = None
    external_id: str = ""
    output: dict[str, str | None] = field(
        default_factory=lambda: {"title": None, "summary": None, "text": None}
    )


@dataclass
class CheckSuite:
    id: int
    repo: str
    app: str
    head_sha: str
    head_branch: str | None
    created_at: str
    updated_at: str
    runs: list[CheckRun] = field(default_factory=list)  # oldest first

    @property
    def latest(self) -> list[CheckRun]:
        """The newest run of each name: a re-run supersedes the run it repeats."""
        return list({run.name: run for run in self.runs}.values())

    @property
    def status(self) -> str:
        statuses = {run.status for run in self.latest}
        if statuses == {"completed"}:
            return "completed"
        return "queued" if statuses <= {"queued"} else "in_progress"

    @property
    def conclusion(self) -> str | None:
        if self.status != "completed":
            return None
        found = {run.conclusion for run in self.latest}
        for conclusion in (*_SEVERE, "success", "neutral"):
            if conclusion in found:
                return conclusion
        return "skipped"


def app_slug(login: str) -> str:
    """The app an account acts for: `ci[bot]` is the app `ci`."""
    return login.removesuffix("[bot]")


def _timestamp(name: str, value: Any) -> str:
    """An ISO 8601 time as GitHub takes it (naive means UTC), in GitHub's UTC form."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise validation_failed("CheckRun", name, f"{name} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _string(body: dict[str, Any], name: str, *, nullable: bool = False) -> Any:
    value = body[name]
    if not isinstance(value, str) and not (nullable and value is None):
        raise ApiError(
            422, f"Invalid request.\n\nFor 'properties/{name}', {value!r:.60} is not a string."
        )
    return value


def _output(value: Any) -> dict[str, str | None]:
    """`output` as GitHub takes it: `title` and `summary` required, `text` optional."""
    if not isinstance(value, dict):
        raise ApiError(422, "Invalid request.\n\nFor 'properties/output', it is not an object.")
    for key in ("title", "summary"):
        if key not in value:
            raise ApiError(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
    output = {key: _string(value, key) for key in ("title", "summary")}
    output["text"] = _string(value, "text", nullable=True) if "text" in value else None
    for key in ("summary", "text"):
        if len(output[key] or "") > MAX_OUTPUT:
            raise validation_failed(
                "CheckRun", f"output.{key}", f"{key} is too long (maximum is {MAX_OUTPUT})"
            )
    return output


def _apply(run: CheckRun, body: dict[str, Any]) -> None:
    """Set what `body` gives on `run`, as GitHub's create and update take it."""
    if "name" in body:
        if not _string(body, "name"):
            raise validation_failed("CheckRun", "name", "name can't be blank")
        run.name = body["name"]
    if "details_url" in body:
        run.details_url = _string(body, "details_url", nullable=True)
    if "external_id" in body:
        run.external_id = _string(body, "external_id", nullable=True) or ""
    if "output" in body:
        run.output = _output(body["output"])
    if body.get("started_at") is not None:
        run.started_at = _timestamp("started_at", body["started_at"])
    if "status" in body and body["status"] not in RUN_STATUSES:
        raise validation_failed("CheckRun", "status", "status is not included in the list")
    conclusion = body.get("conclusion")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        raise validation_failed("CheckRun", "conclusion", "conclusion is not included in the list")
    completing = conclusion is not None or body.get("status") == "completed"
    if completing or body.get("completed_at") is not None:
        # GitHub: a conclusion completes the run; completing needs a conclusion.
        if conclusion is None:
            raise ApiError(422, 'Invalid request.\n\n"conclusion" wasn\'t supplied.')
        run.status, run.conclusion = "completed", conclusion
        completed_at = body.get("completed_at")
        run.completed_at = _timestamp("completed_at", completed_at) if completed_at else now()
    elif "status" in body:
        run.status, run.conclusion, run.completed_at = body["status"], None, None


class CheckState(CommitState, AppState):
    def __init__(self, data_dir: Path):
        super().__init__(data_dir)
        self.check_runs: dict[int, CheckRun] = {}
        self.check_suites: dict[int, CheckSuite] = {}

    def check_run(self, repo: Repo, run_id: str) -> CheckRun:
        run = self.check_runs.get(int(run_id)) if run_id.isdigit() else None
        if run is None or run.repo != repo.full_name:
            raise not_found()
        return run

    def check_suite(self, repo: Repo, suite_id: str) -> CheckSuite:
        suite = self.check_suites.get(int(suite_id)) if suite_id.isdigit() else None
        if suite is None or suite.repo != repo.full_name:
            raise not_found()
        return suite

    def suite_of(self, run: CheckRun) -> CheckSuite:
        return self.check_suites[run.suite_id]

    def _find_suite(self, repo: Repo, app: str, sha: str) -> CheckSuite | None:
        for suite in self.check_suites.values():
            if (suite.repo, suite.app, suite.head_sha) == (repo.full_name, app, sha):
                return suite
        return None

    def _suite(self, repo: Repo, app: str, sha: str) -> CheckSuite:
        """The app's suite on `sha`, made on first use."""
        found = self._find_suite(repo, app, sha)
        if found is not None:
            return found
        branches = sorted(
            ref.removeprefix("refs/heads/")
            for ref, head in repo.git.refs().items()
            if head == sha and ref.startswith("refs/heads/")
        )
        stamp = now()
        suite = CheckSuite(
            self.next_id(), repo.full_name, app, sha, next(iter(branches), None), stamp, stamp
        )
        self.check_suites[suite.id] = suite
        return suite

    def refs_moved(
        self, repo: Repo, moves: dict[str, tuple[str | None, str | None]], pusher: str
    ) -> list[Event]:
        """A push's events, and GitHub's `check_suite` `requested` to each App installed on
        the repository for each new branch head: its suite there, still empty, is queued."""
        events = super().refs_moved(repo, moves, pusher)
        for ref, (_, after) in sorted(moves.items()):
            if after is None or not ref.startswith("refs/heads/"):
                continue
            for installation in self.installations.values():
                app = installation.app.bot
                if installation.covers(repo) and self._find_suite(repo, app, after) is None:
                    fields = {"check_suite_id": self._suite(repo, app, after).id, "sender": pusher}
                    events.append(Event(repo.full_name, "check_suite", "requested", fields))
        return events

    def create_check_run(
        self, repo: Repo, body: dict[str, Any], actor: str
    ) -> tuple[CheckRun, list[Event]]:
        for key in ("name", "head_sha"):
            if key not in body:
                raise ApiError(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
        head_sha = _string(body, "head_sha")
        sha = repo.git.resolve(head_sha) if _SHA.fullmatch(head_sha) else None
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {head_sha:.60}")
        app = self.account(actor).login
        run = CheckRun(0, repo.full_name, 0, app, "", sha)
        _apply(run, body)
        suite = self._suite(repo, app, sha)
        suite_was_completed = suite.status == "completed" and bool(suite.runs)
        run.id, run.suite_id = self.next_id(), suite.id
        self.check_runs[run.id] = run
        suite.runs.append(run)
        suite.updated_at = now()
        events = [self._run_event(run, "created", actor)]
        if run.status == "completed":
            events += self._completed(run, actor, suite_was_completed)
        return run, events

    def update_check_run(
        self, repo: Repo, run: CheckRun, body: dict[str, Any], actor: str
    ) -> list[Event]:
        self._own(run, actor)
        suite = self.suite_of(run)
        was_completed = run.status == "completed"
        suite_was_completed = suite.status == "completed"
        trial = replace(run)  # a refused update changes nothing
        _apply(trial, body)
        for name in (f.name for f in fields(CheckRun)):
            setattr(run, name, getattr(trial, name))
        suite.updated_at = now()
        if run.status != "completed" or was_completed:
            return []
        return self._completed(run, actor, suite_was_completed)

    def rerequest_check_run(self, run: CheckRun, sender: str, *, by_app: bool) -> list[Event]:
        """A person's "Re-run" on github.com, or the rerequest API (`by_app`: the run's app)."""
        if by_app:
            self._own(run, sender)
        if run.status != "completed":
            raise validation_failed("CheckRun", "status", "the check run is not rerequestable")
        return [self._run_event(run, "rerequested", sender)]

    def rerequest_check_suite(self, suite: CheckSuite, sender: str) -> list[Event]:
        """A person's "Re-run all checks" on github.com."""
        fields = {"check_suite_id": suite.id, "sender": self.account(sender).login}
        return [Event(suite.repo, "check_suite", "rerequested", fields)]

    def check_runs_of(self, repo: Repo, sha: str, query: dict[str, str]) -> list[CheckRun]:
        """The runs on `sha`, newest first, filtered as GitHub's list takes `query`."""
        status = query.get("status")
        if status is not None and status not in RUN_STATUSES:
            raise validation_failed("CheckRun", "status", "status is not included in the list")
        latest = query.get("filter", "latest")
        if latest not in ("latest", "all"):
            raise validation_failed("CheckRun", "filter", "filter is not included in the list")
        runs = [
            run
            for run in sorted(self.check_runs.values(), key=lambda r: -r.id)
            if run.repo == repo.full_name
            and run.head_sha == sha
            and query.get("check_name") in (None, run.name)
            and status in (None, run.status)
            and self._of_app(run.app, query)
        ]
        if latest == "all":
            return runs
        seen: set[tuple[str, str]] = set()
        newest = []
        for run in runs:  # the newest run of each name, per app
            if (run.app, run.name) not in seen:
                seen.add((run.app, run.name))
                newest.append(run)
        return newest

    def check_suites_of(self, repo: Repo, sha: str, query: dict[str, str]) -> list[CheckSuite]:
        name = query.get("check_name")
        return [
            suite
            for suite in sorted(self.check_suites.values(), key=lambda s: s.id)
            if suite.repo == repo.full_name
            and suite.head_sha == sha
            and self._of_app(suite.app, query)
            and (name is None or any(run.name == name for run in suite.runs))
        ]

    def _of_app(self, app: str, query: dict[str, str]) -> bool:
        return query.get("app_id") in (None, str(self.account(app).id))

    def _own(self, run: CheckRun, actor: str) -> None:
        if self.account(actor).login != run.app:
            raise ApiError(403, "Resource not accessible by integration")

    def _run_event(self, run: CheckRun, action: str, sender: str) -> Event:
        fields = {"check_run_id": run.id, "sender": self.account(sender).login}
        return Event(run.repo, "check_run", action, fields)

    def _completed(self, run: CheckRun, actor: str, suite_was_completed: bool) -> list[Event]:
        """`check_run.completed`, and `check_suite.completed` if that completed its suite."""
        events = [self._run_event(run, "completed", actor)]
        suite = self.suite_of(run)
        if suite.status == "completed" and not suite_was_completed:
            fields = {"check_suite_id": suite.id, "sender": self.account(actor).login}
            events.append(Event(run.repo, "check_suite", "completed", fields))
        return events
