"""Commit status shapes: one status, and a commit's combined status."""

from mock_github.records import Repo, Status
from mock_github.shapes.base import JsonDict, ShapesBase


class StatusShapes(ShapesBase):
    def status(self, repo: Repo, status: Status, sha: str) -> JsonDict:
        return {
            "url": f"{self.urls.repo(repo)}/statuses/{sha}",
            "avatar_url": None,
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": status.created_at,
            "updated_at": status.created_at,
            "creator": self.user(status.creator),
        }

    def combined_status(self, repo: Repo, sha: str) -> JsonDict:
        latest = self.state.latest_statuses(repo, sha)
        return {
            "state": self.state.combined_state(latest),
            "statuses": [self.status(repo, s, sha) for s in latest],
            "sha": sha,
            "total_count": len(latest),
            "repository": self.repo(repo),
            "commit_url": f"{self.urls.repo(repo)}/commits/{sha}",
            "url": f"{self.urls.repo(repo)}/commits/{sha}/status",
        }
