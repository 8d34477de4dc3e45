"""Issue shapes: issues (and a pull request's issue side), their labels and comments."""

from mock_github.records import Comment, Issue, Label, Repo
from mock_github.shapes.base import JsonDict, ShapesBase


class IssueShapes(ShapesBase):
    def label(self, repo: Repo, label: Label) -> JsonDict:
        return {
            "id": label.id,
            "node_id": f"LA_{label.id}",
            "url": f"{self.urls.repo(repo)}/labels/{label.name}",
            "name": label.name,
            "color": label.color,
            "default": False,
            "description": label.description,
        }

    def labels(self, repo: Repo, issue: Issue) -> list[JsonDict]:
        """The labels on `issue`."""
        return [self.label(repo, self.state.label(repo, name)) for name in issue.labels]

    def reactions(self, api: str) -> JsonDict:
        """No reactions: the mock has no way to add one."""
        kinds = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
        return {"url": f"{api}/reactions", "total_count": 0, **dict.fromkeys(kinds, 0)}

    def issue(self, repo: Repo, issue: Issue) -> JsonDict:
        api = f"{self.urls.repo(repo)}/issues/{issue.number}"
        shape = {
            "id": repo.id * 100000 + issue.number,
            "node_id": f"I_{repo.id}_{issue.number}",
            "url": api,
            "repository_url": self.urls.repo(repo),
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"{self.urls.web}/{repo.full_name}/"
            + ("pull" if issue.pull else "issues")
            + f"/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "title": issue.title,
            "body": issue.body,
            "user": self.user(issue.user),
            "labels": self.labels(repo, issue),
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": len(issue.comments),
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "author_association": self.state.author_association(repo, issue.user),
            "reactions": self.reactions(api),
        }
        if issue.pull:
            pull_api = f"{self.urls.repo(repo)}/pulls/{issue.number}"
            shape["pull_request"] = {
                "url": pull_api,
                "html_url": shape["html_url"],
                "diff_url": f"{shape['html_url']}.diff",
                "patch_url": f"{shape['html_url']}.patch",
                "merged_at": issue.pull.merged_at,
            }
        return shape

    def comment(self, repo: Repo, comment: Comment) -> JsonDict:
        api = f"{self.urls.repo(repo)}/issues/comments/{comment.id}"
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "url": api,
            "html_url": f"{self.urls.web}/{repo.full_name}/issues/{comment.issue_number}"
            f"#issuecomment-{comment.id}",
            "issue_url": f"{self.urls.repo(repo)}/issues/{comment.issue_number}",
            "body": comment.body,
            "user": self.user(comment.user),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "author_association": self.state.author_association(repo, comment.user),
            "performed_via_github_app": None,
            "reactions": self.reactions(api),
        }
