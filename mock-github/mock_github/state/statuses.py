"""Commit statuses in `State`, with GitHub's limits and its combined state."""

from typing import Any

from mock_github.errors import ApiError, validation_failed
from mock_github.records import Event, Repo, Status, now
from mock_github.state.base import StateBase

STATUS_STATES = ("error", "failure", "pending", "success")
MAX_STATUSES_PER_CONTEXT = 1000


class StatusState(StateBase):
    def add_status(
        self,
        repo: Repo,
        sha: str,
        *,
        state: Any,
        context: Any,
        description: Any,
        target_url: Any,
        creator: str,
    ) -> tuple[Status, list[Event]]:
        if state not in STATUS_STATES:
            raise validation_failed("Status", "state", "state is not included in the list")
        if not isinstance(context, str) or not context:
            raise validation_failed("Status", "context", "context must be a non-empty string")
        for name, value in (("description", description), ("target_url", target_url)):
            if value is not None and not isinstance(value, str):
                raise validation_failed("Status", name, f"{name} must be a string")
        if description is not None and len(description) > 140:
            raise validation_failed(
                "Status", "description", "description is too long (maximum is 140 characters)"
            )
        # A sha that already carries statuses is known to exist: skip the git call.
        full = sha if sha in repo.statuses else repo.git.resolve(sha) if len(sha) >= 7 else None
        if full is None:
            raise ApiError(422, f"No commit found for SHA: {sha}")
        existing = repo.statuses.setdefault(full, [])
        if sum(1 for s in existing if s.context == context) >= MAX_STATUSES_PER_CONTEXT:
            raise validation_failed(
                "Status",
                "context",
                "This SHA and context has reached the maximum number of statuses.",
            )
        status = Status(
            self.next_id(), state, description, target_url or None, context, creator, now()
        )
        existing.append(status)
        fields = {"id": status.id, "sha": full, "sender": creator}
        return status, [Event(repo.full_name, "status", None, fields)]

    def statuses(self, repo: Repo, sha: str) -> list[Status]:
        """All statuses of `sha`, newest first (GitHub's order)."""
        return list(reversed(repo.statuses.get(sha, [])))

    def latest_statuses(self, repo: Repo, sha: str) -> list[Status]:
        seen: dict[str, Status] = {}
        for status in self.statuses(repo, sha):
            seen.setdefault(status.context, status)
        return sorted(seen.values(), key=lambda s: s.id)

    def combined_state(self, statuses: list[Status]) -> str:
        states = {s.state for s in statuses}
        if states & {"error", "failure"}:
            return "failure"
        if not states or "pending" in states:
            return "pending"
        return "success"
