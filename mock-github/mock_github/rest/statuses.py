"""REST routes for commit statuses: creating and listing them, and the combined status."""

from mock_github.rest.handlers import REPO, Handlers
from mock_github.routing import Request, Response, Router, paginate


class StatusRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("GET", REPO + "/commits/{ref}/status", self.combined_status)
        router.add("GET", REPO + "/commits/{ref}/statuses", self.list_statuses)
        router.add("GET", REPO + "/statuses/{ref}", self.list_statuses)
        router.add("POST", REPO + "/statuses/{sha}", self.create_status)

    def combined_status(self, request: Request) -> Response:
        repo = self.repo_of(request)
        sha = self.state.resolve(repo, request.params["ref"])
        return Response(200, self.shapes(request).combined_status(repo, sha))

    def list_statuses(self, request: Request) -> Response:
        repo = self.repo_of(request)
        sha = repo.git.resolve(request.params["ref"])
        statuses = self.state.statuses(repo, sha) if sha else []
        return paginate(
            request, [self.shapes(request).status(repo, s, sha or "") for s in statuses]
        )

    def create_status(self, request: Request) -> Response:
        repo = self.repo_of(request)
        body = request.json()
        status, events = self.state.add_status(
            repo,
            request.params["sha"],
            state=body.get("state"),
            context=body.get("context", "default"),
            description=body.get("description"),
            target_url=body.get("target_url"),
            creator=request.user(),
        )
        sha = self.state.resolve(repo, request.params["sha"])
        return Response(201, self.shapes(request).status(repo, status, sha), events=events)
