"""The sample repository's VM image for local runs: built once per recipe on this host,
uploaded to the deployment's images-server at start-up (docs/deployment.md).

The build is cached by the recipe's SHA-256 under `.local/vm-images/`, as container images
are cached by their inputs, so a warm `./run-local.sh` only uploads it (content-addressed:
the images-server keeps one copy). The reference that the upload returns is committed to
the sample repository as `images/sample`, as an image refresh would commit it.
"""

import hashlib
import logging
from pathlib import Path

from ouro.deploy import podman
from ouro.deploy.progress import say
from ouro.store import open_store
from vm import remote
from vm.build import build
from vm.imagefiles import ImageFiles

log = logging.getLogger(__name__)

NAME = "sample"
# In the sample repository: the recipe, and the reference the tests boot.
RECIPE = Path("images") / f"{NAME}.yaml"
REFERENCE = f"images/{NAME}"
BUILDS = podman.STATE / "vm-images"


def built(sample_repo: Path) -> Path:
    """The sample's image, built now if this recipe was never built here."""
    recipe = sample_repo / RECIPE
    digest = hashlib.sha256(recipe.read_bytes()).hexdigest()[:16]
    image = BUILDS / digest / f"{NAME}.qcow2"
    if ImageFiles(image).manifest.exists():
        say(f"  vm image {NAME} cached ({image.parent.name})")
        return image
    say(f"building the VM image {NAME} from {RECIPE} (about a minute, once per recipe)")
    # A folder of .debs shared by builds: a changed recipe downloads only what changed.
    build(recipe, image, apt_cache=BUILDS / "apt-cache")
    return image


def upload(image: Path) -> str:
    """Upload to the store the environment names; the reference (`NAME-<sha256>.qcow2`)."""
    store = open_store()
    try:
        ref = remote.upload(store, image, NAME)
    finally:
        store.close()
    say(f"  vm image uploaded as {ref.file_name}")
    return ref.file_name
