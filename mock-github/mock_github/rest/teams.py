"""REST routes for an organization's teams: listing them, one team, a user's membership."""

from mock_github.errors import not_found
from mock_github.rest.handlers import Handlers
from mock_github.routing import Request, Response, Router, paginate

TEAMS = "/orgs/{org}/teams"


class TeamRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("GET", TEAMS, self.list_teams)
        router.add("GET", TEAMS + "/{team_slug}", self.get_team)
        router.add("GET", TEAMS + "/{team_slug}/memberships/{username}", self.membership)

    def list_teams(self, request: Request) -> Response:
        request.user()  # as on GitHub, teams are not shown without a token
        teams = self.state.org_teams(request.params["org"])
        return paginate(request, [self.shapes(request).team(team) for team in teams])

    def get_team(self, request: Request) -> Response:
        request.user()
        team = self.state.team(request.params["org"], request.params["team_slug"])
        return Response(200, self.shapes(request).full_team(team))

    def membership(self, request: Request) -> Response:
        """200 for a member (GitHub's `active`; the mock has no pending invitations), else 404."""
        request.user()
        team = self.state.team(request.params["org"], request.params["team_slug"])
        if request.params["username"].lower() not in team.members:
            raise not_found()
        return Response(200, self.shapes(request).team_membership(team, request.params["username"]))
