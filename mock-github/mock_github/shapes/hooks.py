"""Hook shapes: a repository webhook's configuration and its last response."""

from mock_github.records import Hook, Repo
from mock_github.shapes.base import JsonDict, ShapesBase


class HookShapes(ShapesBase):
    def hook(self, repo: Repo, hook: Hook) -> JsonDict:
        api = f"{self.urls.repo(repo)}/hooks/{hook.id}"
        last = hook.deliveries[-1] if hook.deliveries else None
        return {
            "type": "Repository",
            "id": hook.id,
            "name": "web",
            "active": hook.active,
            "events": hook.events,
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": hook.url,
                **({"secret": "********"} if hook.secret else {}),
            },
            "updated_at": hook.created_at,
            "created_at": hook.created_at,
            "url": api,
            "test_url": f"{api}/test",
            "ping_url": f"{api}/pings",
            "deliveries_url": f"{api}/deliveries",
            "last_response": {
                "code": last.status_code if last else None,
                "status": last.status if last else "unused",
                "message": None,
            },
        }
