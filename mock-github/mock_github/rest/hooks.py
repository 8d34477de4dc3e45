"""REST routes for a repository's webhooks and their deliveries, with redelivery."""

from collections.abc import Callable

from mock_github import delivery
from mock_github.errors import ApiError, not_found
from mock_github.records import Hook, Repo
from mock_github.rest.handlers import REPO, Handlers
from mock_github.routing import Request, Response, Router, paginate
from mock_github.state import State

Redeliver = Callable[[Hook, delivery.Delivery], object]


class HookRoutes(Handlers):
    def __init__(self, state: State, redeliver: Redeliver):
        super().__init__(state)
        self._redeliver = redeliver

    def register(self, router: Router) -> None:
        router.add("GET", REPO + "/hooks", self.list_hooks)
        router.add("POST", REPO + "/hooks", self.create_hook)
        router.add("GET", REPO + "/hooks/{hook}", self.get_hook)
        router.add("GET", REPO + "/hooks/{hook}/deliveries", self.list_deliveries)
        router.add("GET", REPO + "/hooks/{hook}/deliveries/{delivery}", self.get_delivery)
        router.add("POST", REPO + "/hooks/{hook}/deliveries/{delivery}/attempts", self.attempt)

    def hook_of(self, request: Request) -> tuple[Repo, Hook]:
        repo = self.repo_of(request)
        try:
            return repo, repo.hooks[int(request.params["hook"])]
        except (KeyError, ValueError):
            raise not_found() from None

    def delivery_of(self, request: Request) -> tuple[Hook, delivery.Delivery]:
        _, hook = self.hook_of(request)
        for record in hook.deliveries:
            if str(record.id) == request.params["delivery"]:
                return hook, record
        raise not_found()

    def list_hooks(self, request: Request) -> Response:
        repo = self.repo_of(request)
        return paginate(request, [self.shapes(request).hook(repo, h) for h in repo.hooks.values()])

    def get_hook(self, request: Request) -> Response:
        return Response(200, self.shapes(request).hook(*self.hook_of(request)))

    def create_hook(self, request: Request) -> Response:
        repo = self.repo_of(request)
        config = request.field("config", dict)
        url = config.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ApiError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Hook",
                        "code": "custom",
                        "message": "Config must contain URL for webhooks",
                    }
                ],
            )
        events = self.state.add_hook(
            repo, url, config.get("secret"), request.field("events", list, None)
        )
        hook = next(h for h in repo.hooks.values() if h.url == url)
        return Response(201, self.shapes(request).hook(repo, hook), events=events)

    def list_deliveries(self, request: Request) -> Response:
        _, hook = self.hook_of(request)
        records = [d.summary() for d in reversed(hook.deliveries)]
        return paginate(request, records)

    def get_delivery(self, request: Request) -> Response:
        _, record = self.delivery_of(request)
        return Response(200, record.detail())

    def attempt(self, request: Request) -> Response:
        hook, record = self.delivery_of(request)
        # The redelivery runs outside the state lock, before the 202 is sent.
        return Response(202, {}, after=[lambda: self._redeliver(hook, record)])
