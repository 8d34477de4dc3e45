"""App mode of the local deployment (`./run-local.sh --app`, docs/deployment.md): the bot
and the worker act as a GitHub App of the mock, and report jobs as check runs.

The mock pod starts first; the App `ouro-ci` is registered there (the mock makes its key
pair), installed on the sample's account, and its private key written as the secret file
`github/app.pem`. Only then does the ouroboros pod start, its settings naming the App and
its installation and no token. Installation tokens live `TOKEN_LIFETIME` seconds, so a run
of the sample's PRs outlives several of them: PyGithub renews each 20 s before it expires.
"""

from typing import TYPE_CHECKING

from mock_github.control import MockGitHubControl
from ouro.deploy import host
from ouro.deploy.progress import say
from ouro.deploy.secrets import write_private

if TYPE_CHECKING:
    from ouro.deploy.local import Deployment, State

SLUG = "ouro-ci"
ACCOUNT = "ouro-demo"
TOKEN_LIFETIME = 25.0


def register(deploy: "Deployment", timeout: float) -> None:
    """The App in the running mock, installed on the sample's account; its key a secret
    file (`github/app.pem`, GITHUB_APP_KEY_FILE's default path in the pod)."""
    mock = deploy.url("mock-github")
    host.wait_for(host.http_answers(mock + "/_mock/healthz"), "mock-github", timeout)
    with MockGitHubControl(mock) as control:
        app = control.register_app(SLUG, ACCOUNT, token_lifetime=TOKEN_LIFETIME)
        installation = control.install_app(SLUG, ACCOUNT)
    key = deploy.secrets / "github" / "app.pem"
    key.unlink(missing_ok=True)
    write_private(key, str(app["pem"]))
    deploy.state.app_id, deploy.state.app_installation = int(app["id"]), int(installation["id"])
    deploy.save()
    say(f"App mode: App {SLUG} ({app['id']}), installation {installation['id']}")


def values(state: "State") -> dict[str, str]:
    """ouro-config entries of App mode (none in token mode): the App and its installation,
    and no token (an empty GITHUB_TOKEN_FILE names none), so the adapter acts as the App."""
    if not state.app_id:
        return {}
    return {
        "GITHUB_APP_ID": str(state.app_id),
        "GITHUB_APP_INSTALLATION_ID": str(state.app_installation),
        "GITHUB_TOKEN_FILE": "",
    }


def tokens_issued(deploy: "Deployment") -> int:
    """How many installation tokens the mock gave the App so far."""
    with MockGitHubControl(deploy.url("mock-github")) as control:
        return int(control.app(SLUG)["tokens_issued"])
