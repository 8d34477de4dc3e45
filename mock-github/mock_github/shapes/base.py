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
        """GitHub's simple-user: what every payload and answer nests for an account."""
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
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": account.type,
            "site_admin": False,
        }

    def full_user(self, account: Account, *, private: bool = False) -> JsonDict:
        """`GET /users/U` (public), or `GET /user` (private: the token's own account)."""
        public_repos = sum(1 for r in self.state.repos.values() if r.owner == account.login)
        shape = {
            **self.user(account.login),
            "user_view_type": "private" if private else "public",
            "name": account.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": account.email,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": public_repos,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": account.created_at,
            "updated_at": account.created_at,
        }
        if private:
            shape.update(
                private_gists=0,
                total_private_repos=0,
                owned_private_repos=0,
                disk_usage=0,
                collaborators=0,
                two_factor_authentication=False,
            )
        return shape

    def git_user(self, email: str) -> JsonDict:
        """The account a commit's author email belongs to, as GitHub links it ({} if none)."""
        for account in self.state.accounts.values():
            if account.type != "Organization" and account.identity().email == email:
                return self.user(account.login)
        return {}

    def org(self, account: Account) -> JsonDict:
        """The organization as payloads and memberships nest it (organization-simple)."""
        api = f"{self.urls.api}/orgs/{account.login}"
        return {
            "login": account.login,
            "id": account.id,
            "node_id": f"O_{account.id}",
            "url": api,
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events",
            "hooks_url": f"{api}/hooks",
            "issues_url": f"{api}/issues",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"{self.urls.web}/avatars/{account.login}",
            "description": None,
        }

    def full_org(self, account: Account) -> JsonDict:
        """`GET /orgs/O`: the organization with its counts and settings."""
        public = sum(1 for r in self.state.repos.values() if r.owner == account.login)
        return {
            **self.org(account),
            "html_url": f"{self.urls.web}/{account.login}",
            "type": "Organization",
            **({"name": account.name} if account.name else {}),
            **({"email": account.email} if account.email else {}),
            "has_organization_projects": True,
            "has_repository_projects": True,
            "public_repos": public,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": account.created_at,
            "updated_at": account.created_at,
            "archived_at": None,
        }

    def repo(self, repo: Repo) -> JsonDict:
        """The repository as payloads and pull requests nest it (GitHub's `repository`)."""
        api = self.urls.repo(repo)
        web = f"{self.urls.web}/{repo.full_name}"
        open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
        templates = {
            "forks": "/forks",
            "keys": "/keys{/key_id}",
            "collaborators": "/collaborators{/collaborator}",
            "teams": "/teams",
            "hooks": "/hooks",
            "issue_events": "/issues/events{/number}",
            "events": "/events",
            "assignees": "/assignees{/user}",
            "branches": "/branches{/branch}",
            "tags": "/tags",
            "blobs": "/git/blobs{/sha}",
            "git_tags": "/git/tags{/sha}",
            "git_refs": "/git/refs{/sha}",
            "trees": "/git/trees{/sha}",
            "statuses": "/statuses/{sha}",
            "languages": "/languages",
            "stargazers": "/stargazers",
            "contributors": "/contributors",
            "subscribers": "/subscribers",
            "subscription": "/subscription",
            "commits": "/commits{/sha}",
            "git_commits": "/git/commits{/sha}",
            "comments": "/comments{/number}",
            "issue_comment": "/issues/comments{/number}",
            "contents": "/contents/{+path}",
            "compare": "/compare/{base}...{head}",
            "merges": "/merges",
            "archive": "/{archive_format}{/ref}",
            "downloads": "/downloads",
            "issues": "/issues{/number}",
            "pulls": "/pulls{/number}",
            "milestones": "/milestones{/number}",
            "notifications": "/notifications{?since,all,participating}",
            "labels": "/labels{/name}",
            "releases": "/releases{/id}",
            "deployments": "/deployments",
        }
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
            **{f"{name}_url": api + path for name, path in templates.items()},
            "git_url": f"{web}.git",
            "ssh_url": f"{web}.git",
            "clone_url": f"{web}.git",
            "svn_url": web,
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "license": None,
            "size": 0,
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "open_issues_count": open_issues,
            "open_issues": open_issues,
            "default_branch": repo.default_branch,
            "topics": [],
            "is_template": False,
            "archived": False,
            "disabled": False,
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "allow_forking": True,
            "web_commit_signoff_required": False,
            "custom_properties": {},
            "created_at": repo.created_at,
            "updated_at": repo.pushed_at,
            "pushed_at": repo.pushed_at,
        }

    def full_repo(self, repo: Repo) -> JsonDict:
        """`GET /repos/O/R`: the repository with the counts only its own answer carries."""
        return {**self.repo(repo), "network_count": 0, "subscribers_count": 0}
