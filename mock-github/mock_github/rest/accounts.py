"""REST routes for accounts: the API root, the current user, users, orgs and memberships."""

from mock_github.errors import not_found
from mock_github.rest.handlers import Handlers
from mock_github.routing import Request, Response, Router
from mock_github.shapes.root import root_links


class AccountRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("GET", "/", self.root)
        router.add("GET", "/user", self.current_user)
        router.add("GET", "/users/{login}", self.get_user)
        router.add("GET", "/orgs/{org}", self.get_org)
        router.add("GET", "/orgs/{org}/members/{user}", self.org_member)
        router.add("GET", "/orgs/{org}/public_members/{user}", self.org_public_member)
        router.add("GET", "/orgs/{org}/memberships/{user}", self.org_membership)

    def root(self, request: Request) -> Response:
        return Response(200, root_links(request.urls.api, request.urls.web))

    def current_user(self, request: Request) -> Response:
        account = self.state.account(request.user())
        return Response(200, self.shapes(request).full_user(account, private=True))

    def get_user(self, request: Request) -> Response:
        account = self.state.accounts.get(request.params["login"].lower())
        if account is None:
            raise not_found()
        return Response(200, self.shapes(request).full_user(account))

    def get_org(self, request: Request) -> Response:
        account = self.state.accounts.get(request.params["org"].lower())
        if account is None or account.type != "Organization":
            raise not_found()
        return Response(200, self.shapes(request).full_org(account))

    def visible_membership(self, request: Request) -> tuple[bool, str] | None:
        """A private membership shows only to members of the org, as on GitHub."""
        org, user = request.params["org"], request.params["user"]
        found = self.state.membership(org, user)
        if found is None:
            return None
        public, _ = found
        if public or (request.login is not None and self.state.membership(org, request.login)):
            return found
        return None

    def org_member(self, request: Request) -> Response:
        """204 or 404 for a member's token; anyone else is sent to the public list (302)."""
        org, user = request.params["org"], request.params["user"]
        account = self.state.accounts.get(org.lower())
        if account is None or account.type != "Organization":
            raise not_found()
        if request.login is None or self.state.membership(org, request.login) is None:
            location = f"{request.urls.api}/orgs/{account.login}/public_members/{user}"
            return Response(302, headers={"Location": location})
        if self.state.membership(org, user) is None:
            raise not_found()
        return Response(204)

    def org_public_member(self, request: Request) -> Response:
        found = self.state.membership(request.params["org"], request.params["user"])
        if found is None or not found[0]:
            raise not_found()
        return Response(204)

    def org_membership(self, request: Request) -> Response:
        found = self.visible_membership(request)
        if found is None:
            raise not_found()
        org = self.state.account(request.params["org"])
        user = request.params["user"]
        return Response(
            200,
            {
                "url": f"{request.urls.api}/orgs/{org.login}/memberships/{user}",
                "state": "active",
                "role": found[1],
                "organization_url": f"{request.urls.api}/orgs/{org.login}",
                "organization": self.shapes(request).org(org),
                "user": self.shapes(request).user(user),
            },
        )
