"""The objects GraphQL resolves over `State`: the query root, repositories, pull requests
and their comments (graphql/base.py says how a class serves a GraphQL type)."""

from typing import Any

from mock_github.graphql.base import Context, Info, NotFound, account, page
from mock_github.graphql.checks import CommitNode
from mock_github.records import Comment, Issue, Repo, pull_of


class RepositoryNode:
    typename = "Repository"

    def __init__(self, ctx: Context, repo: Repo):
        self.ctx, self.repo = ctx, repo
        self.id = f"R_{repo.id}"
        self.databaseId = repo.id
        self.name = repo.name
        self.nameWithOwner = repo.full_name
        self.owner = account(ctx, repo.owner)
        self.url = f"{ctx.urls.web}/{repo.full_name}"
        self.isPrivate = repo.private

    def pullRequest(self, info: Info, number: int) -> "PullRequestNode":
        issue = self.repo.issues.get(number)
        if issue is None or issue.pull is None:
            raise NotFound(f"Could not resolve to a PullRequest with the number of {number}.")
        return PullRequestNode(self.ctx, self.repo, issue)

    def pullRequests(
        self,
        info: Info,
        *,
        states: list[str] | None = None,
        labels: list[str] | None = None,
        headRefName: str | None = None,
        baseRefName: str | None = None,
        orderBy: dict[str, str] | None = None,
        **paging: Any,
    ) -> dict[str, Any]:
        found = [
            PullRequestNode(self.ctx, self.repo, issue)
            for issue in self.repo.issues.values()
            if issue.pull is not None
        ]
        found = [
            pr
            for pr in found
            if (not states or pr.state in states)
            and (not labels or set(labels) <= set(pr.issue.labels))
            and headRefName in (None, pr.headRefName)
            and baseRefName in (None, pr.baseRefName)
        ]
        order = orderBy or {"field": "CREATED_AT", "direction": "ASC"}
        key = {
            "CREATED_AT": lambda pr: pr.issue.number,
            "UPDATED_AT": lambda pr: (pr.issue.updated_at, pr.issue.number),
            "COMMENTS": lambda pr: (len(pr.issue.comments), pr.issue.number),
        }[order["field"]]
        found.sort(key=key, reverse=order["direction"] == "DESC")
        return page(info, found, **paging)


def _empty(info: Info, **paging: Any) -> dict[str, Any]:
    """A connection the mock has nothing for (reviews, review requests, project cards)."""
    return page(info, [], **paging)


class PullRequestNode:
    typename = "PullRequest"
    reviews = reviewRequests = projectCards = assignees = staticmethod(_empty)
    milestone = None
    reactionGroups: list[Any] = []  # noqa: RUF012 (read only: no reactions on the mock)
    locked = False
    maintainerCanModify = False
    # The REST answers' figures: the mock does not count changed lines.
    additions = deletions = changedFiles = 0

    def __init__(self, ctx: Context, repo: Repo, issue: Issue):
        pull = pull_of(issue)
        self.ctx, self.repo, self.issue = ctx, repo, issue
        self.id = f"PR_{repo.id}_{issue.number}"
        self.databaseId = repo.id * 100000 + issue.number
        self.number = issue.number
        self.title = issue.title
        self.body = issue.body or ""
        self.state = "MERGED" if pull.merged else issue.state.upper()
        self.url = f"{ctx.urls.web}/{repo.full_name}/pull/{issue.number}"
        self.author = account(ctx, issue.user)
        self.authorAssociation = ctx.state.author_association(repo, issue.user)
        self.createdAt, self.updatedAt = issue.created_at, issue.updated_at
        self.closedAt, self.mergedAt = issue.closed_at, pull.merged_at
        self.closed, self.merged = issue.state == "closed", pull.merged
        self.isDraft = pull.draft
        self.mergeable = "UNKNOWN" if pull.merged else "MERGEABLE"
        self.baseRefName, self.headRefName = pull.base_ref, pull.head_ref
        self.headRefOid = pull.head_sha
        self.baseRefOid = repo.git.resolve(f"refs/heads/{pull.base_ref}") or ""
        head_repo = ctx.state.repo(pull.head_repo)
        self.headRepository = RepositoryNode(ctx, head_repo)
        self.headRepositoryOwner = account(ctx, head_repo.owner)
        self.isCrossRepository = head_repo is not repo

    def commits(self, info: Info, **paging: Any) -> dict[str, Any]:
        shas = self.repo.git.commits_between(self.baseRefOid or None, self.headRefOid, 250)
        nodes = [
            {"id": f"PURC_{self.id}_{sha}", "commit": CommitNode(self.ctx, self.repo, sha)}
            for sha in shas
        ]
        return page(info, nodes, **paging)

    def comments(self, info: Info, **paging: Any) -> dict[str, Any]:
        nodes = [CommentNode(self.ctx, self, comment) for comment in self.issue.comments]
        return page(info, nodes, **paging)

    def labels(self, info: Info, **paging: Any) -> dict[str, Any]:
        found = [self.ctx.state.label(self.repo, name) for name in self.issue.labels]
        nodes = [
            {
                "id": f"LA_{lab.id}",
                "name": lab.name,
                "color": lab.color,
                "description": lab.description,
            }
            for lab in found
        ]
        return page(info, nodes, **paging)


class CommentNode:
    typename = "IssueComment"
    includesCreatedEdit = isMinimized = False
    minimizedReason = None
    reactionGroups: list[Any] = []  # noqa: RUF012 (read only: no reactions on the mock)

    def __init__(self, ctx: Context, pr: PullRequestNode, comment: Comment):
        self.id = f"IC_{comment.id}"
        self.databaseId = comment.id
        self.author = account(ctx, comment.user)
        self.authorAssociation = ctx.state.author_association(pr.repo, comment.user)
        self.body = comment.body
        self.createdAt = comment.created_at
        self.url = f"{pr.url}#issuecomment-{comment.id}"
        self.viewerDidAuthor = comment.user.lower() == ctx.login.lower()


class Root:
    """The query root: `repository(owner, name)` and `node(id)` (a pull request's id)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def repository(
        self, info: Info, owner: str, name: str, followRenames: bool = True
    ) -> RepositoryNode:
        repo = self.ctx.state.repos.get(f"{owner}/{name}".lower())
        if repo is None:
            raise NotFound(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return RepositoryNode(self.ctx, repo)

    def node(self, info: Info, id: str) -> PullRequestNode:
        kind, _, rest = id.partition("_")
        repo_id, _, number = rest.partition("_")
        for repo in self.ctx.state.repos.values():
            if kind == "PR" and str(repo.id) == repo_id and number.isdigit():
                issue = repo.issues.get(int(number))
                if issue is not None and issue.pull is not None:
                    return PullRequestNode(self.ctx, repo, issue)
        raise NotFound(f"Could not resolve to a node with the global id of '{id}'")
