"""GitHub's JSON shapes, shared by the REST answers and the webhook payloads.

GitHub uses the same objects in both (a webhook's `pull_request` is the REST pull
request), so one builder serves both. URLs come from `Urls`: REST answers use the
address the client called (PyGithub only follows URLs on its own host), webhooks
the server's public address.
"""

import base64
from dataclasses import dataclass
from typing import Any

from mock_github.gitstore import CommitInfo
from mock_github.records import Account, Comment, Event, Hook, Issue, Label, Repo, Status, pull_of
from mock_github.state import State

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Urls:
    web: str  # e.g. http://127.0.0.1:8080 (html_url, clone_url)
    api: str  # the REST root: the same, or …/api/v3

    def repo(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"


class Shapes:
    def __init__(self, state: State, urls: Urls):
        self.state = state
        self.urls = urls

    def user(self, login: str) -> JsonDict:
        account = self.state.account(login)
        api = f"{self.urls.api}/users/{account.login}"
        return {
            "login": account.login,
            "id": account.id,
            "node_id": f"U_{account.id}",
            "avatar_url": f"{self.urls.web}/avatars/{account.login}",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.urls.web}/{account.login}",
            "followers_url": f"{api}/followers",
            "repos_url": f"{api}/repos",
            "organizations_url": f"{api}/orgs",
            "type": account.type,
            "site_admin": False,
        }

    def full_user(self, account: Account) -> JsonDict:
        return {**self.user(account.login), "name": account.name, "email": account.email}

    def org(self, account: Account) -> JsonDict:
        api = f"{self.urls.api}/orgs/{account.login}"
        return {
            "login": account.login,
            "id": account.id,
            "node_id": f"O_{account.id}",
            "url": api,
            "repos_url": f"{api}/repos",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"{self.urls.web}/avatars/{account.login}",
            "description": None,
        }

    def repo(self, repo: Repo) -> JsonDict:
        api = self.urls.repo(repo)
        web = f"{self.urls.web}/{repo.full_name}"
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "owner": self.user(repo.owner),
            "html_url": web,
            "description": repo.description,
            "fork": False,
            "url": api,
            "pulls_url": f"{api}/pulls{{/number}}",
            "issues_url": f"{api}/issues{{/number}}",
            "statuses_url": f"{api}/statuses/{{sha}}",
            "commits_url": f"{api}/commits{{/sha}}",
            "contents_url": f"{api}/contents/{{+path}}",
            "hooks_url": f"{api}/hooks",
            "git_url": f"{web}.git",
            "ssh_url": f"{web}.git",
            "clone_url": f"{web}.git",
            "svn_url": web,
            "homepage": None,
            "size": 0,
            "default_branch": repo.default_branch,
            "archived": False,
            "disabled": False,
            "has_issues": True,
            "open_issues_count": sum(1 for i in repo.issues.values() if i.state == "open"),
            "created_at": repo.created_at,
            "updated_at": repo.pushed_at,
            "pushed_at": repo.pushed_at,
        }

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

    def _labels(self, repo: Repo, issue: Issue) -> list[JsonDict]:
        return [self.label(repo, self.state.label(repo, name)) for name in issue.labels]

    def issue(self, repo: Repo, issue: Issue) -> JsonDict:
        api = f"{self.urls.repo(repo)}/issues/{issue.number}"
        shape = {
            "id": repo.id * 100000 + issue.number,
            "node_id": f"I_{repo.id}_{issue.number}",
            "url": api,
            "repository_url": self.urls.repo(repo),
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "html_url": f"{self.urls.web}/{repo.full_name}/"
            + ("pull" if issue.pull else "issues")
            + f"/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "title": issue.title,
            "body": issue.body,
            "user": self.user(issue.user),
            "labels": self._labels(repo, issue),
            "assignee": None,
            "assignees": [],
            "locked": False,
            "comments": len(issue.comments),
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "author_association": self.state.author_association(repo, issue.user),
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
            "comments_url": f"{self.urls.repo(repo)}/issues/{issue.number}/comments",
            "statuses_url": f"{self.urls.repo(repo)}/statuses/{pull.head_sha}",
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "user": self.user(issue.user),
            "body": issue.body,
            "labels": self._labels(repo, issue),
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
            "mergeable_state": "unknown" if pull.merged else "clean",
            "merged_by": self.user(pull.merged_by) if pull.merged_by else None,
            "comments": len(issue.comments),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": len(repo.git.commits_between(base_sha or None, pull.head_sha, 250)),
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
        }

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
        }

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

    def git_commit(self, repo: Repo, info: CommitInfo) -> JsonDict:
        api = self.urls.repo(repo)
        return {
            "sha": info.sha,
            "url": f"{api}/git/commits/{info.sha}",
            "author": {
                "name": info.author_name,
                "email": info.author_email,
                "date": info.author_date,
            },
            "committer": {
                "name": info.committer_name,
                "email": info.committer_email,
                "date": info.committer_date,
            },
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "comment_count": 0,
        }

    def commit(self, repo: Repo, sha: str) -> JsonDict:
        info = repo.git.commit_info(sha)
        api = self.urls.repo(repo)
        changes = repo.git.changed_files(info.parents[0] if info.parents else None, sha)
        status_name = {"added": "added", "removed": "removed", "modified": "modified"}
        files = [
            {
                "filename": path,
                "status": status_name[kind],
                "additions": 0,
                "deletions": 0,
                "changes": 0,
            }
            for kind, paths in changes.items()
            for path in paths
        ]
        return {
            "sha": sha,
            "node_id": f"C_{sha}",
            "url": f"{api}/commits/{sha}",
            "html_url": f"{self.urls.web}/{repo.full_name}/commit/{sha}",
            "comments_url": f"{api}/commits/{sha}/comments",
            "commit": self.git_commit(repo, info),
            "author": None,
            "committer": None,
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/commits/{p}",
                    "html_url": f"{self.urls.web}/{repo.full_name}/commit/{p}",
                }
                for p in info.parents
            ],
            "files": files,
        }

    def content(self, repo: Repo, path: str, ref: str, blob: str, data: bytes) -> JsonDict:
        api = f"{self.urls.repo(repo)}/contents/{path}?ref={ref}"
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": base64.encodebytes(data).decode(),
            "sha": blob,
            "url": api,
            "git_url": f"{self.urls.repo(repo)}/git/blobs/{blob}",
            "html_url": f"{self.urls.web}/{repo.full_name}/blob/{ref}/{path}",
            "download_url": None,
            "_links": {
                "self": api,
                "git": f"{self.urls.repo(repo)}/git/blobs/{blob}",
                "html": None,
            },
        }

    def dir_entry(
        self, repo: Repo, path: str, ref: str, entry: tuple[str, str, str, int]
    ) -> JsonDict:
        name, kind, sha, size = entry
        full = f"{path}/{name}" if path else name
        api = f"{self.urls.repo(repo)}/contents/{full}?ref={ref}"
        return {
            "type": kind,
            "size": size,
            "name": name,
            "path": full,
            "sha": sha,
            "url": api,
            "git_url": None,
            "html_url": None,
            "download_url": None,
            "_links": {"self": api, "git": None, "html": None},
        }

    def git_ref(self, repo: Repo, ref: str, sha: str) -> JsonDict:
        return {
            "ref": ref,
            "node_id": f"REF_{repo.id}_{ref}",
            "url": f"{self.urls.repo(repo)}/git/{ref}",
            "object": {
                "sha": sha,
                "type": "commit",
                "url": f"{self.urls.repo(repo)}/git/commits/{sha}",
            },
        }

    def hook(self, repo: Repo, hook: Hook) -> JsonDict:
        api = f"{self.urls.repo(repo)}/hooks/{hook.id}"
        last = hook.deliveries[-1] if hook.deliveries else None
        return {
            "type": "Repository",
            "id": hook.id,
            "name": "web",
            "active": hook.active,
            "events": hook.events,
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": hook.url,
                **({"secret": "********"} if hook.secret else {}),
            },
            "updated_at": hook.created_at,
            "created_at": hook.created_at,
            "url": api,
            "test_url": f"{api}/test",
            "ping_url": f"{api}/pings",
            "deliveries_url": f"{api}/deliveries",
            "last_response": {
                "code": last.status_code if last else None,
                "status": last.status if last else "unused",
                "message": None,
            },
        }

    # Webhook payloads

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
        if event.name == "status":
            status = next(s for s in repo.statuses[fields["sha"]] if s.id == fields["id"])
            payload.update(self.status(repo, status, fields["sha"]))
            payload.update(
                sha=fields["sha"],
                name=repo.full_name,
                commit=self.commit(repo, fields["sha"]),
                branches=[],
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
                comment = next(c for c in issue.comments if c.id == fields["comment_id"])
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
