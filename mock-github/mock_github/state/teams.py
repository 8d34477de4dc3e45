"""Teams in `State`: an organization's teams and their members.

A team is made with its first member (the control API's `add_team_member`), its slug
GitHub's: the name in lower case, each run of other characters a `-`. A team's members
are the organization's: adding someone who is not makes them a private member, as an
accepted invitation would.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from mock_github.errors import not_found, validation_failed
from mock_github.records import now
from mock_github.state.accounts import AccountState

ROLES = ("member", "maintainer")


def slug_of(name: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-")


@dataclass
class Team:
    id: int
    org: str  # the organization's login
    name: str
    slug: str
    members: dict[str, str] = field(default_factory=dict)  # login (lower case) -> role
    description: str | None = None
    privacy: str = "closed"  # visible to every member of the organization
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)


class TeamState(AccountState):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teams: dict[str, Team] = {}  # "org/slug", lower case -> Team

    def add_team_member(self, org: str, team: str, login: str, role: str = "member") -> Team:
        if role not in ROLES:
            raise validation_failed("TeamMembership", "role", "role must be member or maintainer")
        slug = slug_of(team)
        if not slug:
            raise validation_failed("Team", "name", f"invalid team name {team!r:.60}")
        owner = self.account(org, "Organization")
        key = f"{owner.login.lower()}/{slug}"
        found = self.teams.get(key)
        if found is None:
            found = Team(self.next_id(), owner.login, team, slug)
            self.teams[key] = found
        if self.membership(owner.login, login) is None:
            self.add_org_member(owner.login, login, public=False)
        found.members[self.account(login).login.lower()] = role
        found.updated_at = now()
        return found

    def team(self, org: str, slug: str) -> Team:
        found = self.teams.get(f"{org.lower()}/{slug.lower()}")
        if found is None:
            raise not_found()
        return found

    def org_teams(self, org: str) -> list[Team]:
        owner = self.accounts.get(org.lower())
        if owner is None or owner.type != "Organization":
            raise not_found()
        return sorted(
            (team for team in self.teams.values() if team.org.lower() == org.lower()),
            key=lambda team: team.slug,
        )
