"""What mock-github knows: accounts, teams, repositories, pull requests, reviews, comments,
statuses, checks, hooks.

Commits live in real bare repositories under the data directory (gitstore); the
rest is held in memory. One lock guards it all: every change happens under
`State.lock`, and each changing method returns the webhook events it caused,
which the caller delivers after releasing the lock (deliveries can be slow).

Rules copied from GitHub, because clients depend on them:
- a status `state` is one of error/failure/pending/success, and one sha may carry at
  most 1000 statuses per context (both answered with 422 Validation Failed);
- issues and pull requests share one number sequence per repository;
- `author_association` reports private org members as CONTRIBUTOR, not MEMBER.
"""

from mock_github.state.accounts import AccountState
from mock_github.state.apps import AppState
from mock_github.state.checks import CheckState
from mock_github.state.commits import CommitState
from mock_github.state.issues import IssueState
from mock_github.state.pulls import PullState
from mock_github.state.repos import RepoState
from mock_github.state.reviews import ReviewState
from mock_github.state.search import SearchState
from mock_github.state.statuses import StatusState
from mock_github.state.teams import TeamState


class State(
    CheckState,  # first: its push (`refs_moved`) adds to the commits layer's
    PullState,
    ReviewState,
    IssueState,
    CommitState,
    AppState,
    RepoState,
    StatusState,
    SearchState,
    TeamState,
    AccountState,
):
    """All of it, one layer per resource (state/*.py), sharing `StateBase`'s lock and indexes."""
