"""The base of GitHub's JSON shapes: URLs, and the accounts and repositories all shapes nest.

The shapes serve both the REST answers and the webhook payloads: GitHub uses the
same objects in both (a webhook's `pull_request` is the REST pull request). URLs
come from `Urls`: REST answers use the address the client called (PyGithub only
follows URLs on its own host), webhooks the server's public address.
"""

from dataclasses import dataclass
from typing import Any

from mock_github.records import Account, Repo
from mock_github.state import State

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Urls:
    web: str  # e.g. http://127.0.0.1:8080 (html_url, clone_url)
    api: str  # the REST root: the same, or …/api/v3

    def repo(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"


class ShapesBase:
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
