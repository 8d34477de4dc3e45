"""The control API's GitHub App verbs: what an App's owner does in github.com's settings.

Registering an App makes (or takes) its key pair and answers GitHub's App shape with the
private key as `pem`, as GitHub's App-manifest flow answers; installing it on an account
gives the installation id. `token_lifetime` (seconds) sets how long its installation
tokens live, so that a test can make one expire mid-run; reading the App back tells how
many tokens it was given.
"""

from mock_github.errors import ApiError
from mock_github.rest.handlers import Handlers
from mock_github.routing import Request, Response, Router
from mock_github.shapes.apps import AppShapes
from mock_github.state.apps import App


def _lifetime(request: Request, app: App) -> None:
    lifetime = request.field("token_lifetime", (int, float), None)
    if lifetime is not None:
        if lifetime <= 0:
            invalid = [{"field": "token_lifetime", "code": "invalid"}]
            raise ApiError(422, "Validation Failed", invalid)
        app.token_lifetime = float(lifetime)


class ControlApps(Handlers):
    def register(self, router: Router) -> None:
        router.add("POST", "/_mock/apps", self.register_app)
        router.add("GET", "/_mock/apps/{slug}", self.get_app)
        router.add("PATCH", "/_mock/apps/{slug}", self.update_app)
        router.add("POST", "/_mock/apps/{slug}/installations", self.install)

    def register_app(self, request: Request) -> Response:
        app, private = self.state.register_app(
            request.field("slug", str),
            request.field("owner", str),
            name=request.field("name", str, None),
            public_key=request.field("public_key", str, None),
        )
        _lifetime(request, app)
        shape = AppShapes(self.state, request.urls).app(app)
        if private is not None:
            shape["pem"] = private
        return Response(201, shape)

    def get_app(self, request: Request) -> Response:
        """The App, and how many installation tokens it was given (renewals show there)."""
        app = self.state.app(request.params["slug"])
        shape = AppShapes(self.state, request.urls).app(app)
        return Response(200, {**shape, "tokens_issued": app.tokens_issued})

    def update_app(self, request: Request) -> Response:
        app = self.state.app(request.params["slug"])
        _lifetime(request, app)
        return Response(200, AppShapes(self.state, request.urls).app(app))

    def install(self, request: Request) -> Response:
        app = self.state.app(request.params["slug"])
        repos = request.field("repositories", list, None)
        if repos is not None and not all(isinstance(r, str) for r in repos):
            raise ApiError(
                422, "Invalid request.\n\nFor 'properties/repositories', items must be strings."
            )
        installation = self.state.install_app(app, request.field("account", str), repos)
        return Response(201, AppShapes(self.state, request.urls).installation(installation))
