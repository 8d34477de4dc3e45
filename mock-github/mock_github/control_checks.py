"""The control API's check verbs: "Re-run" on github.com, for one check run or a whole suite.

GitHub sends the app `check_run.rerequested` (or `check_suite.rerequested` for "Re-run all
checks") and leaves it to the app to run the check again as a new check run.
"""

from mock_github.rest.handlers import Handlers
from mock_github.routing import Request, Response, Router


class ControlChecks(Handlers):
    def register(self, router: Router) -> None:
        base = "/_mock/repos/{owner}/{repo}"
        router.add("POST", base + "/check-runs/{check_run_id}/rerequest", self.rerun)
        router.add("POST", base + "/check-suites/{check_suite_id}/rerequest", self.rerun_suite)

    def rerun(self, request: Request) -> Response:
        repo = self.repo_of(request)
        run = self.state.check_run(repo, request.params["check_run_id"])
        sender = request.field("sender", str, repo.owner)
        events = self.state.rerequest_check_run(run, sender, by_app=False)
        return Response(201, self.shapes(request).check_run(repo, run), events=events)

    def rerun_suite(self, request: Request) -> Response:
        repo = self.repo_of(request)
        suite = self.state.check_suite(repo, request.params["check_suite_id"])
        events = self.state.rerequest_check_suite(suite, request.field("sender", str, repo.owner))
        return Response(201, self.shapes(request).rest_check_suite(repo, suite), events=events)
