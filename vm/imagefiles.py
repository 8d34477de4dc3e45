"""The files of one image, and the content-addressed name it has in the store.

An image is four files that share a stem: `X.qcow2` (the root file system), `X.vmlinuz`
and `X.initrd` (booted directly, so the image needs no boot loader) and
`X.manifest.json` (what is in it; vm/manifest.py). The same naming holds for a local
build, the store (`images/NAME-<sha256>.qcow2` …) and the host cache.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from vm.errors import VmError

SUFFIXES = {
    "qcow2": ".qcow2",
    "kernel": ".vmlinuz",
    "initrd": ".initrd",
    "manifest": ".manifest.json",
}
QCOW2_MAGIC = b"QFI\xfb"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_REF = re.compile(
    r"(?:images/)?(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,99})-(?P<sha>[0-9a-f]{64})\.qcow2"
)


@dataclass(frozen=True)
class ImageFiles:
    qcow2: Path

    def _sibling(self, kind: str) -> Path:
        stem = self.qcow2.name.removesuffix(SUFFIXES["qcow2"])
        return self.qcow2.with_name(stem + SUFFIXES[kind])

    @property
    def kernel(self) -> Path:
        return self._sibling("kernel")

    @property
    def initrd(self) -> Path:
        return self._sibling("initrd")

    @property
    def manifest(self) -> Path:
        return self._sibling("manifest")

    def check(self) -> "ImageFiles":
        """Self, if the image and its kernel and initrd are there; else say which is missing."""
        if not is_qcow2(self.qcow2):
            raise VmError(f"{self.qcow2}: not a qcow2 image")
        for path in (self.kernel, self.initrd):
            if not path.is_file():
                raise VmError(f"{path}: missing (an image's kernel and initrd lie beside it)")
        return self


def is_qcow2(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4) == QCOW2_MAGIC
    except OSError:
        return False


@dataclass(frozen=True)
class ImageRef:
    """`NAME-<sha256>.qcow2`: an image in the store, named by the SHA-256 of its qcow2 file."""

    name: str
    sha256: str

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.sha256}.qcow2"

    def store_path(self, kind: str) -> str:
        return f"images/{self.name}-{self.sha256}{SUFFIXES[kind]}"

    @classmethod
    def parse(cls, text: str) -> "ImageRef":
        match = _REF.fullmatch(text.strip())
        if not match:
            raise VmError(
                f"{text.strip()!r:.120}: no such image file, and not a reference "
                "NAME-<sha256>.qcow2"
            )
        return cls(match["name"], match["sha"])


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise VmError(f"invalid image name {name!r:.40}: letters, digits, . _ - (at most 100)")
    return name


def read_reference(value: str) -> ImageRef:
    """A reference given as such, or read from a reference file (a product repository's
    `images/NAME`, which holds one line: the reference)."""
    path = Path(value)
    if path.is_file():
        try:
            first = path.read_text(encoding="utf-8").strip().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise VmError(f"{path}: cannot read the image reference: {error}") from None
        if not first:
            raise VmError(f"{path}: empty image reference file")
        return ImageRef.parse(first[0])
    return ImageRef.parse(value)
