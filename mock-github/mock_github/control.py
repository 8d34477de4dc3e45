"""A Python client for mock-github's control API (`/_mock/`), for tests and run-local.

    control = MockGitHubControl("http://127.0.0.1:8080")
    control.create_repo("acme/widget", files={".ci/run": "#!/bin/sh\\nmake check\\n"})
    pr = control.open_pr("acme/widget", "fix", files={"a.txt": "x"}, user="alice")
    control.comment("acme/widget", pr["number"], "/retest", user="bob")

Every call returns GitHub's JSON for what it made and comes back after the webhooks
it caused were delivered (or failed). Errors raise `ControlError` with the
status and GitHub's message.
"""

import urllib.parse
from pathlib import Path
from typing import Any

import requests

JsonDict = dict[str, Any]


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class MockGitHubControl:
    def __init__(self, url: str, timeout: float = 60.0, ca_file: Path | None = None):
        """`ca_file`: the CA that signed an HTTPS mock's certificate (default: the system's)."""
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        # Per request, not Session.verify, which REQUESTS_CA_BUNDLE would override.
        self._verify: str | bool = str(ca_file) if ca_file else True

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "MockGitHubControl":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: JsonDict | None = None) -> Any:
        if body is not None:
            body = {key: value for key, value in body.items() if value is not None}
        response = self._session.request(
            method, f"{self.url}/_mock{path}", json=body, timeout=self.timeout, verify=self._verify
        )
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        if response.status_code >= 400:
            message = data.get("message") if isinstance(data, dict) else response.text
            raise ControlError(response.status_code, str(message)[:500])
        return data

    # Accounts

    def add_user(
        self,
        login: str,
        *,
        token: str | None = None,
        name: str | None = None,
        email: str | None = None,
        type: str | None = None,
    ) -> JsonDict:
        """A user (or Bot/Organization); with `token`, REST calls with it act as this user."""
        body = {"login": login, "token": token, "name": name, "email": email, "type": type}
        result: JsonDict = self._call("POST", "/users", body)
        return result

    def add_org_member(
        self, org: str, login: str, *, public: bool = True, role: str = "member"
    ) -> None:
        self._call("POST", f"/orgs/{org}/members", {"login": login, "public": public, "role": role})

    def add_team_member(self, org: str, team: str, login: str, role: str = "member") -> JsonDict:
        """`login` in `org`'s team `team` (made if new), as an org owner adds them."""
        path = f"/orgs/{org}/teams/{urllib.parse.quote(team, safe='')}/members"
        result: JsonDict = self._call("POST", path, {"login": login, "role": role})
        return result

    def add_collaborator(self, repo: str, login: str, permission: str = "push") -> None:
        self._call(
            "POST", f"/repos/{repo}/collaborators", {"login": login, "permission": permission}
        )

    # Hooks

    def set_webhook(self, url: str, secret: str | None = None) -> None:
        """The hook every repository gets (existing and future ones); each new hook is pinged."""
        self._call("PUT", "/webhook", {"url": url, "secret": secret})

    def add_hook(
        self, repo: str, url: str, secret: str | None = None, events: list[str] | None = None
    ) -> JsonDict:
        result: JsonDict = self._call(
            "POST", f"/repos/{repo}/hooks", {"url": url, "secret": secret, "events": events}
        )
        return result

    def deliveries(self, event: str | None = None) -> list[JsonDict]:
        """Every delivery made so far (request headers and payload, response), oldest first."""
        result: list[JsonDict] = self._call(
            "GET", f"/deliveries?event={event}" if event else "/deliveries"
        )
        return result

    # Rate limits

    def set_rate_limit(
        self,
        limit: int | None = None,
        *,
        reset: bool = False,
        secondary: int | None = None,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> JsonDict:
        """A user's budget an hour (`limit`); `reset`: every budget starts again now;
        `secondary`: the next K REST requests get a secondary limit, answered `status`
        (403 or 429) with `Retry-After: retry_after`."""
        body = {
            "limit": limit,
            "reset": reset,
            "secondary": secondary,
            "status": status,
            "retry_after": retry_after,
        }
        result: JsonDict = self._call("POST", "/rate_limit", body)
        return result

    # Repositories and commits

    def create_repo(
        self,
        full_name: str,
        *,
        files: dict[str, str | None] | None = None,
        directory: str | Path | None = None,
        default_branch: str = "main",
        user: str | None = None,
        message: str | None = None,
    ) -> JsonDict:
        """A repository whose first commit holds `files`, or a snapshot of `directory`."""
        body = {
            "full_name": full_name,
            "files": files,
            "directory": str(Path(directory).resolve()) if directory else None,
            "default_branch": default_branch,
            "user": user,
            "message": message,
        }
        result: JsonDict = self._call("POST", "/repos", body)
        return result

    def push(
        self,
        repo: str,
        files: dict[str, str | None],
        *,
        branch: str | None = None,
        message: str | None = None,
        user: str | None = None,
        start: str | None = None,
    ) -> str:
        """Commit `files` (None deletes) on `branch`, created from `start`; the new sha."""
        body = {"branch": branch, "files": files, "message": message, "user": user, "from": start}
        result: JsonDict = self._call("POST", f"/repos/{repo}/push", body)
        return str(result["sha"])

    # Pull requests and issues

    def open_pr(
        self,
        repo: str,
        head: str,
        *,
        base: str | None = None,
        title: str = "A pull request",
        body: str | None = None,
        user: str | None = None,
        files: dict[str, str | None] | None = None,
        head_repo: str | None = None,
        draft: bool = False,
    ) -> JsonDict:
        """A PR from branch `head`; with `files`, the branch first gets a commit of them."""
        if files is not None:
            self.push(head_repo or repo, files, branch=head, user=user, start=base)
        request = {
            "head": head,
            "base": base,
            "title": title,
            "body": body,
            "user": user,
            "head_repo": head_repo,
            "draft": draft,
        }
        result: JsonDict = self._call("POST", f"/repos/{repo}/pulls", request)
        return result

    def update_pr(
        self, repo: str, number: int, *, sender: str | None = None, **changes: str
    ) -> JsonDict:
        """Change title, body, state or base (edited/closed/reopened webhooks)."""
        result: JsonDict = self._call(
            "PATCH", f"/repos/{repo}/pulls/{number}", {**changes, "sender": sender}
        )
        return result

    def close_pr(self, repo: str, number: int, sender: str | None = None) -> JsonDict:
        return self.update_pr(repo, number, state="closed", sender=sender)

    def merge_pr(self, repo: str, number: int, sender: str | None = None) -> JsonDict:
        result: JsonDict = self._call(
            "POST", f"/repos/{repo}/pulls/{number}/merge", {"sender": sender}
        )
        return result

    def open_issue(
        self, repo: str, title: str, body: str | None = None, user: str | None = None
    ) -> JsonDict:
        result: JsonDict = self._call(
            "POST", f"/repos/{repo}/issues", {"title": title, "body": body, "user": user}
        )
        return result

    def comment(self, repo: str, number: int, body: str, user: str | None = None) -> JsonDict:
        result: JsonDict = self._call(
            "POST", f"/repos/{repo}/issues/{number}/comments", {"body": body, "user": user}
        )
        return result

    def label(
        self, repo: str, number: int, labels: list[str], sender: str | None = None
    ) -> JsonDict:
        result: JsonDict = self._call(
            "POST", f"/repos/{repo}/issues/{number}/labels", {"labels": labels, "sender": sender}
        )
        return result

    # GitHub Apps

    def register_app(
        self,
        slug: str,
        owner: str,
        *,
        name: str | None = None,
        public_key: str | None = None,
        token_lifetime: float | None = None,
    ) -> JsonDict:
        """A GitHub App; without `public_key` the mock makes the key pair and the answer
        carries the private key as `pem`."""
        body = {
            "slug": slug,
            "owner": owner,
            "name": name,
            "public_key": public_key,
            "token_lifetime": token_lifetime,
        }
        result: JsonDict = self._call("POST", "/apps", body)
        return result

    def app(self, slug: str) -> JsonDict:
        """The App, with `tokens_issued`: how many installation tokens it was given."""
        result: JsonDict = self._call("GET", f"/apps/{slug}")
        return result

    def set_token_lifetime(self, slug: str, seconds: float) -> None:
        """How long the App's next installation tokens live."""
        self._call("PATCH", f"/apps/{slug}", {"token_lifetime": seconds})

    def install_app(
        self, slug: str, account: str, repositories: list[str] | None = None
    ) -> JsonDict:
        """The App installed on `account` (all its repositories, or those named)."""
        body = {"account": account, "repositories": repositories}
        result: JsonDict = self._call("POST", f"/apps/{slug}/installations", body)
        return result

    # Checks

    def rerun_check(self, repo: str, run_id: int, sender: str | None = None) -> JsonDict:
        """A person clicks "Re-run" on a check run: its app gets `check_run.rerequested`."""
        result: JsonDict = self._call(
            "POST", f"/repos/{repo}/check-runs/{run_id}/rerequest", {"sender": sender}
        )
        return result

    def rerun_check_suite(self, repo: str, suite_id: int, sender: str | None = None) -> JsonDict:
        """A person clicks "Re-run all checks": the suite's app gets `check_suite.rerequested`."""
        result: JsonDict = self._call(
            "POST", f"/repos/{repo}/check-suites/{suite_id}/rerequest", {"sender": sender}
        )
        return result
