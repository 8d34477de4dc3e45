"""Publishing a release: push the images built here to a registry, learn their digests,
record them in a release file.

`podman push --digestfile` gives the digest of the manifest as the registry stores it,
which is what a pull by digest asks for. Each image is pushed under its input hash as tag
(a name for people: a rebuild of the same inputs may differ and move it) and recorded by
digest, which never moves. An image whose inputs equal the
ones the newest release recorded for the same repository is not pushed again: that
release's digest is reused. Registries that need no TLS (a test's on loopback) are marked
insecure in registries.conf (`CONTAINERS_REGISTRIES_CONF`), not here.
"""

import datetime
import logging
import subprocess
import tempfile
import time
from pathlib import Path

from ouro.config import ConfigError
from ouro.deploy import containers, podman
from ouro.deploy.release import RELEASES, Image, Release, checked_name, latest, save

log = logging.getLogger(__name__)


def inputs_of(local_ref: str) -> str:
    """The input hash an image built here carries as its tag."""
    return local_ref.rsplit(":", 1)[1]


def push(local_ref: str, repository: str) -> str:
    """Push `local_ref` to `repository` (HOST[:PORT]/PATH/ouro-NAME); its reference by digest."""
    with tempfile.TemporaryDirectory(prefix="ouro-push-") as tmp:
        digestfile = Path(tmp) / "digest"
        destination = f"docker://{repository}:{inputs_of(local_ref)}"
        podman.run(
            ["push", "--quiet", "--digestfile", str(digestfile), local_ref, destination],
            timeout=3600,
        )
        digest = digestfile.read_text().strip()
    return f"{repository}@{digest}"


def head_commit() -> str:
    result = subprocess.run(
        ["git", "-C", str(podman.PROJECT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigError(f"no commit to record (git rev-parse HEAD: {result.stderr.strip()})")
    return result.stdout.strip()


def default_name(commit: str, now: datetime.datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{commit[:7]}"


def publish(
    local: dict[str, str],
    registry: str,
    *,
    folder: Path = RELEASES,
    name: str | None = None,
    commit: str | None = None,
    epoch: str = "",
) -> Release:
    """Push the images `local` names (app, broker, job: references built here, with
    OURO_IMAGE_EPOCH `epoch`) under `registry` (HOST[:PORT]/PREFIX) and write the release
    file into `folder`."""
    missing = set(containers.IMAGES) - set(local)
    if missing:
        raise ConfigError(f"no image given for {', '.join(sorted(missing))}")
    # Before anything is pushed: a bad name found afterwards would waste the pushes.
    if name is not None:
        checked_name(name, "--name")
        if (folder / f"{name}.yaml").exists():
            raise ConfigError(f"release {name} exists in {folder}: give another --name")
    registry = registry.rstrip("/")
    previous = latest(folder)
    images = {}
    for image in containers.IMAGES:
        repository = f"{registry}/ouro-{image}"
        inputs = inputs_of(local[image])
        before = previous.images[image] if previous else None
        if previous and before and before.inputs == inputs and before.repository == repository:
            log.info("%s: inputs unchanged since release %s, not pushed", image, previous.name)
            images[image] = before
            continue
        start = time.monotonic()
        ref = push(local[image], repository)
        log.info("%s: pushed %s in %.1fs", image, ref, time.monotonic() - start)
        images[image] = Image(ref, inputs)
    commit = commit or head_commit()
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    release = Release(
        name or default_name(commit, now),
        commit,
        now.isoformat().replace("+00:00", "Z"),
        images,
        epoch,
    )
    save(release, folder)
    return release
