"""A release: the three images by digest, the commit they were built from, and when.

One YAML file per release in `containers/releases/` (`ouro deploy publish` writes it, the
landing workflow commits it):

    name: 20261207-120341-0123abc
    commit: 0123abc…            # 40 hex
    date: "2026-12-07T12:03:41Z"
    epoch: 2026-W49             # OURO_IMAGE_EPOCH of its images ("" for none)
    images:
      app: {ref: "ghcr.io/ouroboros-ci/ouro-app@sha256:…", inputs: 5f0c…}
      broker: {ref: …, inputs: …}
      job: {ref: …, inputs: …}

`ref` is the registry reference by digest, never a tag; `inputs` is the hash of what the
image was built from (its local tag, `ouro containers refs`), so an image whose inputs did
not change since the last release is not pushed again. A release carries its manifests:
`manifests_of` gives containers/kube/ as of its `commit` (from the local repository), and
`render` gives those manifests with the release's images; `pin` writes the images into
containers/kube/ itself.
"""

import contextlib
import io
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ouro import validate
from ouro.config import ConfigError
from ouro.deploy import containers, localpod, manifests, podman

RELEASES = containers.CONTAINERS / "releases"
DIGEST = r"sha256:[0-9a-f]{64}"
# Where the manifests name an image: a container's image, an env value, the test map's text.
NAMED = re.compile(
    rf"{re.escape(localpod.PRODUCTION_IMAGES)}(?P<name>{'|'.join(containers.IMAGES)})"
    rf"(?:@{DIGEST})?"
)
BY_DIGEST = re.compile(rf"[a-z0-9.:-]+(?:/[a-z0-9._-]+)*/ouro-(?P<name>[a-z]+)@{DIGEST}")
COMMIT = re.compile(r"[0-9a-f]{40}")
EPOCH = re.compile(r"[A-Za-z0-9._-]{0,64}")


@dataclass(frozen=True)
class Image:
    ref: str  # REGISTRY/PREFIX/ouro-NAME@sha256:…
    inputs: str  # the input hash it was built from

    @property
    def digest(self) -> str:
        return self.ref.rsplit("@", 1)[1]

    @property
    def repository(self) -> str:
        return self.ref.rsplit("@", 1)[0]


@dataclass(frozen=True)
class Release:
    name: str
    commit: str
    date: str  # ISO 8601, UTC
    images: dict[str, Image]
    # The OURO_IMAGE_EPOCH the images were built with ("" for none): the next landing
    # builds with it too, so its unchanged images keep their inputs and are not pushed again.
    epoch: str = ""

    def to_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "commit": self.commit,
            "date": self.date,
            "epoch": self.epoch,
            "images": {n: {"ref": i.ref, "inputs": i.inputs} for n, i in self.images.items()},
        }

    def to_yaml(self) -> str:
        header = "# A release (ouro/deploy/release.py): written by `ouro deploy publish`.\n"
        return header + yaml.safe_dump(self.to_data(), sort_keys=False)


def parse(text: str, where: str = "release") -> Release:
    """A release file's text, checked: every image present, each by digest."""
    return from_data(yaml.safe_load(text), where)


def from_data(data: Any, where: str = "release") -> Release:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: not a mapping")
    name, commit, date = (str(data.get(k, "")) for k in ("name", "commit", "date"))
    checked_name(name, where)
    if not COMMIT.fullmatch(commit):
        raise ConfigError(f"{where}: commit must be 40 hex digits, not {commit!r}")
    if not date:
        raise ConfigError(f"{where}: no date")
    epoch = str(data.get("epoch") or "")  # files written before it have none
    if not EPOCH.fullmatch(epoch):
        raise ConfigError(f"{where}: bad epoch {epoch!r:.80}")
    found = data.get("images")
    if not isinstance(found, dict) or set(found) != set(containers.IMAGES):
        raise ConfigError(f"{where}: images must be exactly {', '.join(containers.IMAGES)}")
    images = {}
    for image, entry in found.items():
        ref = str(entry.get("ref", "")) if isinstance(entry, dict) else ""
        match = BY_DIGEST.fullmatch(ref)
        if match is None or match["name"] != image:
            raise ConfigError(f"{where}: {image}: not a reference by digest: {ref!r}")
        images[image] = Image(ref, str(entry.get("inputs", "")))
    return Release(name, commit, date, images, epoch)


