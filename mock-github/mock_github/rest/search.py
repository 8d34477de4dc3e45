"""REST routes for search: issues and pull requests (`GET /search/issues`)."""

from collections.abc import Callable

from mock_github.errors import ApiError
from mock_github.records import Issue
from mock_github.rest.handlers import Handlers
from mock_github.routing import Request, Response, Router, paginate

# `sort` -> the key it orders by; GitHub's default, "best match", is newest first here.
_SORTS: dict[str, Callable[[Issue], str | int]] = {
    "created": lambda issue: issue.created_at,
    "updated": lambda issue: issue.updated_at,
    "comments": lambda issue: len(issue.comments),
}


class SearchRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("GET", "/search/issues", self.search_issues)

    def search_issues(self, request: Request) -> Response:
        text = request.query.get("q", "").strip()
        if not text:
            raise ApiError(
                422, "Validation Failed", [{"resource": "Search", "field": "q", "code": "missing"}]
            )
        by = _SORTS.get(request.query.get("sort", ""), _SORTS["created"])
        found = sorted(
            self.state.search_issues(text),
            key=lambda hit: (by(hit[1]), hit[0].id, hit[1].number),
            reverse=request.query.get("order", "desc") != "asc",
        )
        page = paginate(request, found)
        shapes = self.shapes(request)
        page.body = {
            "total_count": len(found),
            "incomplete_results": False,
            "search_type": "lexical",  # words matched as written, no semantic search
            # The description types a found item's body as a string: "" for none.
            "items": [
                {**shapes.issue(repo, issue), "body": issue.body or "", "score": 1.0}
                for repo, issue in page.body
            ],
        }
        return page
