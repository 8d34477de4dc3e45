"""A developer's tenant beside the shared local deployment (docs/deployment.md, "Tenants").

`./run-local.sh --tenant NAME` (`ouro local run --tenant NAME`) needs the shared deployment
up (`./run-local.sh -i` or `ouro local up` elsewhere). It starts tenant NAME's own receiver,
bot and worker (one pod, from the same production manifests) and its own mock GitHub, on
host ports of their own, against the shared broker (the tenant's vhost and user,
tenantbroker.py) and the shared images-server; drives the PR scenario; and removes only
its own pods, volumes, vhost and user. Its statuses carry its context suffix, `@NAME`, put
on every context of its test map here and nowhere else, so `/retest` and `/test
unit-tests@NAME` find them by name.
"""

import json
import re
import secrets
import shutil
from typing import Any

import yaml

from ouro.config import ConfigError
from ouro.deploy import containers, host, localpod, manifests, podman, tenantbroker
from ouro.deploy import secrets as ouro_secrets
from ouro.deploy.local import PORTS, Deployment, RealGitHub
from ouro.deploy.progress import say

# A short lowercase identifier: no hyphen, so no tenant's name is another's prefix.
_NAME = re.compile(r"[a-z][a-z0-9]{0,15}")
# The shared deployment's containers a tenant uses instead of its own.
SHARED_CONTAINERS = ("broker", "images-server")
MOCK_GITHUB = containers.CONTAINERS / "mock-github.yaml"


def tenant_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ConfigError(
            f"invalid tenant name {value!r:.40}: 1-16 lowercase letters and digits, "
            "starting with a letter"
        )
    return value


def context_suffix(name: str) -> str:
    """What tenant `name`'s statuses carry after each context: `unit-tests@alice`."""
    return f"@{name}"


def suffixed_testmap(text: str, name: str) -> str:
    """The test map `text` with every context (and every context its infrastructure
    repository tries) carrying tenant `name`'s suffix."""
    testmap = yaml.safe_load(text)
    suffix = context_suffix(name)
    for branches in testmap.get("repos", {}).values():
        for branch, contexts in branches.items():
            branches[branch] = {f"{c}{suffix}": spec for c, spec in (contexts or {}).items()}
    tries = (testmap.get("infra") or {}).get("tries", {})
    for repo, names in tries.items():
        tries[repo] = [f"{c}{suffix}" for c in names]
    return yaml.safe_dump(testmap, sort_keys=False)


def shared_up(shared: Deployment) -> None:
    """Nothing, if the shared deployment's broker and images-server answer; else why not."""
    hint = "start it first with `./run-local.sh -i` (or `ouro local up`)"
    if not shared.state_file.exists() or "base" not in shared.state.images:
        raise ConfigError(f"the shared deployment ({shared.root}) is not up: {hint}")
    # podman's configuration for this host, as the shared deployment's `up` chose it.
    podman.probe(shared.state.images["base"])
    if not tenantbroker.running(shared):
        raise ConfigError(f"the shared deployment ({shared.root}) is not up: {hint}")
    images = host.http_answers(shared.url("images-server") + "/")
    if not shared.broker_ready() or not images():
        raise ConfigError(
            f"the shared deployment's broker or images-server does not answer: {hint}"
        )


