"""Pull request review shapes: the REST review, and the review and pull request a
`pull_request_review` webhook nests (GitHub's webhook shapes are narrower)."""

from mock_github.records import Issue, Repo, Review
from mock_github.shapes.base import JsonDict
from mock_github.shapes.pulls import PullShapes

# What a webhook's `simple-pull-request` leaves out of the REST pull request.
_NOT_IN_SIMPLE_PULL = (
    "merged",
    "mergeable",
    "rebaseable",
    "mergeable_state",
    "merged_by",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
)


class ReviewShapes(PullShapes):
    def review(self, repo: Repo, issue: Issue, review: Review) -> JsonDict:
        pull_api = f"{self.urls.repo(repo)}/pulls/{issue.number}"
        html = f"{self.urls.web}/{repo.full_name}/pull/{issue.number}#pullrequestreview-{review.id}"
        shape = {
            "id": review.id,
            "node_id": f"PRR_{review.id}",
            "user": self.user(review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pull_api,
            "author_association": self.state.author_association(repo, review.user),
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_api}},
            "commit_id": review.commit_id,
        }
        if review.submitted_at is not None:
            shape["submitted_at"] = review.submitted_at
        return shape

    def webhook_review(self, repo: Repo, issue: Issue, review: Review) -> JsonDict:
        """As a webhook nests it: the state in lower case, `submitted_at` always there."""
        shape = self.review(repo, issue, review)
        shape.update(state=review.state.lower(), submitted_at=review.submitted_at)
        return shape

    def simple_pull(self, repo: Repo, issue: Issue) -> JsonDict:
        shape = self.pull(repo, issue)
        for key in _NOT_IN_SIMPLE_PULL:
            del shape[key]
        return shape
