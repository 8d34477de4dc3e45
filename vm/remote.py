"""Images in the store (`ouro.store`): content-addressed uploads and verified downloads.

    images/NAME-<sha256>.qcow2           <sha256> is the qcow2's own
    images/NAME-<sha256>.vmlinuz         verified against the manifest
    images/NAME-<sha256>.initrd          verified against the manifest
    images/NAME-<sha256>.manifest.json   uploaded last: its presence means "complete"

A product repository pins an image with a reference file, `images/NAME`, holding the
line `NAME-<sha256>.qcow2`; a change of image is then a reviewed commit like any other.
"""

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ouro.store import NotFound, Store, StoreError, file_sha256, open_store
from vm import manifest
from vm.cache import ImageCache, default_root, default_size
from vm.errors import VmError
from vm.imagefiles import ImageFiles, ImageRef, check_name, is_qcow2, read_reference

log = logging.getLogger(__name__)


class StoreSource:
    """Downloads for the cache; the store verifies what it knows, the cache the rest."""

    def __init__(self, store: Store):
        self.store = store

    def download(self, store_path: str, target: Path) -> None:
        try:
            self.store.get_to(store_path, target)
        except NotFound:
            raise VmError(f"{store_path} is not in the store (never uploaded, or pruned)") from None
        except StoreError as error:
            raise VmError(f"cannot download {store_path}: {error}") from None


def upload(store: Store, image: Path, name: str) -> ImageRef:
    """Store the image's four files under its content address; the reference."""
    files = ImageFiles(image).check()
    check_name(name)
    expected = manifest.expected(manifest.load(files.manifest), str(files.manifest))
    digest = file_sha256(files.qcow2)
    if digest != expected["qcow2"][1]:
        raise VmError(f"{files.qcow2} does not match its manifest (changed since the build?)")
    for kind in ("kernel", "initrd"):
        if file_sha256(getattr(files, kind)) != expected[kind][1]:
            raise VmError(f"{getattr(files, kind)} does not match its manifest")
    ref = ImageRef(name, digest)
    try:
        # put_file sends each file's SHA-256; the store refuses a body that does not match.
        for kind in ("qcow2", "kernel", "initrd", "manifest"):
            store.put_file(ref.store_path(kind), getattr(files, kind))
    except StoreError as error:
        raise VmError(f"upload of {ref.file_name} failed: {error}") from None
    log.info("uploaded %s", ref.file_name)
    return ref


def write_reference(path: Path, ref: ImageRef) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A new file of a fresh name (O_EXCL): a checkout may hold a symbolic link at any
    # fixed temporary name, and writing through it would write outside the checkout.
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(ref.file_name + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.info("wrote the reference %s to %s", ref.file_name, path)


def cache_from(root: Path | None, size: int | None) -> ImageCache:
    return ImageCache(root or default_root(), default_size() if size is None else size)


@contextlib.contextmanager
def resolve(value: str, cache: ImageCache) -> Iterator[ImageFiles]:
    """A local qcow2 as it is, else a reference (or reference file) fetched into the cache;
    a cached image is not evicted until the block ends."""
    if is_qcow2(Path(value)):
        yield ImageFiles(Path(value)).check()
        return
    ref = read_reference(value)
    store = open_store()
    try:
        with cache.open(ref, StoreSource(store)) as files:
            yield files
    finally:
        store.close()
