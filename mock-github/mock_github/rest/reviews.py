"""REST routes for a pull request's reviews: listing them and submitting one."""

from mock_github.records import pull_of
from mock_github.rest.handlers import REPO, Handlers
from mock_github.routing import Request, Response, Router, paginate


class ReviewRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("GET", REPO + "/pulls/{number}/reviews", self.list_reviews)
        router.add("POST", REPO + "/pulls/{number}/reviews", self.create_review)

    def list_reviews(self, request: Request) -> Response:
        """Oldest first; a pending review only to its author."""
        repo = self.repo_of(request)
        issue = self.state.pull(repo, request.number())
        viewer = (request.login or "").lower()
        shown = [
            self.shapes(request).review(repo, issue, review)
            for review in pull_of(issue).reviews
            if review.state != "PENDING" or review.user.lower() == viewer
        ]
        return paginate(request, shown)

    def create_review(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.pull(repo, request.number())
        review, events = self.state.review(
            repo,
            issue,
            request.user(),
            event=request.field("event", str, None),
            body=request.field("body", str, ""),
            commit_id=request.field("commit_id", str, None),
        )
        return Response(200, self.shapes(request).review(repo, issue, review), events=events)
