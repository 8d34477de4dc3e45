"""The canary worker pool in Kubernetes: the production worker Deployment (containers/kube/
worker.yaml, rendered with a release's images) made into a second Deployment,
`ouro-worker-canary`, whose workers run as canaries of that release (docs/worker.md,
"Canary workers"). Printed by `ouro deploy canary manifest`, for `kubectl apply -f -`;
never part of the kustomization, so that `kubectl apply -k` never starts a canary.
"""

import copy
from pathlib import Path

from ouro.deploy import manifests, release

STABLE = "ouro-worker"
NAME = "ouro-worker-canary"
# On the worker's hostPath folder: a rolled-back canary stays so after its pod is replaced
# on the same node.
STATE_DIR = "/var/lib/ouro-worker/canary-state"


def deployment(
    chosen: release.Release,
    *,
    share: float,
    replicas: int = 1,
    window: int | None = None,
    max_error_rate: float | None = None,
    kube: Path = manifests.KUBE,
) -> manifests.Manifest:
    """The canary Deployment of release `chosen`, beside the stable `ouro-worker`."""
    stable = next(
        (
            d
            for d in release.render(chosen, kube)
            if d["kind"] == "Deployment" and d["metadata"]["name"] == STABLE
        ),
        None,
    )
    if stable is None:
        raise manifests.ManifestError(f"{kube}: no Deployment {STABLE} to make a canary of")
    canary = copy.deepcopy(stable)
    canary["metadata"]["name"] = NAME
    # Labels of its own: the stable Deployment's selector must not count these pods.
    for labels in (
        canary["metadata"]["labels"],
        canary["spec"]["selector"]["matchLabels"],
        canary["spec"]["template"]["metadata"]["labels"],
    ):
        labels["app.kubernetes.io/name"] = NAME
    canary["spec"]["replicas"] = replicas
    worker = manifests.pod_spec(canary)["containers"][0]
    worker["args"] = [*worker["args"], "--release", chosen.name, "--canary-share", f"{share:g}"]
    if window is not None:
        worker["args"] += ["--canary-window", str(window)]
    if max_error_rate is not None:
        worker["args"] += ["--canary-max-error-rate", f"{max_error_rate:g}"]
    worker["env"] = [*worker.get("env", []), {"name": "OURO_STATE_DIR", "value": STATE_DIR}]
    return canary
