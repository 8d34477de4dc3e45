"""Webhook payloads, built from the object shapes, and `Shapes`, the one builder of both.

GitHub's payloads nest the same objects as its REST answers, so `Shapes` joins the
object shapes (shapes/*.py) and adds the payload of each event.
"""

from typing import Any

from mock_github.records import Event, Hook, Repo, pull_of
from mock_github.shapes.base import JsonDict
from mock_github.shapes.checks import CheckShapes
from mock_github.shapes.diffs import DiffShapes
from mock_github.shapes.hooks import HookShapes
from mock_github.shapes.reviews import ReviewShapes
from mock_github.shapes.statuses import StatusShapes
from mock_github.shapes.teams import TeamShapes


class Shapes(ReviewShapes, DiffShapes, StatusShapes, CheckShapes, HookShapes, TeamShapes):
    def event_payload(self, event: Event, hook: Hook) -> JsonDict:
        repo = self.state.repo(event.repo)
        fields = event.fields
        payload: JsonDict = {}
        if event.action is not None:
            payload["action"] = event.action
        if event.name == "ping":
            payload.update(
                zen="Keep it logically awesome.",
                hook_id=hook.id,
                hook=self.hook(repo, hook),
                repository=self.repo(repo),
                sender=self.user(repo.owner),
            )
            return payload
        if event.name == "push":
            return self._push_payload(repo, fields)
        if event.name in ("create", "delete"):
            kind, _, name = fields["ref"].removeprefix("refs/").partition("/")
            payload.update(ref=name, ref_type="branch" if kind == "heads" else "tag")
            if event.name == "create":
                payload.update(master_branch=repo.default_branch, description=repo.description)
            payload["pusher_type"] = "user"
        elif event.name == "status":
            sha = fields["sha"]
            status = next(s for s in repo.statuses[sha] if s.id == fields["id"])
            payload.update(
                id=status.id,
                sha=sha,
                name=repo.full_name,
                target_url=status.target_url,
                avatar_url=None,
                context=status.context,
                description=status.description,
                state=status.state,
                commit=self._status_commit(repo, sha),
                branches=self.branches_at(repo, sha),
                created_at=status.created_at,
                updated_at=status.created_at,
            )
        elif event.name == "check_run":
            run = self.state.check_runs[fields["check_run_id"]]
            payload["check_run"] = self.check_run(repo, run)
        elif event.name == "check_suite":
            suite = self.state.check_suites[fields["check_suite_id"]]
            payload["check_suite"] = self.check_suite(repo, suite)
        elif event.name == "pull_request_review":
            issue = self.state.issue(repo, fields["number"])
            review = next(r for r in pull_of(issue).reviews if r.id == fields["review_id"])
            payload.update(
                review=self.webhook_review(repo, issue, review),
                pull_request=self.simple_pull(repo, issue),
            )
        else:
            issue = self.state.issue(repo, fields["number"])
            if event.name == "pull_request":
                payload.update(number=issue.number, pull_request=self.pull(repo, issue))
                for key in ("before", "after"):
                    if key in fields:
                        payload[key] = fields[key]
            else:
                payload["issue"] = self.issue(repo, issue)
            if event.name == "issue_comment":
                comment = fields.get("deleted") or next(
                    c for c in issue.comments if c.id == fields["comment_id"]
                )
                payload["comment"] = self.comment(repo, comment)
            if "changes" in fields:
                payload["changes"] = fields["changes"]
            if "label" in fields:
                payload["label"] = self.label(repo, self.state.label(repo, fields["label"]))
        payload.update(repository=self.repo(repo), sender=self.user(fields["sender"]))
        owner = self.state.accounts[repo.owner.lower()]
        if owner.type == "Organization":
            payload["organization"] = self.org(owner)
        return payload

    def _status_commit(self, repo: Repo, sha: str) -> JsonDict:
        """The commit as a status event nests it: no files, null for an unknown author."""
        commit = self.commit(repo, sha, files=False)
        commit["commit"] = {k: v for k, v in commit["commit"].items() if k != "sha"}
        del commit["commit"]["verification"]["verified_at"]
        for role in ("author", "committer"):
            commit[role] = commit[role] or None
        return commit

    def _push_payload(self, repo: Repo, fields: dict[str, Any]) -> JsonDict:
        before, after = fields["before"], fields["after"]
        deleted = set(after) == {"0"}
        commits = (
            []
            if deleted
            else [self._push_commit(repo, sha) for sha in repo.git.commits_between(before, after)]
        )
        pusher = self.state.account(fields["pusher"])
        return {
            "ref": fields["ref"],
            "before": before,
            "after": after,
            "created": set(before) == {"0"},
            "deleted": deleted,
            "forced": False,
            "base_ref": None,
            "compare": f"{self.urls.web}/{repo.full_name}/compare/{before[:12]}...{after[:12]}",
            "commits": commits,
            "head_commit": commits[-1] if commits else None,
            "repository": self.repo(repo),
            "pusher": {"name": pusher.login, "email": pusher.identity().email},
            "sender": self.user(pusher.login),
        }

    def _push_commit(self, repo: Repo, sha: str) -> JsonDict:
        info = repo.git.commit_info(sha)
        changes = repo.git.changed_files(info.parents[0] if info.parents else None, sha)
        return {
            "id": sha,
            "tree_id": info.tree,
            "distinct": True,
            "message": info.message,
            "timestamp": info.committer_date,
            "url": f"{self.urls.web}/{repo.full_name}/commit/{sha}",
            "author": {"name": info.author_name, "email": info.author_email},
            "committer": {"name": info.committer_name, "email": info.committer_email},
            **changes,
        }
