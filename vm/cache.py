"""The host's image cache: content-addressed, size-bounded, shared by concurrent processes.

    CACHE/<sha256>/image.qcow2, image.vmlinuz, image.initrd, image.manifest.json
    CACHE/.locks/<sha256>.fetch   held (exclusive) while one process checks or downloads
    CACHE/.locks/<sha256>.use     held (shared) while an image is in use; eviction needs it
    CACHE/.locks/evict            one eviction at a time

An entry is named by its qcow2's SHA-256; the manifest gives the kernel's and initrd's.
Every file is verified on every `open` (a corrupt one is downloaded again), and every
download is verified before it takes its name. Two processes that want the same image
take turns on its fetch lock, so the second finds it complete and downloads nothing.
Eviction removes the least recently used entries that nobody uses until the cache is
under its bound; an entry's folder time says when it was last used.
"""

import contextlib
import fcntl
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from ouro.store import file_sha256
from vm import manifest
from vm.errors import VmError
from vm.imagefiles import ImageFiles, ImageRef
from vm.units import human, parse_size

log = logging.getLogger(__name__)

CACHE_VARIABLE = "OURO_VM_CACHE"
SIZE_VARIABLE = "OURO_VM_CACHE_SIZE"
DEFAULT_SIZE = "20G"
_ENTRY = re.compile(r"[0-9a-f]{64}")


class Source(Protocol):
    def download(self, store_path: str, target: Path) -> None:
        """Write the file at `store_path` (`images/…`) to `target`."""


def default_root() -> Path:
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/cache/ouro/vm")
    return Path.home() / ".cache/ouro/vm"


def default_size() -> int:
    return parse_size(os.environ.get(SIZE_VARIABLE) or DEFAULT_SIZE, SIZE_VARIABLE)


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[IO[bytes]]:
    with path.open("ab") as file:
        fcntl.flock(file, mode)
        yield file


class ImageCache:
    def __init__(self, root: Path, max_bytes: int):
        self.root = root
        self.max_bytes = max_bytes
        # Made on first use: a run of a local image never touches the cache.
        self._locks = root / ".locks"

    def files(self, sha256: str) -> ImageFiles:
        return ImageFiles(self.root / sha256 / "image.qcow2")

    @contextlib.contextmanager
    def open(self, ref: ImageRef, source: Source) -> Iterator[ImageFiles]:
        """The image, complete and verified, fetched if need be; not evicted until the
        block ends (a shared lock on its `.use` file)."""
        self._locks.mkdir(parents=True, exist_ok=True)
        with _flock(self._locks / f"{ref.sha256}.use", fcntl.LOCK_SH):
            with _flock(self._locks / f"{ref.sha256}.fetch", fcntl.LOCK_EX):
                files = self._complete(ref, source)
                # The exact time, not the kernel's (a tick of several milliseconds): two
                # uses in one tick would otherwise tie, and the eviction order with them.
                now = time.time_ns()
                os.utime(files.qcow2.parent, ns=(now, now))
            self.evict(keep=ref.sha256)
            yield files

    def _complete(self, ref: ImageRef, source: Source) -> ImageFiles:
        started = time.monotonic()
        files = self.files(ref.sha256)
        folder = files.qcow2.parent
        folder.mkdir(exist_ok=True)
        # Downloads cut short by a killed process; nobody else can be writing (our lock).
        for leftover in folder.glob(".*"):
            leftover.unlink()
        fetched: list[str] = []
        expected = self._manifest(ref, source, files, fetched)
        if expected["qcow2"][1] != ref.sha256:
            raise VmError(f"the manifest of {ref.file_name} names another image")
        for kind in ("qcow2", "kernel", "initrd"):
            target: Path = getattr(files, kind)
            size, digest = expected[kind]
            if _intact(target, size, digest):
                continue
            if target.exists():
                log.warning("cached %s is corrupt (checksum mismatch); fetching it again", target)
            self._download(source, ref.store_path(kind), target, digest)
            fetched.append(kind)
        total = sum(expected[kind][0] for kind in expected)
        if fetched:
            log.info(
                "fetched %s (%s) into %s in %.1f s",
                ref.file_name,
                ", ".join(fetched),
                self.root,
                time.monotonic() - started,
            )
        else:
            log.info(
                "%s is cached (%s, verified in %.1f s)",
                ref.file_name,
                human(total),
                time.monotonic() - started,
            )
        return files

    def _manifest(
        self, ref: ImageRef, source: Source, files: ImageFiles, fetched: list[str]
    ) -> dict[str, tuple[int, str]]:
        if files.manifest.exists():
            with contextlib.suppress(VmError):
                return manifest.expected(manifest.load(files.manifest), str(files.manifest))
            log.warning("cached %s is not a valid manifest; fetching it again", files.manifest)
        partial = files.manifest.with_name(".partial-manifest")
        source.download(ref.store_path("manifest"), partial)
        expected = manifest.expected(manifest.load(partial), ref.store_path("manifest"))
        partial.replace(files.manifest)
        fetched.append("manifest")
        return expected

    @staticmethod
    def _download(source: Source, store_path: str, target: Path, digest: str) -> None:
        partial = target.with_name(".partial-" + target.name)
        source.download(store_path, partial)
        actual = file_sha256(partial)
        if actual != digest:
            partial.unlink()
            raise VmError(f"{store_path}: downloaded sha256 {actual} does not match {digest}")
        partial.chmod(0o644)
        partial.replace(target)

    def entries(self) -> list[tuple[float, str, int]]:
        """(last used, sha256, bytes) of every entry, least recently used first."""
        found = []
        for folder in self.root.iterdir():
            if not _ENTRY.fullmatch(folder.name):
                continue
            with contextlib.suppress(FileNotFoundError):
                size = sum(path.stat().st_size for path in folder.iterdir())
                found.append((folder.stat().st_mtime, folder.name, size))
        return sorted(found)

    def evict(self, keep: str | None = None) -> list[str]:
        """Remove least recently used entries nobody uses until the cache fits its bound."""
        removed: list[str] = []
        self._locks.mkdir(parents=True, exist_ok=True)
        with _flock(self._locks / "evict", fcntl.LOCK_EX):
            # Left by an eviction that was killed halfway; nobody can reach them.
            for trash in self.root.glob(".trash-*"):
                shutil.rmtree(trash, ignore_errors=True)
            entries = self.entries()
            total = sum(size for _, _, size in entries)
            for _, sha256, size in entries:
                if total <= self.max_bytes:
                    break
                if sha256 != keep and self._remove_unused(sha256):
                    total -= size
                    removed.append(sha256)
                    log.info("evicted %s (%s) from the image cache", sha256, human(size))
            if total > self.max_bytes:
                log.warning(
                    "image cache %s holds %s, over its %s bound: the rest is in use",
                    self.root,
                    human(total),
                    human(self.max_bytes),
                )
        return removed

    def _remove_unused(self, sha256: str) -> bool:
        with contextlib.ExitStack() as held:
            for kind in ("fetch", "use"):
                lock = held.enter_context((self._locks / f"{sha256}.{kind}").open("ab"))
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
            # Renamed first, so no reader ever sees a half-deleted entry.
            trash = self.root / f".trash-{uuid.uuid4().hex}"
            (self.root / sha256).rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
        return True


def _intact(path: Path, size: int, digest: str) -> bool:
    try:
        return path.stat().st_size == size and file_sha256(path) == digest
    except FileNotFoundError:
        return False
