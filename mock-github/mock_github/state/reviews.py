"""Pull request reviews in `State`: approving, requesting changes, commenting.

GitHub's rules: a review without an `event` is PENDING (a draft its author alone sees,
one per author and pull request); REQUEST_CHANGES and COMMENT need a body; nobody
approves or requests changes on their own pull request. A submitted review sends
`pull_request_review` `submitted`.
"""

from mock_github.errors import ApiError, validation_failed
from mock_github.records import Event, Issue, Repo, Review, now, pull_of
from mock_github.state.accounts import AccountState

# The review `event` a client sends -> the state the review takes.
EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


class ReviewState(AccountState):
    def review(
        self,
        repo: Repo,
        issue: Issue,
        user: str,
        *,
        event: str | None,
        body: str,
        commit_id: str | None,
    ) -> tuple[Review, list[Event]]:
        pull = pull_of(issue)
        login = self.account(user).login
        if event is not None and event not in EVENTS:
            raise validation_failed("PullRequestReview", "event", f"invalid event {event!r:.40}")
        if event in ("REQUEST_CHANGES", "COMMENT") and not body:
            raise ApiError(
                422,
                "Unprocessable Entity",
                [f"Body is required when using {event} for the event parameter"],
            )
        if event in ("APPROVE", "REQUEST_CHANGES") and login.lower() == issue.user.lower():
            verb = "approve" if event == "APPROVE" else "request changes on"
            raise ApiError(
                422, "Unprocessable Entity", [f"Review Can not {verb} your own pull request"]
            )
        if event is None and any(
            r.state == "PENDING" and r.user.lower() == login.lower() for r in pull.reviews
        ):
            raise ApiError(
                422,
                "Unprocessable Entity",
                ["User can only have one pending review per pull request"],
            )
        sha = repo.git.resolve(commit_id or pull.head_sha)
        if sha is None:
            raise validation_failed("PullRequestReview", "commit_id", "No commit found for SHA")
        state = EVENTS[event] if event else "PENDING"
        review = Review(self.next_id(), login, body, state, sha, None if not event else now())
        pull.reviews.append(review)
        if not event:
            return review, []
        fields = {"number": issue.number, "review_id": review.id, "sender": login}
        return review, [Event(repo.full_name, "pull_request_review", "submitted", fields)]
