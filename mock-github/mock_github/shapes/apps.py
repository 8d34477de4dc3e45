"""GitHub App shapes: the App (`integration`), an installation, an installation token."""

from datetime import UTC, datetime

from mock_github.shapes.base import JsonDict, ShapesBase
from mock_github.state.apps import EVENTS, PERMISSIONS, App, Installation


def timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AppShapes(ShapesBase):
    def app(self, app: App) -> JsonDict:
        installations = sum(1 for i in self.state.installations.values() if i.app is app)
        return {
            "id": app.id,
            "slug": app.slug,
            "node_id": f"A_{app.id}",
            "client_id": f"Iv1.mock{app.id:08x}",
            "owner": self.user(app.owner),
            "name": app.name,
            "description": None,
            "external_url": f"{self.urls.web}/{app.owner}",
            "html_url": f"{self.urls.web}/apps/{app.slug}",
            "created_at": app.created_at,
            "updated_at": app.created_at,
            "permissions": dict(PERMISSIONS),
            "events": list(EVENTS),
            "installations_count": installations,
        }

    def installation(self, installation: Installation) -> JsonDict:
        account = self.state.account(installation.account)
        # The description of `GET /app/installations` asks the account to be a user *and*
        # an enterprise (allOf); the enterprise's four fields are harmless to a client.
        owner = {
            **self.user(account.login),
            "name": account.name or account.login,
            "slug": account.login.lower(),
            "created_at": account.created_at,
            "updated_at": account.created_at,
        }
        return {
            "id": installation.id,
            "account": owner,
            "repository_selection": "all" if installation.repos is None else "selected",
            "access_tokens_url": (
                f"{self.urls.api}/app/installations/{installation.id}/access_tokens"
            ),
            "repositories_url": f"{self.urls.api}/installation/repositories",
            "html_url": f"{self.urls.web}/settings/installations/{installation.id}",
            "app_id": installation.app.id,
            "app_slug": installation.app.slug,
            "target_id": account.id,
            "target_type": account.type,
            "permissions": dict(PERMISSIONS),
            "events": list(EVENTS),
            "created_at": installation.created_at,
            "updated_at": installation.created_at,
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": None,
            "suspended_at": None,
        }

    def installation_token(
        self, installation: Installation, token: str, expires_at: float
    ) -> JsonDict:
        return {
            "token": token,
            "expires_at": timestamp(expires_at),
            "permissions": dict(PERMISSIONS),
            "repository_selection": "all" if installation.repos is None else "selected",
        }
