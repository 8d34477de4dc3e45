"""Team shapes: a team as lists nest it, in full, and a member's membership of it.

A team's `url` is `…/orgs/ORG/teams/SLUG` (GitHub's is `…/organizations/ID/team/ID`, a
legacy route the mock does not serve); PyGithub follows either.
"""

from mock_github.shapes.base import JsonDict, ShapesBase
from mock_github.state.teams import Team


class TeamShapes(ShapesBase):
    def team(self, team: Team) -> JsonDict:
        api = f"{self.urls.api}/orgs/{team.org}/teams/{team.slug}"
        return {
            "id": team.id,
            "node_id": f"T_{team.id}",
            "url": api,
            "html_url": f"{self.urls.web}/orgs/{team.org}/teams/{team.slug}",
            "name": team.name,
            "slug": team.slug,
            "description": team.description,
            "privacy": team.privacy,
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "members_url": f"{api}/members{{/member}}",
            "repositories_url": f"{api}/repos",
            "parent": None,
            "type": "organization",
            "organization_id": self.state.account(team.org).id,
        }

    def full_team(self, team: Team) -> JsonDict:
        return {
            **self.team(team),
            "created_at": team.created_at,
            "updated_at": team.updated_at,
            "members_count": len(team.members),
            "repos_count": 0,
            "organization": self.full_org(self.state.account(team.org)),
        }

    def team_membership(self, team: Team, login: str) -> JsonDict:
        account = self.state.account(login)
        return {
            "url": f"{self.urls.api}/orgs/{team.org}/teams/{team.slug}/memberships/{account.login}",
            "role": team.members[account.login.lower()],
            "state": "active",
        }
