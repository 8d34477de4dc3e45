"""GitHub's REST API, the subset the project uses, with GitHub's shapes and status codes."""

from mock_github.rest.accounts import AccountRoutes
from mock_github.rest.apps import AppRoutes
from mock_github.rest.checks import CheckRoutes
from mock_github.rest.commits import CommitRoutes
from mock_github.rest.hooks import HookRoutes, Redeliver
from mock_github.rest.issues import IssueRoutes
from mock_github.rest.pulls import PullRoutes
from mock_github.rest.repos import RepoRoutes
from mock_github.rest.reviews import ReviewRoutes
from mock_github.rest.search import SearchRoutes
from mock_github.rest.statuses import StatusRoutes
from mock_github.rest.teams import TeamRoutes
from mock_github.routing import Router
from mock_github.state import State


class RestApi:
    """Every REST route group (rest/*.py), registered in one place."""

    def __init__(self, state: State, redeliver: Redeliver):
        self.state = state
        self._redeliver = redeliver

    def register(self, router: Router) -> None:
        groups = (
            AccountRoutes(self.state),
            RepoRoutes(self.state),
            StatusRoutes(self.state),
            CheckRoutes(self.state),
            PullRoutes(self.state),
            ReviewRoutes(self.state),
            CommitRoutes(self.state),
            SearchRoutes(self.state),
            TeamRoutes(self.state),
            IssueRoutes(self.state),
            HookRoutes(self.state, self._redeliver),
            AppRoutes(self.state),
        )
        for group in groups:
            group.register(router)
