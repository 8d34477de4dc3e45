"""`ouro vm refresh NAME`: rebuild a product repository's image from its recipe, store it
under its content address and point the repository's reference file at it (docs/vm.md,
"Refreshing an image").

Run in a checkout (the current folder, or `--source DIR`):

    images/NAME.yaml   the recipe (vm/recipe.py)
    images/NAME        the reference file, one line `NAME-<sha256>.qcow2` (vm/remote.py)

The checkout is a pull request's content, so neither path may be a symbolic link, and
the recipe must be a regular file inside the checkout; the image is built in a temporary
folder under $TMPDIR that is removed afterwards.

In a job the store's upload token is the secret `images-upload`, a file in
`$OURO_SECRETS`; it is used when `IMAGES_TOKEN_FILE` names no other.
"""

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ouro.store import Store, open_store
from vm import build as build_module
from vm import remote
from vm.errors import InputError, VmError
from vm.imagefiles import ImageRef, check_name, read_reference

log = logging.getLogger(__name__)

FOLDER = "images"
UPLOAD_SECRET = "images-upload"  # noqa: S105 (the secret's name, not a secret)
TOKEN_VARIABLE = "IMAGES_TOKEN_FILE"  # noqa: S105 (a variable's name)


@dataclass(frozen=True)
class Paths:
    recipe: Path
    reference: Path


@dataclass(frozen=True)
class Refreshed:
    name: str
    old: ImageRef | None
    new: ImageRef

    @property
    def unchanged(self) -> bool:
        return self.old == self.new

    def line(self) -> str:
        old = self.old.file_name if self.old is not None else "(none)"
        text = f"refreshed {self.name}: {old} -> {self.new.file_name}"
        return text + " (unchanged)" if self.unchanged else text


def paths(source: Path, name: str) -> Paths:
    """The recipe and reference file of image `name` in the checkout `source`; `InputError`
    for an invalid name, a missing recipe, or a path that is a symbolic link or leaves it."""
    try:
        check_name(name)
    except VmError as error:
        raise InputError(str(error)) from None
    if not source.is_dir():
        raise InputError(f"{source}: not a folder (the product repository's checkout)")
    root = source.resolve()
    folder = source / FOLDER
    recipe = folder / f"{name}.yaml"
    reference = folder / name
    for path in (folder, recipe, reference):
        if path.is_symlink():
            raise InputError(f"{path}: a symbolic link; refused (the checkout is a PR's content)")
    if not recipe.is_file():
        raise InputError(f"{recipe}: no such recipe (a regular file) in the checkout")
    if not recipe.resolve().is_relative_to(root):
        raise InputError(f"{recipe}: outside the checkout {root}")
    if reference.exists() and not reference.is_file():
        raise InputError(f"{reference}: not a regular file (the image's reference file)")
    return Paths(recipe, reference)


def current(reference: Path) -> ImageRef | None:
    """The reference the file holds now; None if there is none (or none that is valid)."""
    if not reference.exists():
        return None
    try:
        return read_reference(str(reference))
    except VmError as error:
        log.warning("%s; it will be replaced", error)
        return None


def upload_secret() -> Path | None:
    """The job's upload token file, `$OURO_SECRETS/images-upload`, when `IMAGES_TOKEN_FILE`
    is not set and that file exists."""
    folder = os.environ.get("OURO_SECRETS")
    if os.environ.get(TOKEN_VARIABLE) or not folder:
        return None
    path = Path(folder) / UPLOAD_SECRET
    return path if path.is_file() else None


def open_upload_store() -> Store:
    """`open_store()`, with the job's upload token if there is one (`upload_secret`)."""
    secret = upload_secret()
    if secret is None:
        return open_store()
    log.info("upload token from %s", secret)
    previous = os.environ.get(TOKEN_VARIABLE)
    # The store reads its token once, when it is made.
    os.environ[TOKEN_VARIABLE] = str(secret)
    try:
        return open_store()
    finally:
        if previous is None:
            del os.environ[TOKEN_VARIABLE]
        else:
            os.environ[TOKEN_VARIABLE] = previous


def refresh(
    name: str,
    source: Path,
    store: Store,
    *,
    apt_cache: Path | None = None,
    mirror: str = build_module.DEFAULT_MIRROR,
) -> Refreshed:
    """Build `images/NAME.yaml` of the checkout, upload the image, write `images/NAME`."""
    where = paths(source, name)
    old = current(where.reference)
    log.info(
        "refresh %s: building %s (now %s)",
        name,
        where.recipe,
        old.file_name if old is not None else "no reference",
    )
    # Under $TMPDIR: a build needs about twice the root file system there, briefly.
    work = Path(tempfile.mkdtemp(prefix="ouro-vm-refresh-"))
    try:
        files = build_module.build(
            where.recipe, work / f"{name}.qcow2", apt_cache=apt_cache, mirror=mirror
        )
        new = remote.upload(store, files.qcow2, name)
    finally:
        build_module.remove_tree(work)
    remote.write_reference(where.reference, new)
    return Refreshed(name, old, new)
