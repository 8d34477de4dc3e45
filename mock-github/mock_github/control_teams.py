"""The control API's team verb: an organization's owner adds someone to a team (made
with its first member)."""

from mock_github.rest.handlers import Handlers
from mock_github.routing import Request, Response, Router


class ControlTeams(Handlers):
    def register(self, router: Router) -> None:
        router.add("POST", "/_mock/orgs/{org}/teams/{team}/members", self.add_member)

    def add_member(self, request: Request) -> Response:
        team = self.state.add_team_member(
            request.params["org"],
            request.params["team"],
            request.field("login", str),
            request.field("role", str, "member"),
        )
        return Response(201, self.shapes(request).full_team(team))