def checked_name(name: str, where: str = "release") -> str:
    """`name` if it is a release's name (`validate.release_name`, the worker's `--release`
    too)."""
    try:
        return validate.release_name(name)
    except validate.InvalidValue as error:
        raise ConfigError(f"{where}: {error}") from None


def load(release: str, folder: Path = RELEASES) -> Release:
    """`release`: a file, or the name of one in `folder`."""
    path = Path(release)
    if not path.is_file():
        path = folder / f"{release}.yaml"
    if not path.is_file():
        raise ConfigError(f"no release {release!r} (looked for {path})")
    return parse(path.read_text(), str(path))


def save(release: Release, folder: Path = RELEASES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{checked_name(release.name)}.yaml"
    try:
        with path.open("x") as file:
            file.write(release.to_yaml())
    except FileExistsError:
        raise ConfigError(
            f"{path} exists: a release is never rewritten; give another --name"
        ) from None
    return path


def latest(folder: Path = RELEASES) -> Release | None:
    """The newest release in `folder` (by date), or None."""
    releases = [parse(p.read_text(), str(p)) for p in sorted(folder.glob("*.yaml"))]
    return max(releases, key=lambda r: (r.date, r.name), default=None)


@contextlib.contextmanager
def manifests_of(release: Release, repository: Path = podman.PROJECT) -> Iterator[Path]:
    """The manifests' folder (containers/kube/) as of `release`'s commit, in a temporary
    folder: applying or rolling back to a release restores its objects, args and env too."""
    kube = manifests.KUBE.relative_to(podman.PROJECT).as_posix()
    git = ["git", "-C", str(repository)]
    known = subprocess.run([*git, "cat-file", "-e", f"{release.commit}^{{commit}}"],
                           capture_output=True, check=False)  # fmt: skip
    if known.returncode != 0:
        raise ConfigError(
            f"release {release.name}: its commit {release.commit} is not in {repository}:"
            f" fetch it first (git fetch origin {release.commit}, or git fetch origin main)"
        )
    archive = subprocess.run([*git, "archive", "--format=tar", release.commit, kube],
                             capture_output=True, check=False)  # fmt: skip
    if archive.returncode != 0:
        raise ConfigError(
            f"release {release.name}: no {kube} in commit {release.commit}:"
            f" {archive.stderr.decode(errors='replace').strip()}"
        )
    with tempfile.TemporaryDirectory(prefix="ouro-release-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp) / kube


def _substitute(value: Any, release: Release) -> Any:
    if isinstance(value, str):
        return NAMED.sub(lambda m: release.images[m["name"]].ref, value)
    if isinstance(value, list):
        return [_substitute(v, release) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, release) for k, v in value.items()}
    return value


def render(release: Release, folder: Path = manifests.KUBE) -> list[manifests.Manifest]:
    """The production manifests with `release`'s images: containers, env values and the test
    map's default job image."""
    return [_substitute(doc, release) for doc in manifests.production(folder)]


KUSTOMIZED = re.compile(
    rf"(?P<head>- name: {re.escape(localpod.PRODUCTION_IMAGES)}(?P<name>[a-z]+)\n"
    rf"\s+digest: ){DIGEST}"
)


def pin(release: Release, folder: Path = manifests.KUBE) -> list[Path]:
    """Write `release`'s digests into the kustomization in `folder` (its `images`, and the job
    image named in its files); the files changed."""
    for name, image in release.images.items():
        if image.repository != localpod.PRODUCTION_IMAGES + name:
            raise ConfigError(
                f"the manifests name {localpod.PRODUCTION_IMAGES}{name}; release {release.name}"
                f" has {image.repository}: apply it with `ouro deploy apply --release`"
            )
    changed = []
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text()
        new = KUSTOMIZED.sub(lambda m: m["head"] + release.images[m["name"]].digest, text)
        new = NAMED.sub(lambda m: release.images[m["name"]].ref if "@" in m[0] else m[0], new)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed
