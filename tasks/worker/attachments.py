"""Upload the files a job wrote to `$TEST_ATTACHMENTS`, beside its log, keeping sub-folders."""

import logging
import os
from pathlib import Path

from ouro.store import Store

log = logging.getLogger(__name__)

# The log page's own files in the job folder (ouro.store.live): an attachment must not
# replace them.
RESERVED = frozenset({"log", "index.html", "attachments.json"})
RESERVED_FOLDERS = ("chunks/",)


def collect(root: Path) -> list[tuple[str, Path]]:
    """(relative slash path, file) for every regular file under `root`, sorted.

    Symbolic links are skipped: in container mode one could point at any file of the
    worker's host, which would then be published.
    """
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root):  # os.walk does not follow directory links
        dirs.sort()
        for name in sorted(files):
            path = Path(folder, name)
            relative = path.relative_to(root).as_posix()
            if (
                path.is_symlink()
                or not path.is_file()
                or relative in RESERVED
                or relative.startswith(RESERVED_FOLDERS)
            ):
                log.info("not uploading attachment %s: not a regular file or reserved", relative)
                continue
            found.append((relative, path))
    return sorted(found)


def upload(store: Store, job_dir: str, root: Path) -> list[str]:
    """Upload every attachment; returns their store paths. `StoreError` if one fails."""
    paths = []
    for relative, path in collect(root):
        target = f"{job_dir}{relative}"
        store.put_file(target, path)
        paths.append(target)
    return paths
