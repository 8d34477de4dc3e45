"""REST routes for issues: reading and editing them, their comments, and labels."""

import json

from mock_github.errors import ApiError, not_found
from mock_github.records import Event, Issue, Repo
from mock_github.rest.handlers import REPO, Handlers
from mock_github.routing import Request, Response, Router, paginate
from mock_github.state import State


def edit(state: State, request: Request, issue: Issue, repo: Repo) -> list[Event]:
    """Apply a PATCH of an issue or a pull request (both edit the issue), with its events."""
    body = request.json()
    for key in ("title", "body", "state", "base"):
        if key in body and body[key] is not None and not isinstance(body[key], str):
            raise ApiError(422, f"Invalid request.\n\nFor 'properties/{key}', it is not a string.")
    return state.edit_issue(repo, issue, body, request.user())


class IssueRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("GET", REPO + "/issues", self.list_issues)
        router.add("POST", REPO + "/issues", self.create_issue)
        router.add("GET", REPO + "/issues/comments/{id}", self.get_comment)
        router.add("PATCH", REPO + "/issues/comments/{id}", self.update_comment)
        router.add("DELETE", REPO + "/issues/comments/{id}", self.delete_comment)
        router.add("GET", REPO + "/issues/{number}", self.get_issue)
        router.add("PATCH", REPO + "/issues/{number}", self.update_issue)
        router.add("GET", REPO + "/issues/{number}/comments", self.list_comments)
        router.add("POST", REPO + "/issues/{number}/comments", self.create_comment)
        router.add("GET", REPO + "/issues/{number}/labels", self.issue_labels)
        router.add("POST", REPO + "/issues/{number}/labels", self.add_issue_labels)
        router.add("DELETE", REPO + "/issues/{number}/labels/{name}", self.remove_issue_label)
        router.add("GET", REPO + "/labels", self.repo_labels)
        router.add("POST", REPO + "/labels", self.create_label)
        router.add("GET", REPO + "/labels/{name}", self.get_label)

    def list_issues(self, request: Request) -> Response:
        """Issues and pull requests (GitHub lists both; a pull request has `pull_request`),
        filtered by `state` (default open) and ordered by `sort` (created, updated or
        comments) in `direction` (default desc), as GitHub does."""
        repo = self.repo_of(request)
        wanted = request.query.get("state", "open")
        sort = request.query.get("sort", "created")
        direction = request.query.get("direction", "desc")
        for name, value, allowed in (
            ("state", wanted, ("open", "closed", "all")),
            ("sort", sort, ("created", "updated", "comments")),
            ("direction", direction, ("asc", "desc")),
        ):
            if value not in allowed:
                raise ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "Issue", "field": name, "code": "invalid"}],
                )
        found = [i for i in repo.issues.values() if wanted in ("all", i.state)]
        # Numbers follow creation; the second-resolution stamps alone would tie.
        keys = {
            "created": lambda i: (i.number,),
            "updated": lambda i: (i.updated_at, i.number),
            "comments": lambda i: (len(i.comments), i.number),
        }
        found.sort(key=keys[sort], reverse=direction == "desc")
        return paginate(request, [self.shapes(request).issue(repo, i) for i in found])

    def create_issue(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue, events = self.state.create_issue(
            repo,
            request.field("title", str),
            request.field("body", (str, type(None)), None),
            request.user(),
        )
        return Response(201, self.shapes(request).issue(repo, issue), events=events)

    def get_issue(self, request: Request) -> Response:
        repo = self.repo_of(request)
        return Response(
            200, self.shapes(request).issue(repo, self.state.issue(repo, request.number()))
        )

    def update_issue(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        events = edit(self.state, request, issue, repo)
        return Response(200, self.shapes(request).issue(repo, issue), events=events)

    def list_comments(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        return paginate(request, [self.shapes(request).comment(repo, c) for c in issue.comments])

    def create_comment(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        comment, events = self.state.comment(
            repo, issue, request.user(), request.field("body", str)
        )
        return Response(201, self.shapes(request).comment(repo, comment), events=events)

    def get_comment(self, request: Request) -> Response:
        repo = self.repo_of(request)
        _, comment = self.state.find_comment(repo, request.params["id"])
        return Response(200, self.shapes(request).comment(repo, comment))

    def update_comment(self, request: Request) -> Response:
        repo = self.repo_of(request)
        _, comment = self.state.find_comment(repo, request.params["id"])
        events = self.state.edit_comment(repo, comment, request.field("body", str), request.user())
        return Response(200, self.shapes(request).comment(repo, comment), events=events)

    def delete_comment(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue, comment = self.state.find_comment(repo, request.params["id"])
        return Response(204, events=self.state.delete_comment(repo, issue, comment, request.user()))

    def repo_labels(self, request: Request) -> Response:
        repo = self.repo_of(request)
        return paginate(
            request, [self.shapes(request).label(repo, lab) for lab in repo.labels.values()]
        )

    def get_label(self, request: Request) -> Response:
        repo = self.repo_of(request)
        found = repo.labels.get(request.params["name"].lower())
        if found is None:
            raise not_found()
        return Response(200, self.shapes(request).label(repo, found))

    def create_label(self, request: Request) -> Response:
        repo = self.repo_of(request)
        name = request.field("name", str)
        if name.lower() in repo.labels:
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "Label", "code": "already_exists", "field": "name"}],
            )
        label = self.state.label(repo, name)
        label.color = request.field("color", str, label.color)
        label.description = request.field("description", str, None)
        return Response(201, self.shapes(request).label(repo, label))

    def issue_labels(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        return Response(200, self.shapes(request).labels(repo, issue))

    def add_issue_labels(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        body = json.loads(request.raw_body) if request.raw_body.strip().startswith(b"[") else None
        names = body if body is not None else request.field("labels", list)
        if not all(isinstance(n, str) for n in names):
            raise ApiError(422, "Invalid request.\n\nFor 'items', it is not a string.")
        events = self.state.add_labels(repo, issue, names, request.user())
        return Response(200, self.shapes(request).labels(repo, issue), events=events)

    def remove_issue_label(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.issue(repo, request.number())
        events = self.state.remove_label(repo, issue, request.params["name"], request.user())
        return Response(200, self.shapes(request).labels(repo, issue), events=events)
