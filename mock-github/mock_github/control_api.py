"""The control API under `/_mock/`: what a person or a test does on github.com.

Each action answers with GitHub's shape of what it made (the repository, the pull
request, the comment…) and delivers the webhooks GitHub would send for it before
the answer is sent, so a caller that gets the answer knows its webhooks were tried.
The control API has no authentication: it stands for the people using GitHub, and
the mock is meant for local and test deployments only. The acting user is named
in the request (`user`/`sender`), defaulting to the repository owner.
"""

from pathlib import Path
from typing import Any

from mock_github.errors import ApiError
from mock_github.rest.handlers import Handlers
from mock_github.routing import Request, Response, Router


def _files(request: Request) -> dict[str, str | None]:
    files: dict[str, str | None] = request.field("files", dict, {})
    for path, content in files.items():
        if (
            not isinstance(content, str | None)
            or not path
            or path.startswith("/")
            or ".." in path.split("/")
        ):
            raise ApiError(
                422, f"Invalid request.\n\nFor 'properties/files', {path!r:.60} is not a file."
            )
    return files


class ControlApi(Handlers):
    def register(self, router: Router) -> None:
        base = "/_mock/repos/{owner}/{repo}"
        router.add("GET", "/_mock/healthz", self.healthz)
        router.add("POST", "/_mock/users", self.add_user)
        router.add("POST", "/_mock/orgs/{org}/members", self.add_member)
        router.add("PUT", "/_mock/webhook", self.set_webhook)
        router.add("GET", "/_mock/deliveries", self.deliveries)
        router.add("POST", "/_mock/repos", self.create_repo)
        router.add("POST", base + "/hooks", self.add_hook)
        router.add("POST", base + "/collaborators", self.add_collaborator)
        router.add("POST", base + "/push", self.push)
        router.add("POST", base + "/pulls", self.open_pull)
        router.add("PATCH", base + "/pulls/{number}", self.update_pull)
        router.add("POST", base + "/pulls/{number}/merge", self.merge_pull)
        router.add("POST", base + "/issues", self.open_issue)
        router.add("POST", base + "/issues/{number}/comments", self.comment)
        router.add("POST", base + "/issues/{number}/labels", self.label)

    def healthz(self, request: Request) -> Response:
        return Response(200, {"status": "ok"})

    def add_user(self, request: Request) -> Response:
        login = request.field("login", str)
        kind = request.field("type", str, None)
        if kind not in (None, "User", "Bot", "Organization"):
            raise ApiError(422, "Validation Failed", [{"field": "type", "code": "invalid"}])
        account = self.state.account(login, kind)
        account.name = request.field("name", str, account.name)
        account.email = request.field("email", str, account.email)
        token = request.field("token", str, None)
        if token:
            self.state.add_token(token, account.login)
        return Response(201, self.shapes(request).full_user(account))

    def add_member(self, request: Request) -> Response:
        org = request.params["org"]
        login = request.field("login", str)
        self.state.add_org_member(
            org, login, request.field("public", bool, True), request.field("role", str, "member")
        )
        return Response(204)

    def set_webhook(self, request: Request) -> Response:
        url = request.field("url", str)
        events = self.state.set_default_hook(url, request.field("secret", str, None))
        return Response(200, {"url": url}, events=events)

    def deliveries(self, request: Request) -> Response:
        """Every delivery of every hook, oldest first, optionally of one event type."""
        wanted = request.query.get("event")
        found = [
            {**d.detail(), "hook_url": hook.url}
            for repo in self.state.repos.values()
            for hook in repo.hooks.values()
            for d in hook.deliveries
            if wanted in (None, d.event)
        ]
        return Response(200, sorted(found, key=lambda d: int(d["id"])))

    def create_repo(self, request: Request) -> Response:
        directory = request.field("directory", str, None)
        repo, events = self.state.create_repo(
            request.field("full_name", str),
            default_branch=request.field("default_branch", str, "main"),
            directory=Path(directory) if directory else None,
            files=_files(request),
            message=request.field("message", str, "Initial commit"),
            author=request.field("user", str, None),
            description=request.field("description", str, None),
        )
        return Response(201, self.shapes(request).repo(repo), events=events)

    def add_hook(self, request: Request) -> Response:
        repo = self.repo_of(request)
        url = request.field("url", str)
        events = self.state.add_hook(
            repo, url, request.field("secret", str, None), request.field("events", list, None)
        )
        hook = next(h for h in repo.hooks.values() if h.url == url)
        return Response(201, self.shapes(request).hook(repo, hook), events=events)

    def add_collaborator(self, request: Request) -> Response:
        self.state.add_collaborator(
            self.repo_of(request),
            request.field("login", str),
            request.field("permission", str, "push"),
        )
        return Response(204)

    def push(self, request: Request) -> Response:
        repo = self.repo_of(request)
        sha, events = self.state.push(
            repo,
            request.field("branch", str, repo.default_branch),
            _files(request),
            message=request.field("message", str, "Update files"),
            author=request.field("user", str, None),
            start=request.field("from", str, None),
        )
        return Response(201, self.shapes(request).commit(repo, sha), events=events)

    def open_pull(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue, events = self.state.open_pull(
            repo,
            head=request.field("head", str),
            base=request.field("base", str, None),
            title=request.field("title", str, "A pull request"),
            body=request.field("body", str, None),
            user=request.field("user", str, repo.owner),
            head_repo=request.field("head_repo", str, None),
            draft=request.field("draft", bool, False),
        )
        return Response(201, self.shapes(request).pull(repo, issue), events=events)

    def update_pull(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.pull(repo, request.number())
        changes: dict[str, Any] = {
            key: request.field(key, str)
            for key in ("title", "body", "state", "base")
            if key in request.json()
        }
        events = self.state.edit_issue(
            repo, issue, changes, request.field("sender", str, repo.owner)
        )
        return Response(200, self.shapes(request).pull(repo, issue), events=events)

    def merge_pull(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.pull(repo, request.number())
        _, events = self.state.merge_pull(repo, issue, request.field("sender", str, repo.owner))
        return Response(200, self.shapes(request).pull(repo, issue), events=events)

    def open_issue(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue, events = self.state.create_issue(
            repo,
            request.field("title", str),
            request.field("body", str, None),
            request.field("user", str, repo.owner),
        )
        return Response(201, self.shapes(request).issue(repo, issue), events=events)

    def comment(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        made, events = self.state.comment(
            repo, issue, request.field("user", str, repo.owner), request.field("body", str)
        )
        return Response(201, self.shapes(request).comment(repo, made), events=events)

    def label(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        names = request.field("labels", list)
        if not all(isinstance(n, str) for n in names):
            raise ApiError(
                422, "Invalid request.\n\nFor 'properties/labels', items must be strings."
            )
        events = self.state.add_labels(repo, issue, names, request.field("sender", str, repo.owner))
        return Response(200, self.shapes(request).issue(repo, issue), events=events)
