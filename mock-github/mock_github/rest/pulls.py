"""REST routes for pull requests: listing, opening, reading, editing, merging, and their
commits."""

from mock_github.errors import ApiError
from mock_github.records import pull_of
from mock_github.rest.handlers import REPO, Handlers
from mock_github.rest.issues import edit
from mock_github.routing import Request, Response, Router, paginate


class PullRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("GET", REPO + "/pulls", self.list_pulls)
        router.add("POST", REPO + "/pulls", self.create_pull)
        router.add("GET", REPO + "/pulls/{number}", self.get_pull)
        router.add("PATCH", REPO + "/pulls/{number}", self.update_pull)
        router.add("PUT", REPO + "/pulls/{number}/merge", self.merge_pull)
        router.add("GET", REPO + "/pulls/{number}/commits", self.pull_commits)
        router.add("GET", REPO + "/pulls/{number}/files", self.pull_files)

    def list_pulls(self, request: Request) -> Response:
        repo = self.repo_of(request)
        wanted = request.query.get("state", "open")
        if wanted not in ("open", "closed", "all"):
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "state", "code": "invalid"}],
            )
        base = request.query.get("base")
        head = request.query.get("head")
        pulls = []
        for issue in sorted(repo.issues.values(), key=lambda i: -i.number):
            pull = issue.pull
            if pull is None or wanted not in ("all", issue.state):
                continue
            if base and pull.base_ref != base:
                continue
            if head and head not in (
                pull.head_ref,
                f"{pull.head_repo.split('/')[0]}:{pull.head_ref}",
            ):
                continue
            pulls.append(self.shapes(request).pull(repo, issue))
        return paginate(request, pulls)

    def create_pull(self, request: Request) -> Response:
        """GitHub's "create a pull request": `head` is a branch of the repository (or
        `OWNER:BRANCH` of it); a fork's branch is not supported here."""
        repo = self.repo_of(request)
        owner, _, branch = request.field("head", str).rpartition(":")
        if owner and owner != repo.owner:
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
            )
        issue, events = self.state.open_pull(
            repo,
            head=branch,
            base=request.field("base", str),
            title=request.field("title", str),
            body=request.field("body", str, None),
            user=request.user(),
            head_repo=None,
            draft=request.field("draft", bool, False),
        )
        return Response(201, self.shapes(request).pull(repo, issue), events=events)

    def get_pull(self, request: Request) -> Response:
        repo = self.repo_of(request)
        return Response(
            200, self.shapes(request).pull(repo, self.state.pull(repo, request.number()))
        )

    def update_pull(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.pull(repo, request.number())
        events = edit(self.state, request, issue, repo)
        return Response(200, self.shapes(request).pull(repo, issue), events=events)

    def merge_pull(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.pull(repo, request.number())
        sha, events = self.state.merge_pull(repo, issue, request.user())
        body = {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
        return Response(200, body, events=events)

    def pull_commits(self, request: Request) -> Response:
        repo = self.repo_of(request)
        issue = self.state.pull(repo, request.number())
        pull = pull_of(issue)
        base = repo.git.resolve(f"refs/heads/{pull.base_ref}")
        shas = repo.git.commits_between(base, pull.head_sha, 250)
        return paginate(request, [self.shapes(request).commit(repo, sha) for sha in shas])

    def pull_files(self, request: Request) -> Response:
        """The files the pull request changes: its head against where it left its base
        (for a merged one, the base as it was before the merge), as GitHub diffs it."""
        repo = self.repo_of(request)
        pull = pull_of(self.state.pull(repo, request.number()))
        if pull.merge_commit_sha is not None:
            base = repo.git.commit_info(pull.merge_commit_sha).parents[0]
        else:
            base = self.state.resolve(repo, f"refs/heads/{pull.base_ref}")
        start = repo.git.merge_base(base, pull.head_sha) or base
        changes = repo.git.diff(start, pull.head_sha)
        shapes = self.shapes(request)
        return paginate(request, [shapes.diff_entry(repo, pull.head_sha, c) for c in changes])
