"""The store on disk: where a name lives, uploads written and verified, listings, deletes.

`<root>/images/…` and `<root>/logs/…` hold the files; an upload is written into
`<root>/.tmp/` and renamed into place only when complete and verified, so readers see
the old file or the whole new one and a cut-off upload leaves nothing — no locks. A
verified SHA-256 (hashed on a second thread right behind the writes) is kept in an
extended attribute. Refusals carry the HTTP status to answer with (docs/images-server.md).
"""

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from images_server.errors import Refused
from ouro.store import TOP_FOLDERS, FileHasher

TMP = ".tmp"
XATTR = "user.ouro.sha256"


def prepare(root: Path) -> None:
    """Makes the store's folders under `root`; removes uploads a crash or restart cut off."""
    for folder in (TMP, *TOP_FOLDERS):
        (root / folder).mkdir(parents=True, exist_ok=True)
    # No request can be using them now.
    for leftover in (root / TMP).iterdir():
        leftover.unlink()


def locate(root: Path, name: str) -> Path:
    """Where the store path `name` is under `root`; refuses one that resolves out of it."""
    path = root / name
    real = os.path.realpath(path)
    if real != str(root) and not real.startswith(str(root) + os.sep):
        raise Refused(403, "the path leads out of the store")
    return path


def stored_sha256(fd: int) -> str | None:
    """The SHA-256 verified when the open file was uploaded, if it was."""
    try:
        return os.getxattr(fd, XATTR).decode()
    except OSError:
        return None


def write(fd: int, block: memoryview | bytes) -> None:
    written = 0
    while written < len(block):
        written += os.write(fd, block[written:])


class Upload:
    """One upload's temporary file in `<root>/.tmp/`: written at `fd` (each piece reported
    with `wrote`), then verified and renamed into place (`finish`). With `verify`, a
    thread hashes the file right behind the writes (`FileHasher`), so the checksum is
    ready when the last byte is. Leaving the `with` block without `finish` succeeding
    removes it."""

    def __init__(self, root: Path, *, verify: bool) -> None:
        self.root = root
        self.temporary = root / TMP / uuid.uuid4().hex
        # Readable too: the hashing thread reads back what was written.
        self.fd = os.open(self.temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        # Hashing costs as much CPU as the rest of the upload: only when there is a sum to check.
        self.hasher = FileHasher(self.fd, mapped=True) if verify else None

    def __enter__(self) -> "Upload":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()
        if kind is not None:
            self.temporary.unlink(missing_ok=True)

    def wrote(self, count: int) -> None:
        """`count` more bytes are in the file."""
        if self.hasher:
            self.hasher.advance(count)

    def finish(self, name: str, path: Path, expected: str | None, *, fsync: bool) -> None:
        """Refuses a body that does not match `expected`; otherwise makes it `path`."""
        try:
            if self.hasher and self.hasher.hexdigest() != expected:
                raise Refused(422, f"X-Content-SHA256 {expected} does not match the body")
            if fsync:
                os.fsync(self.fd)
            if expected:
                with contextlib.suppress(OSError):
                    os.setxattr(self.fd, XATTR, expected.encode())
        finally:
            self._close()
        self._place(name, path)

    def _close(self) -> None:
        if self.hasher:
            # Stopped before its file descriptor is closed (and perhaps reused).
            self.hasher.close()
            self.hasher = None
        if self.fd != -1:
            os.close(self.fd)
            self.fd = -1

    def _place(self, name: str, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise Refused(409, f"a parent of /{name} is a file") from None
        # The folders may have been made since `locate` looked; look again before renaming.
        real = os.path.realpath(path.parent)
        if not real.startswith(str(self.root) + os.sep):
            raise Refused(403, "the path leads out of the store")
        try:
            os.replace(self.temporary, path)
        except IsADirectoryError:
            raise Refused(409, f"/{name} is a folder") from None


def delete(name: str, path: Path) -> None:
    """Removes the file `name`, or the folder `name/` with all it holds."""
    parts = name.rstrip("/").split("/")
    if not name or len(parts) < 2:
        raise Refused(400, "a top folder cannot be deleted")
    if name.endswith("/"):
        if not path.is_dir():
            raise Refused(404, f"/{name} does not exist")
        shutil.rmtree(path)
    else:
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            raise Refused(404, f"/{name} does not exist") from None
        except IsADirectoryError:
            raise Refused(409, f"/{name} is a folder; delete /{name}/") from None


def entries(name: str, path: Path, *, recursive: bool) -> Iterator[dict[str, Any]]:
    """Files and folders under `path`; symlinks and dot-names (temporary files) are skipped."""
    folders = [(path, "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            listing = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in listing:
            if entry.is_symlink() or entry.name.startswith("."):
                continue
            if not name and entry.name not in TOP_FOLDERS:
                continue
            relative = prefix + entry.name
            try:
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # removed while we list
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    folders.append((Path(entry.path), relative + "/"))
                else:
                    yield {"name": relative + "/", "type": "dir", "modified": stat.st_mtime}
            else:
                yield {
                    "name": relative,
                    "type": "file",
                    "size": stat.st_size,
                    "modified": stat.st_mtime,
                }
