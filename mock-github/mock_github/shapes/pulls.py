"""Pull request shapes: the pull request with its head and base branches."""

from mock_github.records import Issue, Repo, pull_of
from mock_github.shapes.base import JsonDict
from mock_github.shapes.issues import IssueShapes


class PullShapes(IssueShapes):
    def _branch(self, repo: Repo, ref: str, sha: str) -> JsonDict:
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(repo.owner),
            "repo": self.repo(repo),
        }

    def pull(self, repo: Repo, issue: Issue) -> JsonDict:
        pull = pull_of(issue)
        api = f"{self.urls.repo(repo)}/pulls/{issue.number}"
        html = f"{self.urls.web}/{repo.full_name}/pull/{issue.number}"
        head_repo = self.state.repo(pull.head_repo)
        base_sha = repo.git.resolve(f"refs/heads/{pull.base_ref}") or ""
        return {
            "url": api,
            "id": repo.id * 100000 + issue.number,
            "node_id": f"PR_{repo.id}_{issue.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{self.urls.repo(repo)}/issues/{issue.number}",
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "review_comment_url": f"{self.urls.repo(repo)}/pulls/comments{{/number}}",
            "comments_url": f"{self.urls.repo(repo)}/issues/{issue.number}/comments",
            "statuses_url": f"{self.urls.repo(repo)}/statuses/{pull.head_sha}",
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "active_lock_reason": None,
            "title": issue.title,
            "user": self.user(issue.user),
            "body": issue.body,
            # The description types a pull request's label descriptions as strings.
            "labels": [
                {**label, "description": label["description"] or ""}
                for label in self.labels(repo, issue)
            ],
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "milestone": None,
            "draft": pull.draft,
            "head": self._branch(head_repo, pull.head_ref, pull.head_sha),
            "base": self._branch(repo, pull.base_ref, base_sha),
            "author_association": self.state.author_association(repo, issue.user),
            "auto_merge": None,
            "merged": pull.merged,
            "mergeable": None if pull.merged else True,
            "rebaseable": None if pull.merged else True,
            "mergeable_state": "unknown" if pull.merged else "clean",
            "merged_by": self.user(pull.merged_by) if pull.merged_by else None,
            "comments": len(issue.comments),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": len(repo.git.commits_between(base_sha or None, pull.head_sha, 250)),
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
            "_links": {
                name: {"href": href}
                for name, href in (
                    ("self", api),
                    ("html", html),
                    ("issue", f"{self.urls.repo(repo)}/issues/{issue.number}"),
                    ("comments", f"{self.urls.repo(repo)}/issues/{issue.number}/comments"),
                    ("review_comments", f"{api}/comments"),
                    ("review_comment", f"{self.urls.repo(repo)}/pulls/comments{{/number}}"),
                    ("commits", f"{api}/commits"),
                    ("statuses", f"{self.urls.repo(repo)}/statuses/{pull.head_sha}"),
                )
            },
        }
