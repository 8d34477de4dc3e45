"""The production manifests (containers/kube/, a kustomization) as Kubernetes gets them, and
as one pod for `podman kube play` on one machine.

`production` applies what the kustomization says, of which we use only `resources` and
`images` (by digest); anything else there is refused rather than ignored, so this never
differs from `kubectl apply -k`. `local_pod` folds the workloads' pod templates into the
one pod the local run has always been: its containers share localhost, so the broker is
`localhost`, and every container port is published on the host. What Kubernetes does
around a pod is left out: Services, replicas, node selectors, resources (cgroup limits fail
on hosts like ours), and probes (podman 4.3 would run them as systemd timers calling curl,
which neither the image nor every host has; the deployment tests ask each probe's endpoint
themselves, `probes`).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ouro.deploy import containers

KUBE = containers.CONTAINERS / "kube"
WORKLOADS = ("Deployment", "StatefulSet")
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "images"}
POD = "ouroboros"
# In one pod the broker is on localhost, under a name its fake certificate carries.
LOCAL_CONFIG = {"AMQP_URL": "amqps://localhost:5671/%2F"}

Manifest = dict[str, Any]


class ManifestError(Exception):
    """The kustomization asks for something this renderer does not do."""


def production(folder: Path = KUBE) -> list[Manifest]:
    """Every object the kustomization in `folder` makes, images set to their digests."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    if unknown:
        raise ManifestError(f"{folder}/kustomization.yaml: not rendered here: {sorted(unknown)}")
    digests = {entry["name"]: entry["digest"] for entry in kustomization.get("images", [])}
    docs = []
    for resource in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((folder / resource).read_text()) if d]
    for doc in docs:
        for container in pod_spec(doc).get("containers", []) if doc["kind"] in WORKLOADS else []:
            if container["image"] in digests:
                container["image"] += "@" + digests[container["image"]]
    return docs


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def local_pod(docs: list[Manifest]) -> list[Manifest]:
    """The ConfigMaps and volume claims as they are, and the workloads as one pod."""
    kept: list[Manifest] = []
    containers_: list[dict[str, Any]] = []
    volumes: dict[str, dict[str, Any]] = {}
    for doc in docs:
        kind = doc["kind"]
        if kind == "ConfigMap":
            if doc["metadata"]["name"] == "ouro-config":
                doc["data"].update(LOCAL_CONFIG)
            kept.append(doc)
        elif kind == "PersistentVolumeClaim":
            kept.append(doc)
        elif kind in WORKLOADS:
            for claim in doc["spec"].get("volumeClaimTemplates", []):
                name = claim["metadata"]["name"]
                kept.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", **claim})
                volumes[name] = {"name": name, "persistentVolumeClaim": {"claimName": name}}
            spec = pod_spec(doc)
            for volume in spec.get("volumes", []):
                if volumes.setdefault(volume["name"], volume) != volume:
                    raise ManifestError(f"volume {volume['name']} differs between workloads")
            containers_ += [_local_container(c) for c in spec["containers"]]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "labels": {"app": POD}},
        "spec": {
            "restartPolicy": "Always",
            "containers": containers_,
            "volumes": list(volumes.values()),
        },
    }
    return [*kept, pod]


def _local_container(container: dict[str, Any]) -> dict[str, Any]:
    local = {
        k: v
        for k, v in container.items()
        if k not in ("readinessProbe", "livenessProbe", "startupProbe", "resources")
    }
    for port in local.get("ports", []):
        port["hostPort"] = port["containerPort"]
    return local


@dataclass(frozen=True)
class Probe:
    """One probe of a production container, to be asked inside the local pod."""

    container: str
    kind: str  # readiness or liveness
    command: list[str] | None = None  # an exec probe
    path: str = ""  # an httpGet probe
    port: int = 0  # httpGet or tcpSocket


def probes(docs: list[Manifest]) -> list[Probe]:
    """Every readiness and liveness probe of the workloads, ports resolved to numbers."""
    found = []
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        for container in pod_spec(doc)["containers"]:
            named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            for kind in ("readiness", "liveness"):
                probe = container.get(f"{kind}Probe")
                if probe is None:
                    continue
                name = container["name"]
                if "exec" in probe:
                    found.append(Probe(name, kind, command=probe["exec"]["command"]))
                    continue
                action = probe.get("httpGet") or probe["tcpSocket"]
                port = named.get(action["port"], action["port"])
                found.append(Probe(name, kind, path=action.get("path", ""), port=int(port)))
    return found


def image_name(image: str) -> str:
    """`app` for `ghcr.io/ouroboros-ci/ouro-app@sha256:…` (or `…:TAG`): the name
    `containers` builds it by."""
    last = image.rsplit("/", 1)[1]
    return last.split("@", 1)[0].split(":", 1)[0].removeprefix("ouro-")