class Tenant(Deployment):
    """Tenant `name` beside `shared`: its folder `tenants/NAME` beside the shared one's."""

    def __init__(self, name: str, shared: Deployment):
        self.name = tenant_name(name)
        self.shared = shared
        super().__init__(shared.root.parent / "tenants" / self.name)
        own = tenantbroker.account(self.name)
        self.vhost = own
        self.pods = (own, f"{own}-mock-github")
        self.ports_file = self.root / "ports.json"
        # Container port -> host port, for every port the tenant's pods publish.
        self.host_ports: dict[int, int] = {}
        if self.ports_file.exists():
            self.host_ports = {
                int(k): v for k, v in json.loads(self.ports_file.read_text()).items()
            }

    @property
    def suffix(self) -> str:
        return context_suffix(self.name)

    # -- values: the tenant's own ports and vhost, the shared broker and images-server -------
    def port(self, component: str) -> int:
        if component in ("broker", "images-server"):
            return self.shared.port(component)
        return self.host_ports[PORTS[component]]

    @property
    def amqp_url(self) -> str:
        return f"amqps://{self.state.host}:{self.port('broker')}/{self.vhost}"

    def local_values(self) -> dict[str, str]:
        return {
            **super().local_values(),
            # The tenant's pod reaches the shared pod's services through the host's address.
            "AMQP_URL": self.amqp_url,
            "IMAGES_SERVER_URL": self.url("images-server"),
        }

    # -- lifecycle ----------------------------------------------------------------------
    def up(
        self, *, timeout: float = 180, github: RealGitHub | None = None, app: bool = False
    ) -> None:
        if github is not None or app:
            raise ConfigError("a tenant runs against its own mock GitHub, in token mode")
        shared_up(self.shared)
        self.down(quiet=True)
        self.root.mkdir(parents=True, exist_ok=True)
        for key in ("host", "images", "components", "sample_image"):
            setattr(self.state, key, getattr(self.shared.state, key))
        pods = [self._pod_documents(), localpod.load(MOCK_GITHUB)]
        published = {p["containerPort"] for docs in pods for p in _ports(docs)}
        self.host_ports = {port: host.free_port() for port in sorted(published)}
        self.ports_file.write_text(json.dumps(self.host_ports))
        self.add()
        self._secrets()
        say(f"tenant {self.name}: vhost and user {self.vhost} on the shared broker")
        self.start_podman_service()
        self.prepare_volumes()
        self.save()
        testmap = suffixed_testmap(self.local_testmap(), self.name)
        (self.root / "testmap.yaml").write_text(testmap)
        for pod, docs in zip(self.pods, pods, strict=True):
            rendered = localpod.write(
                self, pod, self._owned(localpod.localize(self, docs, testmap))
            )
            podman.run(["kube", "play", "--quiet", str(rendered)], timeout=300)
        ports = ", ".join(f"{c}->{h}" for c, h in self.host_ports.items())
        say(f"tenant {self.name}: pods {', '.join(self.pods)} started (ports {ports})")
        self.wait_ready(timeout)

    def add(self) -> dict[str, str]:
        """The tenant on the shared broker (vhost, user, credentials), and the settings with
        which a process reaches its vhost."""
        shared_up(self.shared)
        self.state.host = self.shared.state.host
        credentials = self.secrets / "amqp"
        tenantbroker.add(self.shared, self.name, credentials)
        self.save()
        return {
            "AMQP_URL": self.amqp_url,
            "AMQP_CA_FILE": str(credentials / "ca.pem"),
            "AMQP_CERT_FILE": str(credentials / "client.pem"),
            "AMQP_KEY_FILE": str(credentials / "client.key"),
        }

    def _secrets(self) -> None:
        """The tenant's own webhook secret and mock GitHub token; the shared images-server's
        tokens (logs and images go there)."""
        for path in (self.secrets / "webhook" / ".secret", self.secrets / "github" / "token"):
            ouro_secrets.write_private(path, secrets.token_hex(32) + "\n")
        for token in ("token", "job-token"):
            shared = self.shared.secrets / "images" / token
            ouro_secrets.write_private(self.secrets / "images" / token, shared.read_text())

    def _pod_documents(self) -> list[manifests.Manifest]:
        """The production manifests as one pod without the shared containers, and only the
        config maps and claims the rest uses."""
        docs = localpod.load(manifests.KUBE)
        pod = next(d for d in docs if d["kind"] == "Pod")
        spec = pod["spec"]
        spec["containers"] = [c for c in spec["containers"] if c["name"] not in SHARED_CONTAINERS]
        mounted = {m["name"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
        spec["volumes"] = [v for v in spec["volumes"] if v["name"] in mounted]
        used = {_config_map(ref) for c in spec["containers"] for ref in c.get("envFrom", [])}
        used |= {_source(v) for v in spec["volumes"]}
        return [d for d in docs if d["kind"] == "Pod" or d["metadata"]["name"] in used]

    def _owned(self, docs: list[manifests.Manifest]) -> list[manifests.Manifest]:
        """`docs` under the tenant's names (pods, config maps, claims: podman makes volumes
        of them) and host ports."""

        def own(name: str) -> str:
            return f"{self.pods[0]}-{name.removeprefix('ouro-')}"

        for doc in docs:
            if doc["kind"] in ("ConfigMap", "PersistentVolumeClaim"):
                doc["metadata"]["name"] = own(doc["metadata"]["name"])
                continue
            if doc["kind"] != "Pod":
                continue
            pod = self.pods[0] if doc["metadata"]["name"] == manifests.POD else self.pods[1]
            doc["metadata"] = {"name": pod, "labels": {"app": pod}}
            for container in doc["spec"]["containers"]:
                for ref in container.get("envFrom", []):
                    if "configMapRef" in ref:
                        ref["configMapRef"]["name"] = own(ref["configMapRef"]["name"])
                for port in container.get("ports", []):
                    port["hostPort"] = self.host_ports[port["containerPort"]]
            for volume in doc["spec"]["volumes"]:
                if "configMap" in volume:
                    volume["configMap"]["name"] = own(volume["configMap"]["name"])
                if "persistentVolumeClaim" in volume:
                    claim = volume["persistentVolumeClaim"]
                    claim["claimName"] = own(claim["claimName"])
        return docs

    def down(self, *, quiet: bool = False) -> None:
        """Only what is the tenant's: its pods and volumes, its podman service, its vhost
        and user on the shared broker, its secrets."""
        for pod in self.pods:
            rendered = self.root / f"{pod}.yaml"
            if rendered.exists():
                podman.run(["kube", "down", str(rendered)], check=False, timeout=120)
            podman.run(["pod", "rm", "--force", "--time", "5", pod], check=False, timeout=120)
        listed = podman.run(["volume", "ls", "--format", "{{.Name}}"], check=False).stdout.split()
        ours = [v for v in listed if v.startswith(f"{self.pods[0]}-")]
        if ours:
            podman.run(["volume", "rm", "--force", *ours], check=False)
        self.stop_podman_service()
        tenantbroker.remove(self.shared, self.name)
        shutil.rmtree(self.secrets, ignore_errors=True)
        if self.root.exists():
            self.save()
        if not quiet:
            say(f"tenant {self.name} removed (pods, volumes, vhost, user, secrets)")


def _ports(docs: list[manifests.Manifest]) -> list[dict[str, Any]]:
    return [
        port
        for doc in docs
        if doc["kind"] == "Pod"
        for container in doc["spec"]["containers"]
        for port in container.get("ports", [])
    ]


def _config_map(ref: dict[str, Any]) -> str:
    return str(ref.get("configMapRef", {}).get("name"))


def _source(volume: dict[str, Any]) -> str:
    if "configMap" in volume:
        return str(volume["configMap"]["name"])
    return str(volume.get("persistentVolumeClaim", {}).get("claimName"))
