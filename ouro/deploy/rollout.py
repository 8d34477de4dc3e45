"""Applying a release, rolling back to the one before, and saying what runs.

Two targets, one history each (the releases applied, newest last; `rollback` drops the
newest and applies the one before it):

- `SingleHost`: the local deployment (`ouro local up`, `Deployment`). The release's images
  are pulled first, so the switch waits for no download; then the release's manifests (as
  of its commit) are rendered for this machine as `ouro local up` renders them, with the
  release's images, and the pod is replaced (`podman kube play --replace`). Its volumes
  (the broker's queues, the bot's state, the images) are kept. History: `releases.yaml`
  in the deployment's folder.
- `Cluster`: `kubectl apply -f -` of the release's manifests (as of its commit) with its
  images, then `kubectl rollout status` of each workload. History: the ConfigMap
  `ouro-releases`, applied with them.
"""

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from ouro.config import ConfigError
from ouro.deploy import canarypool, host, localpod, manifests, podman, probes
from ouro.deploy.local import Deployment
from ouro.deploy.progress import say
from ouro.deploy.release import Release, from_data, manifests_of, render

HISTORY = "releases.yaml"
HISTORY_CONFIGMAP = "ouro-releases"
# The pods of the current release: the canary pool runs another release by design
# (canarypool.py), so it neither counts for nor against this one.
RELEASE_PODS = f"app.kubernetes.io/part-of=ouroboros,app.kubernetes.io/name!={canarypool.NAME}"
PLAYED = "played-pod.yaml"  # the pod a switch plays, in the deployment's folder
KEPT = 20  # releases remembered for rollbacks


@dataclass(frozen=True)
class Running:
    """One container as the target reports it."""

    workload: str
    container: str
    image: str  # the reference it was started from
    digests: tuple[str, ...]  # what it runs: the digests its image is known by
    ready: bool


class Target(Protocol):
    def history(self) -> list[Release]: ...
    def switch(self, release: Release, history: list[Release], timeout: float) -> None: ...
    def running(self) -> list[Running]: ...


class SingleHost:
    def __init__(self, deploy: Deployment):
        self.deploy = deploy
        self.file = deploy.root / HISTORY

    def history(self) -> list[Release]:
        # No file, or an empty one: nothing applied yet.
        found = yaml.safe_load(self.file.read_text()) if self.file.exists() else None
        return [from_data(d, str(self.file)) for d in found or []]

    def switch(self, release: Release, history: list[Release], timeout: float) -> None:
        deploy = self.deploy
        if not deploy.state_file.exists():
            raise ConfigError(f"no local deployment in {deploy.root}: `ouro local up` first")
        for image in release.images.values():
            podman.run(["pull", "--quiet", image.ref], timeout=3600)
        say(f"release {release.name}: images pulled")
        deploy.state.images.update({n: i.ref for n, i in release.images.items()})
        testmap_file = deploy.root / "testmap.yaml"
        # The sample's test map names the job image; a real repository's is the user's own.
        testmap = deploy.local_testmap() if deploy.mocked else testmap_file.read_text()
        testmap_file.write_text(testmap)
        with manifests_of(release) as kube:
            rendered = localpod.render(deploy, kube, testmap)
        # The volumes stay, with the broker's queues in them; podman 4.3 refuses to play a
        # claim whose volume exists, even with --replace.
        docs = [
            d
            for d in yaml.safe_load_all(rendered.read_text())
            if d and not (d["kind"] == "PersistentVolumeClaim" and volume_exists(d))
        ]
        replacing = deploy.root / PLAYED
        replacing.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        start = time.monotonic()
        podman.run(["kube", "play", "--replace", "--quiet", str(replacing)], timeout=600)
        deploy.save()
        deploy.wait_ready(timeout)
        # The bot and the worker too: every container's production readiness probe.
        host.wait_for(
            self.ready, "every readiness probe", max(1.0, start + timeout - time.monotonic())
        )
        # Recorded once ready: a switch that failed leaves the history as it was, so a
        # rollback goes back to the release before the one that ran until now.
        write_atomically(self.file, yaml.safe_dump([r.to_data() for r in history], sort_keys=False))
        say(f"release {release.name}: pod replaced and ready in {time.monotonic() - start:.1f}s")

    def ready(self) -> bool:
        return all(probes.ask(p)[0] == 0 for p in self.readiness())

    def running(self) -> list[Running]:
        found = []
        for probe in self.readiness():
            answered = probes.ask(probe)[0] == 0
            result = podman.run(
                ["inspect", "--format", "{{.ImageName}} {{.Image}} {{.State.Running}}",
                 f"{manifests.POD}-{probe.container}"], check=False,
            )  # fmt: skip
            image, image_id, up = [*result.stdout.split(), "-", "-", "false"][:3]
            ready = up == "true" and answered
            found.append(Running(manifests.POD, probe.container, image, digests(image_id), ready))
        return found

    def readiness(self) -> list[manifests.Probe]:
        """The readiness probes of the containers this deployment runs."""
        listed = podman.run(
            ["ps", "--all", "--filter", f"pod={manifests.POD}", "--format", "{{.Names}}"],
            check=False,
        ).stdout.split()
        every = manifests.probes(manifests.production())
        return [
            p for p in every if p.kind == "readiness" and f"{manifests.POD}-{p.container}" in listed
        ]


