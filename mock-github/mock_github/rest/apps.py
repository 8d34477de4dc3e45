"""REST routes of a GitHub App authenticated as itself (its JWT): the App, its
installations, and installation tokens (docs/mock-github.md, "GitHub Apps")."""

from mock_github.errors import not_found
from mock_github.rest.handlers import REPO, Handlers
from mock_github.routing import Request, Response, Router, paginate
from mock_github.shapes.apps import AppShapes
from mock_github.state.apps import App


class AppRoutes(Handlers):
    def register(self, router: Router) -> None:
        router.add("GET", "/app", self.get_app)
        router.add("GET", "/app/installations", self.list_installations)
        router.add("GET", "/app/installations/{installation_id}", self.get_installation)
        router.add("POST", "/app/installations/{installation_id}/access_tokens", self.create_token)
        router.add("GET", REPO + "/installation", self.repo_installation)

    def _app(self, request: Request) -> App:
        return self.state.app_of_jwt(request.app_jwt)

    def _installation_id(self, request: Request) -> int:
        text = request.params["installation_id"]
        if not text.isdigit():
            raise not_found()
        return int(text)

    def get_app(self, request: Request) -> Response:
        return Response(200, AppShapes(self.state, request.urls).app(self._app(request)))

    def list_installations(self, request: Request) -> Response:
        app = self._app(request)
        shapes = AppShapes(self.state, request.urls)
        mine = [i for i in self.state.installations.values() if i.app is app]
        return paginate(request, [shapes.installation(i) for i in mine])

    def get_installation(self, request: Request) -> Response:
        found = self.state.installation_of(self._app(request), self._installation_id(request))
        return Response(200, AppShapes(self.state, request.urls).installation(found))

    def repo_installation(self, request: Request) -> Response:
        app = self._app(request)
        found = self.state.repo_installation(app, self.repo_of(request))
        return Response(200, AppShapes(self.state, request.urls).installation(found))

    def create_token(self, request: Request) -> Response:
        found = self.state.installation_of(self._app(request), self._installation_id(request))
        request.json()  # `permissions`/`repositories` narrow a token on GitHub; not here
        token, expires_at = self.state.new_installation_token(found)
        shape = AppShapes(self.state, request.urls).installation_token(found, token, expires_at)
        return Response(201, shape)
