"""REST routes for checks: creating, updating and reading check runs, their suites, and
asking for a run again."""

from mock_github.rest.handlers import REPO, Handlers
from mock_github.routing import Request, Response, Router, paginate
from mock_github.shapes.base import JsonDict


def _counted(request: Request, key: str, items: list[JsonDict]) -> Response:
    """A page of `items` as the checks lists answer: `{"total_count": N, key: [...]}`."""
    page = paginate(request, items)
    page.body = {"total_count": len(items), key: page.body}
    return page


class CheckRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("POST", REPO + "/check-runs", self.create_check_run)
        router.add("GET", REPO + "/check-runs/{check_run_id}", self.get_check_run)
        router.add("PATCH", REPO + "/check-runs/{check_run_id}", self.update_check_run)
        router.add("POST", REPO + "/check-runs/{check_run_id}/rerequest", self.rerequest)
        router.add("GET", REPO + "/commits/{ref}/check-runs", self.list_check_runs)
        router.add("GET", REPO + "/commits/{ref}/check-suites", self.list_check_suites)
        router.add("GET", REPO + "/check-suites/{check_suite_id}", self.get_check_suite)

    def create_check_run(self, request: Request) -> Response:
        repo = self.repo_of(request)
        run, events = self.state.create_check_run(repo, request.json(), request.user())
        return Response(201, self.shapes(request).check_run(repo, run), events=events)

    def get_check_run(self, request: Request) -> Response:
        repo = self.repo_of(request)
        run = self.state.check_run(repo, request.params["check_run_id"])
        return Response(200, self.shapes(request).check_run(repo, run))

    def update_check_run(self, request: Request) -> Response:
        repo = self.repo_of(request)
        run = self.state.check_run(repo, request.params["check_run_id"])
        events = self.state.update_check_run(repo, run, request.json(), request.user())
        return Response(200, self.shapes(request).check_run(repo, run), events=events)

    def rerequest(self, request: Request) -> Response:
        """The app asks for its run again: GitHub answers `{}` and sends `rerequested`."""
        repo = self.repo_of(request)
        run = self.state.check_run(repo, request.params["check_run_id"])
        events = self.state.rerequest_check_run(run, request.user(), by_app=True)
        return Response(201, {}, events=events)

    def list_check_runs(self, request: Request) -> Response:
        repo = self.repo_of(request)
        sha = self.state.resolve(repo, request.params["ref"])
        shapes = self.shapes(request)
        runs = self.state.check_runs_of(repo, sha, request.query)
        return _counted(request, "check_runs", [shapes.check_run(repo, run) for run in runs])

    def list_check_suites(self, request: Request) -> Response:
        repo = self.repo_of(request)
        sha = self.state.resolve(repo, request.params["ref"])
        shapes = self.shapes(request)
        suites = self.state.check_suites_of(repo, sha, request.query)
        shaped = [shapes.rest_check_suite(repo, suite) for suite in suites]
        return _counted(request, "check_suites", shaped)

    def get_check_suite(self, request: Request) -> Response:
        repo = self.repo_of(request)
        suite = self.state.check_suite(repo, request.params["check_suite_id"])
        return Response(200, self.shapes(request).rest_check_suite(repo, suite))
