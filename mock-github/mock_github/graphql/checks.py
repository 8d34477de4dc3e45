"""A commit's `statusCheckRollup` in GraphQL: its latest commit statuses and check runs.

The rollup holds, as GitHub's does, the latest status of each context and the latest
check run of each name per app; `state` is FAILURE if any of them failed (a status
`error`/`failure`, a run concluding other than success, neutral or skipped), else PENDING
if any is pending or still running, else SUCCESS. A commit with neither has no rollup.
"""

from typing import Any

from mock_github.graphql.base import Context, Info, account, page
from mock_github.records import Repo, Status
from mock_github.shapes.checks import CheckShapes
from mock_github.state.checks import CheckRun

_PASSED = ("success", "neutral", "skipped")


def _not_required(info: Info, **_: Any) -> bool:
    """`isRequired`: no branch of the mock is protected, so no check is required."""
    return False


class StatusContextNode:
    typename = "StatusContext"
    isRequired = staticmethod(_not_required)

    def __init__(self, ctx: Context, status: Status):
        self.ctx = ctx
        self.id = f"SC_{status.id}"
        self.context = status.context
        self.state = status.state.upper()
        self.description = status.description
        self.targetUrl = status.target_url
        self.createdAt = status.created_at
        self.creator = account(ctx, status.creator)

    def avatarUrl(self, info: Info, size: int | None = None) -> None:
        return None


class CheckRunNode:
    typename = "CheckRun"
    isRequired = staticmethod(_not_required)

    def __init__(self, ctx: Context, repo: Repo, run: CheckRun):
        suite = ctx.state.suite_of(run)
        app = CheckShapes(ctx.state, ctx.urls).check_app(run.app)  # as the REST API has it
        self.id = f"CR_{run.id}"
        self.databaseId = run.id
        self.name = run.name
        self.status = run.status.upper()
        self.conclusion = run.conclusion.upper() if run.conclusion else None
        self.startedAt, self.completedAt = run.started_at, run.completed_at
        self.detailsUrl = run.details_url or app["external_url"]
        self.externalId = run.external_id
        self.permalink = self.url = f"{ctx.urls.web}/{repo.full_name}/runs/{run.id}"
        self.title, self.summary, self.text = (run.output[k] for k in ("title", "summary", "text"))
        self.checkSuite = {
            "id": f"CS_{suite.id}",
            "databaseId": suite.id,
            "status": suite.status.upper(),
            "conclusion": suite.conclusion.upper() if suite.conclusion else None,
            "app": {
                "id": app["node_id"],
                "databaseId": app["id"],
                "name": app["name"],
                "slug": app["slug"],
            },
            "workflowRun": None,  # GitHub Actions only
        }


def _context_state(node: StatusContextNode | CheckRunNode) -> str:
    if isinstance(node, StatusContextNode):
        return {"ERROR": "FAILURE"}.get(node.state, node.state)
    if node.status != "COMPLETED":
        return "PENDING"
    return "SUCCESS" if (node.conclusion or "").lower() in _PASSED else "FAILURE"


class RollupNode:
    typename = "StatusCheckRollup"

    def __init__(self, sha: str, contexts: list[StatusContextNode | CheckRunNode]):
        self.id = f"SCR_{sha}"
        self.nodes = contexts
        states = {_context_state(node) for node in contexts}
        self.state = next((s for s in ("FAILURE", "PENDING") if s in states), "SUCCESS")

    def contexts(self, info: Info, **paging: Any) -> dict[str, Any]:
        return page(info, self.nodes, **paging)


class CommitNode:
    typename = "Commit"

    def __init__(self, ctx: Context, repo: Repo, sha: str):
        self.ctx, self.repo = ctx, repo
        info = repo.git.commit_info(sha)
        self.id = f"C_{sha}"
        self.oid, self.abbreviatedOid = sha, sha[:7]
        self.message = info.message
        self.messageHeadline = info.message.split("\n", 1)[0]
        self.committedDate = info.committer_date
        self.url = f"{ctx.urls.web}/{repo.full_name}/commit/{sha}"

    @property
    def statusCheckRollup(self) -> RollupNode | None:
        state = self.ctx.state
        contexts: list[StatusContextNode | CheckRunNode] = [
            StatusContextNode(self.ctx, status)
            for status in state.latest_statuses(self.repo, self.oid)
        ]
        runs = state.check_runs_of(self.repo, self.oid, {})
        contexts += [CheckRunNode(self.ctx, self.repo, run) for run in reversed(runs)]
        return RollupNode(self.oid, contexts) if contexts else None
