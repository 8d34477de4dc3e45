"""The manifests rendered for this machine (`Deployment.up`): the local values and test map
in the config maps, the images built here in place of production's, secrets and same-path
volumes as host paths, and the bot told not to scan a real repository.

Each app container runs an `ouro` subcommand; one whose component is not part of this tree
yet is left out, so the deployment grows as components land.
"""

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ouro.deploy import host, manifests

if TYPE_CHECKING:
    from ouro.deploy.local import Deployment

log = logging.getLogger(__name__)

# The registry prefix the production YAML names images by; replaced by local builds.
PRODUCTION_IMAGES = "ghcr.io/ouroboros-ci/ouro-"


def render(deploy: "Deployment", source: Path, testmap: str) -> Path:
    """`source` (the manifests' folder, as one pod, or a pod YAML) rendered into the
    deployment's folder; the file written."""
    return write(deploy, source.stem, localize(deploy, load(source), testmap))


def load(source: Path) -> list[manifests.Manifest]:
    """The manifests' folder as one pod, or a pod YAML's objects."""
    if source.is_dir():
        return manifests.local_pod(manifests.production(source))
    return [d for d in yaml.safe_load_all(source.read_text()) if d]


def localize(
    deploy: "Deployment", docs: list[manifests.Manifest], testmap: str
) -> list[manifests.Manifest]:
    """`docs` with this machine's values, test map, images and volumes (changed in place)."""
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "ConfigMap" and name == "ouro-config":
            doc["data"].update(deploy.local_values())
        elif kind == "ConfigMap" and name == "ouro-testmap":
            doc["data"]["testmap.yaml"] = testmap
        elif kind == "Pod":
            _render_pod(deploy, doc)
    return docs


def write(deploy: "Deployment", stem: str, docs: list[manifests.Manifest]) -> Path:
    out = deploy.root / f"{stem}.yaml"
    out.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return out


def local_image(deploy: "Deployment", production: str) -> str:
    """The image built here in place of a production one."""
    return deploy.state.images[manifests.image_name(production)]


def _render_pod(deploy: "Deployment", pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    same_path = deploy.same_path_volumes()
    kept = []
    for container in spec["containers"]:
        image = manifests.image_name(container["image"])
        container["image"] = local_image(deploy, container["image"])
        for variable in container.get("env", []):
            if variable.get("value", "").startswith(PRODUCTION_IMAGES):
                variable["value"] = local_image(deploy, variable["value"])
        if not host.KVM.exists():
            # A hostPath of a device that is not there would stop the pod; TCG needs none.
            mounts = container.get("volumeMounts", [])
            container["volumeMounts"] = [m for m in mounts if m["name"] != "kvm"]
        args = container.get("args") or []
        if image == "app" and args and args[0] not in deploy.state.components:
            log.info(
                "leaving out container %s: no `ouro %s` in this tree",
                container["name"],
                args[0],
            )
            continue
        if container["name"] == "mock-github":
            values = {
                "--public-url": deploy.url("mock-github"),
                "--webhook-url": deploy.url("webhook") + "/",
            }
            container["args"] = [values.get(args[i - 1], a) if i else a for i, a in enumerate(args)]
        if args[:1] == ["bot"] and not deploy.mocked:
            # Against a real repository only the PR asked for is queued (`ouro bot
            # scan --pr`), never every open PR, whose statuses nobody would finish.
            container["args"] = [*args, "--no-scan"]
        for mount in container.get("volumeMounts", []):
            if mount["name"] in same_path:
                mount["mountPath"] = str(same_path[mount["name"]])
        kept.append(container)
    spec["containers"] = kept
    used = {m["name"] for c in kept for m in c.get("volumeMounts", [])}
    volumes = []
    for volume in spec.get("volumes", []):
        if volume["name"] not in used:
            continue
        secret = volume.pop("secret", None)
        if secret is not None:
            # podman 4.3 crashes on secret volumes (nil secrets manager in kube play);
            # the same files, mounted from the generated folder, are what containers see.
            folder = deploy.secrets / secret["secretName"].removeprefix("ouro-")
            volume["hostPath"] = {"path": str(folder), "type": "Directory"}
        elif volume.get("hostPath", {}).get("type") == "Socket":
            volume["hostPath"]["path"] = str(deploy.socket)
        elif volume["name"] in same_path:
            volume["hostPath"]["path"] = str(same_path[volume["name"]])
        volumes.append(volume)
    spec["volumes"] = volumes
