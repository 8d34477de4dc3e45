"""An image's manifest, `X.manifest.json`: what made the image and what is in it.

    format          "ouro-vm-image/1"
    recipe          the recipe's SHA-256, suite, requested packages, setup count, size
    mirror, built_at, build_seconds, kernel_release, init
    files           qcow2, kernel, initrd: {"size", "sha256"} — fetches verify against these
    sizes           root file system bytes and files, file system size, qcow2 bytes
    packages        [{"name", "version", "architecture"}] from the image's dpkg database
    rootfs          {"/usr/bin/…": sha256} for every regular file, to compare two images

The qcow2's SHA-256 is also the image's address in the store (vm/imagefiles.py); the
kernel's and initrd's are tied to it through this file.
"""

import json
import os
import re
from pathlib import Path
from typing import Any

from ouro.store import file_sha256
from vm.errors import VmError

FORMAT = "ouro-vm-image/1"
KINDS = ("qcow2", "kernel", "initrd")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def file_entry(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": file_sha256(path)}


def dpkg_packages(rootfs: Path) -> list[dict[str, str]]:
    """Installed packages with versions, read from the image's own dpkg status file."""
    text = (rootfs / "var/lib/dpkg/status").read_text(encoding="utf-8", errors="replace")
    packages = []
    for stanza in text.split("\n\n"):
        fields = dict(
            line.split(":", 1)
            for line in stanza.splitlines()
            if ":" in line and not line[:1].isspace()
        )
        fields = {key: value.strip() for key, value in fields.items()}
        if fields.get("Status") == "install ok installed":
            packages.append(
                {
                    "name": fields.get("Package", ""),
                    "version": fields.get("Version", ""),
                    "architecture": fields.get("Architecture", ""),
                }
            )
    return sorted(packages, key=lambda package: package["name"])


def rootfs_files(rootfs: Path) -> tuple[dict[str, str], int]:
    """{"/path": sha256} for every regular file under `rootfs`, and their total size."""
    digests: dict[str, str] = {}
    total = 0
    for folder, _dirs, names in os.walk(rootfs):
        for name in names:
            path = Path(folder, name)
            if path.is_symlink() or not path.is_file():
                continue
            digests["/" + str(path.relative_to(rootfs))] = file_sha256(path)
            total += path.stat().st_size
    return dict(sorted(digests.items())), total


def write(path: Path, manifest: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.chmod(temporary, 0o644)
    temporary.replace(path)


def load(path: Path) -> dict[str, Any]:
    """A manifest, checked for what fetches rely on: the three files' sizes and hashes."""
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise VmError(f"{path}: not a readable image manifest ({error})") from None
    expected(manifest, str(path))
    return manifest  # type: ignore[no-any-return]


def expected(manifest: Any, where: str) -> dict[str, tuple[int, str]]:
    """{"qcow2" | "kernel" | "initrd": (size, sha256)} from a manifest."""
    try:
        if manifest["format"] != FORMAT:
            raise VmError(f"{where}: manifest format {manifest['format']!r:.40}, expected {FORMAT}")
        result = {}
        for kind in KINDS:
            entry = manifest["files"][kind]
            size, digest = entry["size"], entry["sha256"]
            if (
                not isinstance(size, int)
                or not isinstance(digest, str)
                or not _SHA256.fullmatch(digest)
            ):
                raise VmError(f"{where}: files.{kind} has no valid size and sha256")
            result[kind] = (size, digest)
    except (KeyError, TypeError):
        raise VmError(
            f"{where}: not an image manifest (files.qcow2/kernel/initrd missing)"
        ) from None
    return result
