"""`ouro deploy canary manifest`: the canary worker Deployment of a release, beside the stable
one, valid for every Kubernetes version we support. No podman, no ports."""

import subprocess
import sys
from pathlib import Path

import yaml

from ouro.deploy import kubecheck, manifests, release
from tests.deploy.test_release import a_release

OURO = str(Path(sys.executable).parent / "ouro")


def test_the_canary_deployment_runs_the_release_as_a_canary_beside_the_stable_one(
    tmp_path: Path,
) -> None:
    chosen = a_release("r2")
    path = release.save(chosen, tmp_path)
    printed = subprocess.run(
        [OURO, "deploy", "canary", "manifest", "--release", str(path), "--canary-share", "0.25",
         "--canary-window", "10", "--replicas", "2"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    canary = yaml.safe_load(printed)
    stable = next(d for d in manifests.production() if d["metadata"]["name"] == "ouro-worker")
    assert canary["kind"] == "Deployment"
    assert canary["metadata"]["name"] == "ouro-worker-canary"
    assert canary["spec"]["replicas"] == 2
    # The stable Deployment's selector does not take the canary's pods.
    selected = stable["spec"]["selector"]["matchLabels"].items()
    assert not selected <= canary["spec"]["template"]["metadata"]["labels"].items()
    own = canary["spec"]["selector"]["matchLabels"].items()
    assert own <= canary["spec"]["template"]["metadata"]["labels"].items()
    worker = manifests.pod_spec(canary)["containers"][0]
    assert worker["image"] == chosen.images["app"].ref
    assert worker["args"][-6:] == [
        "--release", "r2", "--canary-share", "0.25", "--canary-window", "10",
    ]  # fmt: skip
    assert {"name": "OURO_STATE_DIR", "value": "/var/lib/ouro-worker/canary-state"} in worker["env"]
    assert kubecheck.problems([("canary", canary)]) == []
