"""The whole deployment on one machine, under podman, from the production manifests.

`ouro local up` checks prerequisites, builds the images whose inputs changed, makes fake
secrets, renders containers/kube/ as one pod (`manifests`) and containers/mock-github.yaml
with the local values (docs/deployment.md, "Values"), starts the pods and waits until every
service answers. With a `RealGitHub` it starts no mock: the bot and worker talk to that
API with its token (a secret file) and a test map naming the real repository. `ouro local
drive` pushes a mocked PR through the system; `ouro local down` removes everything; `ouro
local run` does all three and is what ./run-local.sh calls. The deployment tests use the
same class.
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ouro import amqp, cli
from ouro.config import ConfigError
from ouro.deploy import appmode, containers, host, localpod, manifests, podman, vmimage
from ouro.deploy import secrets as ouro_secrets
from ouro.deploy.progress import say

log = logging.getLogger(__name__)

YAMLS = (manifests.KUBE, containers.CONTAINERS / "mock-github.yaml")
LOCAL_TESTMAP = containers.CONTAINERS / "local-testmap.yaml"
SAMPLE_REPO = containers.CONTAINERS / "sample-repo"
PODS = ("ouroboros", "ouro-mock-github")
# Repositories of the mock whose branches image refreshes push to (a token each).
PUSH_REPOS = ("ouro-demo/sample",)
PORTS = {"broker": 5671, "webhook": 8081, "images-server": 8080, "mock-github": 8090}


@dataclass
class State:
    """What `up` made, saved so that `drive`, `shell` and `down` find it."""

    host: str = "127.0.0.1"
    images: dict[str, str] = field(default_factory=dict)
    components: list[str] = field(default_factory=list)
    service_pid: int | None = None
    github_api: str | None = None  # None: the mock GitHub
    # The reference of the sample's VM image in this deployment's images-server.
    sample_image: str = ""
    # App mode (appmode.py): the mock's App and its installation; 0 in token mode.
    app_id: int = 0
    app_installation: int = 0


@dataclass(frozen=True)
class RealGitHub:
    """GitHub (or anything serving its API) in place of the mock. The token reaches the bot
    and the worker only as their secret file. The test map is `testmap_file` as it is, or
    else the local one with `repos` (OWNER/NAME -> base branch -> contexts) and no extra
    trusted users: the usual trust rules decide whether the PR runs."""

    api_url: str
    token: str = field(repr=False)
    repos: dict[str, Any] = field(default_factory=dict)
    testmap_file: Path | None = None


class Deployment:
    # The pods this deployment starts (a tenant's have names of their own: tenant.py).
    pods: tuple[str, ...] = PODS

    def __init__(self, root: Path = podman.STATE / "deploy"):
        self.root = root
        self.secrets = root / "secrets"
        self.socket = root / "podman.sock"
        self.state_file = root / "state.json"
        self.state = State()
        self._service: subprocess.Popen[bytes] | None = None
        if self.state_file.exists():
            self.state = State(**json.loads(self.state_file.read_text()))

    # -- values and environment --------------------------------------------------------
    @property
    def mocked(self) -> bool:
        return self.state.github_api is None

    @property
    def github_api(self) -> str:
        return self.state.github_api or self.url("mock-github")

    def yamls(self) -> tuple[Path, ...]:
        return YAMLS if self.mocked else YAMLS[:1]

    def url(self, component: str) -> str:
        return f"http://{self.state.host}:{self.port(component)}"

    def port(self, component: str) -> int:
        """The host port of `component`'s service."""
        return PORTS[component]

    @property
    def amqp_url(self) -> str:
        return f"amqps://{self.state.host}:{PORTS['broker']}/%2F"

    def client_env(self) -> dict[str, str]:
        """The settings with which host-side tools (ouro, curl, tests) reach the deployment."""
        mock = {"MOCK_GITHUB_URL": self.url("mock-github")} if self.mocked else {}
        return {
            **mock,
            "AMQP_URL": self.amqp_url,
            "AMQP_CA_FILE": str(self.secrets / "amqp" / "ca.pem"),
            "AMQP_CERT_FILE": str(self.secrets / "amqp" / "client.pem"),
            "AMQP_KEY_FILE": str(self.secrets / "amqp" / "client.key"),
            "GITHUB_API_URL": self.github_api,
            "GITHUB_TOKEN_FILE": str(self.secrets / "github" / "token"),
            "WEBHOOK_URL": self.url("webhook") + "/",
            "WEBHOOK_SECRET_FILE": str(self.secrets / "webhook" / ".secret"),
            "IMAGES_SERVER_URL": f"http://localhost:{PORTS['images-server']}",
            "IMAGES_TOKEN_FILE": str(self.secrets / "images" / "token"),
            "OURO_TESTMAP": str(self.root / "testmap.yaml"),
        }

    def local_values(self) -> dict[str, str]:
        """ouro-config entries that differ from production (docs/deployment.md)."""
        return {
            "GITHUB_API_URL": self.github_api,
            # The worker is in the images-server's pod, and a pod cannot reach its own host
            # port through the host's address here; localhost works in the pod and on the
            # host alike. (The HTTP store has no separate public URL for log links.)
            "IMAGES_SERVER_URL": f"http://localhost:{PORTS['images-server']}",
            # Job containers are siblings on the host's network: the host's address.
            "OURO_WORKER_IMAGES_URL": f"http://{self.state.host}:{PORTS['images-server']}",
            "OURO_WORKER_WORK_DIR": str(self.work_dir),
            "OURO_WORKER_SECRETS_DIR": str(self.job_secrets_dir),
            "OURO_WORKER_IMAGE_CACHE": str(self.same_path_volumes()["image-cache"]),
            **appmode.values(self.state),
        }

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    @property
    def job_secrets_dir(self) -> Path:
        return self.root / "job-secrets"

    def same_path_volumes(self) -> dict[str, Path]:
        """hostPath volumes that the host's podman mounts into job containers again, so the
        worker sees them at their host path; locally they live in the project's folder."""
        return {
            "worker-dir": self.work_dir,
            "job-secrets": self.job_secrets_dir,
            "image-cache": self.root / "image-cache",
        }

    def local_testmap(self, repos: dict[str, Any] | None = None) -> str:
        """The sample's test map with the local job image; or with `repos` instead of the
        sample (and without what names the sample)."""
        testmap = yaml.safe_load(LOCAL_TESTMAP.read_text())
        testmap["defaults"]["image"] = self.state.images["job"]
        if repos is not None:
            testmap["repos"] = repos
            # The sample's trusted user, images and infrastructure repository do not apply.
            for section in ("trusted", "images", "infra"):
                testmap.pop(section, None)
        return yaml.safe_dump(testmap, sort_keys=False)

    def testmap_for(self, github: RealGitHub | None) -> str:
        if github is None:
            return self.local_testmap()
        if github.testmap_file is not None:
            return github.testmap_file.read_text()
        return self.local_testmap(github.repos)

    # -- lifecycle ----------------------------------------------------------------------
    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(asdict(self.state), indent=1))

    def up(
        self, *, timeout: float = 180, github: RealGitHub | None = None, app: bool = False
    ) -> None:
        """`app`: App mode (appmode.py; the mock only)."""
        host.check_prerequisites()
        say("building images (only those whose inputs changed)")
        for result in containers.build_all().values():
            verb = "built" if result.built else "cached"
            say(f"  {result.name:7} {result.ref} {verb} ({result.seconds:.0f}s)")
            self.state.images[result.name] = result.ref
        sample_image = vmimage.built(SAMPLE_REPO) if github is None else None
        self.down(quiet=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self.state.host = host.host_address()
        self.state.components = available_components()
        self.state.github_api = github.api_url if github else None
        self.state.app_id = self.state.app_installation = 0
        # Fresh fake secrets each time: the broker's certificate names this run's address.
        shutil.rmtree(self.secrets, ignore_errors=True)
        ouro_secrets.generate(
            self.secrets,
            broker_names=(*ouro_secrets.BROKER_NAMES, self.state.host),
            github_token=github.token if github else None,
        )
        say(f"fake secrets in {self.secrets}" + ("" if self.mocked else " (real GitHub token)"))
        self.start_podman_service()
        self.prepare_volumes()
        self.save()
        testmap = self.testmap_for(github)
        (self.root / "testmap.yaml").write_text(testmap)
        # In App mode the mock comes first: the App must exist before the bot starts.
        for source in reversed(self.yamls()) if app else self.yamls():
            if app and source == YAMLS[0]:
                appmode.register(self, timeout)
            rendered = localpod.render(self, source, testmap)
            podman.run(["kube", "play", "--quiet", str(rendered)], timeout=300)
        pods = PODS if self.mocked else PODS[:1]
        say(f"pods started: {', '.join(pods)} (services on {self.state.host})")
        self.wait_ready(timeout)
        if sample_image is not None:
            with host.environment(self.client_env()):
                self.state.sample_image = vmimage.upload(sample_image)
            self.save()

    def prepare_volumes(self) -> None:
        """The same-path folders, and the job secrets in theirs."""
        for folder in self.same_path_volumes().values():
            folder.mkdir(parents=True, exist_ok=True)
        # What a job that names `images-upload` gets: the token that may upload images only.
        upload = self.job_secrets_dir / "images-upload"
        upload.write_bytes((self.secrets / "images" / "job-token").read_bytes())
        upload.chmod(0o600)
        if self.mocked:
            # The sample's push token, for image refreshes: the mock accepts its own token.
            for repo in PUSH_REPOS:
                token = self.job_secrets_dir / "push-tokens" / repo
                token.parent.mkdir(parents=True, exist_ok=True)
                token.write_bytes((self.secrets / "github" / "token").read_bytes())
                token.chmod(0o600)

    def start_podman_service(self) -> None:
        """A podman API socket of our own for the worker's job containers."""
        if self.state.service_pid and host.alive(self.state.service_pid):
            return
        process = podman.start_service(self.socket, self.root / "podman-service.log")
        self._service = process
        self.state.service_pid = process.pid

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        checks: list[tuple[str, Callable[[], bool]]] = [
            ("broker (TLS, client certificate)", self.broker_ready)
        ]
        http = {"webhook": "/healthz", "images-server": "/", "mock-github": "/_mock/healthz"}
        if not self.mocked:
            del http["mock-github"]
        for name, path in http.items():
            if name in self.state.components:
                checks.append((name, host.http_answers(self.url(name) + path)))
        for what, check in checks:
            host.wait_for(check, what, max(1.0, deadline - time.monotonic()))
            say(f"ready: {what}")

    def broker_ready(self) -> bool:
        pika_log = logging.getLogger("pika")
        level = pika_log.level
        # Refused attempts while the broker starts are expected; pika logs each as an ERROR.
        pika_log.setLevel(logging.CRITICAL)
        with host.environment(self.client_env()):
            try:
                amqp.connect().close()
            except (amqp.BrokerUnavailable, ConfigError, OSError):  # OSError: TLS refusals
                return False
            finally:
                pika_log.setLevel(level)
        return True

    def exec(self, container: str, argv: list[str], timeout: float = 120) -> str:
        """Run `argv` in a container of the ouroboros pod, with that container's settings."""
        result = podman.run(["exec", f"{self.pods[0]}-{container}", *argv], timeout=timeout)
        return result.stdout

    def container_names(self) -> list[str]:
        result = podman.run(
            ["ps", "-a", "--format", "{{.Names}}", "--filter", "label=app"], check=False
        )
        prefixes = tuple(f"{pod}-" for pod in self.pods)
        return [n for n in result.stdout.split() if n.startswith(prefixes)]

    def dump_logs(self, out: Callable[[str], None] = print) -> None:
        for name in self.container_names():
            result = podman.run(["logs", "--tail", "200", name], check=False)
            out(f"===== podman logs {name} =====\n{result.stdout}{result.stderr}")

    def down(self, *, quiet: bool = False) -> None:
        for source in YAMLS:
            rendered = self.root / f"{source.stem}.yaml"
            if rendered.exists():
                podman.run(["kube", "down", str(rendered)], check=False, timeout=120)
        for pod in PODS:
            podman.run(["pod", "rm", "--force", "--time", "5", pod], check=False, timeout=120)
        # Each run starts from empty volumes (the config maps become volumes too).
        listed = podman.run(["volume", "ls", "--format", "{{.Name}}"], check=False).stdout.split()
        ours = [v for v in listed if v.startswith("ouro-")]
        if ours:
            podman.run(["volume", "rm", "--force", *ours], check=False)
        self.stop_podman_service()
        if not self.mocked:
            # A real token outlives no deployment (fake secrets are kept for inspection).
            (self.secrets / "github" / "token").unlink(missing_ok=True)
        if self.root.exists():
            self.save()
        if not quiet:
            say("deployment removed")

    def stop_podman_service(self) -> None:
        if self._service is not None:
            self._service.terminate()
            self._service.wait(timeout=30)
            self._service = None
        elif self.state.service_pid and host.alive(self.state.service_pid):
            # Started by an earlier `ouro local up`.
            os.kill(self.state.service_pid, signal.SIGTERM)
        self.state.service_pid = None


def available_components() -> list[str]:
    """The `ouro` subcommands this tree provides (the app image is built from it)."""
    return sorted(cli.command_names())
