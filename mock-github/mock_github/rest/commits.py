"""REST routes for a repository's history: listing commits, and comparing two of them."""

from mock_github.errors import ApiError, not_found
from mock_github.rest.handlers import REPO, Handlers
from mock_github.routing import Request, Response, Router, paginate


class CommitRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("GET", REPO + "/commits", self.list_commits)
        router.add("GET", REPO + "/compare/{basehead*}", self.compare)

    def list_commits(self, request: Request) -> Response:
        """`sha` (a branch, tag or sha; the default branch if none) and its history, newest
        first, a page at a time."""
        repo = self.repo_of(request)
        start = request.query.get("sha") or repo.default_branch
        sha = repo.git.resolve(start)
        if sha is None:
            raise ApiError(404, f"No commit found for SHA: {start}")
        page = paginate(request, repo.git.log(sha))
        page.body = [self.shapes(request).commit(repo, s, files=False) for s in page.body]
        return page

    def compare(self, request: Request) -> Response:
        """`BASE...HEAD` (or `BASE..HEAD`, the same on GitHub); each a branch, tag or sha."""
        repo = self.repo_of(request)
        basehead = request.params["basehead"]
        base, dots, head = basehead.partition("...")
        if not dots:
            base, dots, head = basehead.partition("..")
        base_sha, head_sha = repo.git.resolve(base), repo.git.resolve(head)
        if not dots or base_sha is None or head_sha is None:
            raise not_found()
        return Response(200, self.shapes(request).comparison(repo, basehead, base_sha, head_sha))