def write_atomically(path: Path, text: str) -> None:
    """`text` into `path` through a file beside it and a rename: never half written."""
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as file:
        file.write(text)
    os.replace(file.name, path)


def volume_exists(claim: manifests.Manifest) -> bool:
    name = claim["metadata"]["name"]
    return podman.run(["volume", "exists", name], check=False).returncode == 0


def digests(image_id: str) -> tuple[str, ...]:
    """Every digest a local image is known by: its own, and each registry's (a push may
    store another manifest of the same image, with another digest)."""
    result = podman.run(
        ["image", "inspect", "--format", "{{.Digest}} {{range .RepoDigests}}{{.}} {{end}}",
         image_id], check=False,
    )  # fmt: skip
    return tuple(sorted({word.rpartition("@")[2] for word in result.stdout.split()}))


class Cluster:
    def __init__(self, kubectl: list[str]):
        self.kubectl = kubectl

    def _run(self, args: list[str], stdin: str | None = None, timeout: float = 120) -> str:
        result = subprocess.run(
            [*self.kubectl, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            # The program only: the rest of --kubectl may carry a token (--token=…).
            raise ConfigError(f"{self.kubectl[0]} {args[0]}: {result.stderr.strip()}")
        return result.stdout

    def history(self) -> list[Release]:
        found = self._run(["get", "configmap", HISTORY_CONFIGMAP, "--ignore-not-found",
                           "-o", "yaml"])  # fmt: skip
        return history_of(yaml.safe_load(found)) if found.strip() else []

    def switch(self, release: Release, history: list[Release], timeout: float) -> None:
        with manifests_of(release) as kube:
            *docs, history_map = cluster_objects(release, history, kube)
        self._run(["apply", "-f", "-"], stdin=yaml.safe_dump_all(docs, sort_keys=False))
        for doc in docs:
            if doc["kind"] in manifests.WORKLOADS:
                what = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
                self._run(["rollout", "status", what, f"--timeout={timeout:.0f}s"],
                          timeout=timeout + 30)  # fmt: skip
        # Recorded once every workload rolled out, as on a single host.
        self._run(["apply", "-f", "-"], stdin=yaml.safe_dump(history_map, sort_keys=False))

    def running(self) -> list[Running]:
        found = []
        listed = yaml.safe_load(self._run(["get", "pods", "-l", RELEASE_PODS, "-o", "yaml"]))
        for pod in listed["items"]:
            statuses: list[dict[str, Any]] = pod.get("status", {}).get("containerStatuses", [])
            for status in statuses:
                # imageID is the digest the kubelet pulled: REPOSITORY@sha256:….
                digest = status.get("imageID", "").rpartition("@")[2]
                found.append(Running(pod["metadata"]["name"], status["name"], status["image"],
                                     (digest,), bool(status.get("ready"))))  # fmt: skip
        return found


def cluster_objects(
    release: Release, history: list[Release], kube: Path
) -> list[manifests.Manifest]:
    """What `kubectl apply` gets: the production objects in `kube` (the release's manifests)
    with `release`'s images, and last the history (newest last) in a ConfigMap."""
    history_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": HISTORY_CONFIGMAP,
                     "labels": {"app.kubernetes.io/part-of": "ouroboros"}},
        "data": {"history": yaml.safe_dump([r.to_data() for r in history], sort_keys=False)},
    }  # fmt: skip
    return [*render(release, kube), history_map]


def history_of(configmap: manifests.Manifest) -> list[Release]:
    """The releases a cluster's history ConfigMap holds, newest last."""
    return [from_data(d, HISTORY_CONFIGMAP) for d in yaml.safe_load(configmap["data"]["history"])]


def apply(target: Target, release: Release, timeout: float) -> None:
    history = [r for r in target.history() if r.name != release.name][-(KEPT - 1) :]
    target.switch(release, [*history, release], timeout)


def rollback(target: Target, timeout: float) -> Release:
    """Back to the release applied before the current one; that release."""
    history = target.history()
    if len(history) < 2:
        raise ConfigError("no release before the current one to roll back to")
    previous = history[-2]
    target.switch(previous, history[:-1], timeout)
    return previous


def status(target: Target) -> tuple[Release | None, list[Running], bool]:
    """The current release, what runs, and whether every container is ready and runs an
    image of that release."""
    history = target.history()
    current = history[-1] if history else None
    running = target.running()
    ours = {i.digest for i in current.images.values()} if current else set()
    ok = bool(running) and all(r.ready and ours & set(r.digests) for r in running)
    return current, running, ok
