"""Where logs and images live (docs/images-server.md).

One small interface, two implementations: the images-server over HTTP (the
default; `ouro.store.http`) and S3 (`ouro.store.s3`), chosen by `open_store`.
Paths are relative and slash-separated: `images/<name>`, `logs/<job>/<file…>`;
a folder is written with a trailing slash (`logs/<job>/`).

Layout of a job's folder, the same on both backends (`ouro.store.live`):
`index.html` (the log page), `chunks/000001`… (the live log, append-only, removed
once finalised), `attachments.json` and `log` (written at the end; `log` last,
it marks the job as ended), and the job's attachments at any other path.
Image aliases are small objects `images/refs/<alias>` holding an image name;
prune keeps every image that an alias names.
"""

import contextlib
import fcntl
import hashlib
import io
import mimetypes
import mmap
import os
import re
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol, cast

from ouro.config import ConfigError

TOP_FOLDERS = ("images", "logs")
REFS = "images/refs/"
MAX_PATH = 1024
BLOCK = 1 << 20
# What the hashing thread reads at a time: small enough to stay in the CPU's cache.
HASH_BLOCK = 256 << 10
# What the hashing thread maps at a time (`FileHasher(mapped=True)`): mapped pages count in
# the process's RSS until unmapped.
MAP_WINDOW = 8 << 20
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class StoreError(Exception):
    """An operation on the store failed (after the implementation's own retries)."""


class NotFound(StoreError):
    """Nothing is stored at the path."""


class StoreRefused(StoreError):
    """The store refused the request itself (a revoked token, no permission): sending it
    again cannot succeed, so callers must not retry or requeue it."""


class InvalidPath(StoreError):
    """The path could escape the store or is not one of its folders; never retried."""


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    # Seconds since the epoch.
    modified: float


class LiveLog(Protocol):
    """A job's log while it runs: appended in chunks a reader can follow, then finalised."""

    def write(self, data: bytes) -> None:
        """Buffer output; it reaches the store on the next flush (at least every few seconds)."""

    def flush(self) -> None:
        """Upload what is buffered as the next chunk."""

    def close(self) -> None:
        """Flush and write the whole log as `<job dir>/log`, which marks the job as ended.

        Upload the job's attachments before closing: the log page lists what is there then.
        """


class Store(Protocol):
    def put(self, path: str, source: BinaryIO | bytes, sha256: str | None = None) -> None:
        """Store `source` at `path`, atomically (readers see the old or the whole new file)."""

    def put_file(self, path: str, source: Path) -> None:
        """Store a local file at `path`, streamed, with its checksum verified."""

    def get_to(self, path: str, target: Path) -> None:
        """Download `path` into the local file `target`, streamed (checksum verified if known)."""

    def get(self, path: str) -> bytes:
        """The content at `path` (for small objects); `NotFound` if there is none."""

    def entries(self, prefix: str) -> list[Entry]:
        """The files under `prefix` (see `list`), with each file's size and modification time."""

    def list(self, prefix: str) -> list[str]:
        """Paths of the files under `prefix` (a folder such as `logs/<job>/`), recursively."""

    def delete(self, path: str) -> None:
        """Remove a file, or a folder (path ending in `/`) with all it holds; no error if absent."""

    def url(self, path: str) -> str:
        """The public URL where a person or a worker reads `path`."""

    def live_log(self, job_dir: str) -> LiveLog:
        """A live log for the job whose folder is `job_dir` (`logs/<job id>/`).

        Its page, for people and for `target_url`, is `url(job_dir + "index.html")`.
        """

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""


def check_path(path: str, *, folder: bool = False) -> str:
    """`path` if it is a file path inside the store (or, with `folder`, a folder path).

    Refused: empty, absolute, `.`/`..`/empty components, NUL and control characters,
    backslashes, anything outside `images/` and `logs/<job>/`. Both clients and the
    server check with this one function.
    """
    if not path or len(path) > MAX_PATH or _UNSAFE.search(path) or path.startswith("/"):
        raise InvalidPath(f"invalid store path {path!r:.80}")
    is_folder = path.endswith("/")
    if is_folder and not folder:
        raise InvalidPath(f"{path!r:.80} is a folder, not a file")
    parts = (path[:-1] if is_folder else path).split("/")
    if any(part in ("", ".", "..") for part in parts) or parts[0] not in TOP_FOLDERS:
        raise InvalidPath(f"invalid store path {path!r:.80}")
    # A file needs a name in `images/`, and a job folder plus a name in `logs/`.
    least = 1 if folder else (2 if parts[0] == "images" else 3)
    if len(parts) < least:
        raise InvalidPath(f"{path!r:.80} is not a file path in the store")
    return path


def check_sha256(value: str) -> str:
    if not _SHA256.fullmatch(value):
        raise InvalidPath(f"invalid SHA-256 {value!r:.80}: 64 lower-case hex digits expected")
    return value


def sha256_of(file: IO[bytes]) -> str:
    """The SHA-256 of the rest of `file`, read in large blocks."""
    digest = hashlib.sha256()
    while block := file.read(BLOCK):
        digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as file:
        return sha256_of(file)


class FileHasher:
    """The SHA-256 of a file, computed on a thread of its own while the file is written.

    The writer says how many more bytes are in place (`advance`); the thread reads behind
    it (`pread` into a reused buffer that stays in the CPU's cache) and hashes, so a
    transfer and its checksum cost one pass of wall time on two cores. Both release the
    GIL. `available` bytes (from offset 0) are there already: a complete file is hashed
    while it is sent. Leave the `with` block before closing `fd`.

    With `mapped`, the thread hashes the page cache in place (`mmap`, `MAP_WINDOW` at a time)
    instead of copying it out first: 15 % less CPU on the thread that bounds a transfer. Only
    for a file nobody else can truncate while it is hashed (a temporary file of ours): a
    mapped page beyond the end kills the process with SIGBUS, where `pread` reads short.
    """

    def __init__(self, fd: int, available: int = 0, *, mapped: bool = False) -> None:
        self._fd = fd
        self._mapped = mapped
        self._hashed = 0
        self._available = available
        self._done = self._stopped = False
        self._error: BaseException | None = None
        self._digest = hashlib.sha256()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def __enter__(self) -> "FileHasher":
        return self

    def __exit__(self, *error: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the thread (a transfer failed); call it before closing `fd`."""
        self._finish(stop=True)

    def advance(self, count: int) -> None:
        with self._changed:
            self._available += count
            self._changed.notify()

    def hexdigest(self) -> str:
        """The SHA-256 of all the bytes made available, once the thread has read them."""
        self._finish(stop=False)
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()

    def _finish(self, *, stop: bool) -> None:
        with self._changed:
            self._done = True
            self._stopped |= stop
            self._changed.notify()
        self._thread.join()

    def _run(self) -> None:
        buffer = None if self._mapped else memoryview(bytearray(HASH_BLOCK))
        try:
            while True:
                with self._changed:
                    while self._hashed == self._available and not self._done:
                        self._changed.wait()
                    if self._stopped or self._hashed == self._available:
                        return
                    end = self._available
                while self._hashed < end and not self._stopped:
                    if buffer is None:
                        self._hashed += self._hash_mapped(end)
                    else:
                        self._hashed += self._hash_read(buffer, end)
        except BaseException as error:  # handed to the caller by hexdigest
            self._error = error

    def _hash_read(self, buffer: memoryview, end: int) -> int:
        block = buffer[: min(HASH_BLOCK, end - self._hashed)]
        got = os.preadv(self._fd, [block], self._hashed)
        if not got:
            raise StoreError("the file shrank while it was hashed")
        self._digest.update(block[:got])
        return got

    def _hash_mapped(self, end: int) -> int:
        # A mapping starts on a page boundary; the bytes before `_hashed` are skipped.
        start = self._hashed - self._hashed % mmap.ALLOCATIONGRANULARITY
        length = min(end, start + MAP_WINDOW) - start
        # mmap refuses (ValueError) a window past the file's end as it is now.
        with (
            mmap.mmap(self._fd, length, prot=mmap.PROT_READ, offset=start) as window,
            memoryview(window) as view,
        ):
            self._digest.update(view[self._hashed - start :])
        return start + length - self._hashed


def splice_body(
    reader: io.BufferedIOBase | IO[bytes],
    socket_fd: int,
    fd: int,
    length: int,
    *,
    timeout: float,
    moved: Callable[[int], None] = lambda count: None,
) -> None:
    """Moves `length` bytes of an HTTP body from a socket into the file `fd` (at its
    position) with `splice`, socket → pipe → file inside the kernel: one copy, and no
    interpreter time per byte. What `reader` (the socket's buffered reader) already holds
    goes first. `moved(count)` after each piece is in the file; `ConnectionError` if the
    peer stops early, `TimeoutError` after `timeout` seconds without data."""
    buffered = cast(io.BufferedReader, reader)
    head = buffered.read(min(len(buffered.peek()), length)) if length else b""
    for start in range(0, len(head), BLOCK):
        piece = memoryview(head)[start : start + BLOCK]
        written = 0
        while written < len(piece):
            written += os.write(fd, piece[written:])
    if head:
        moved(len(head))
    remaining = length - len(head)
    if not remaining:
        return
    pipe_read, pipe_write = os.pipe()
    try:
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe_write, fcntl.F_SETPIPE_SZ, BLOCK)  # a bigger pipe, fewer calls
        while remaining:
            try:
                got = os.splice(socket_fd, pipe_write, min(remaining, BLOCK))
            except BlockingIOError:
                # A socket with a timeout is non-blocking: wait as a read would.
                if not select.select([socket_fd], [], [], timeout)[0]:
                    raise TimeoutError("no data for the body") from None
                continue
            if not got:
                raise ConnectionError("the body was cut off")
            remaining -= got
            while got:
                spliced = os.splice(pipe_read, fd, got)
                got -= spliced
                moved(spliced)
    finally:
        os.close(pipe_write)
        os.close(pipe_read)


def content_type(path: str) -> str:
    """The Content-Type a browser should get for `path`: logs and extensionless files as text."""
    name = path.rsplit("/", 1)[-1]
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if encoding:
        # `foo.log.gz` is a gzip file to download, not text the browser should unpack.
        return "application/octet-stream"
    if guessed is None:
        if path.startswith("logs/") and ("." not in name or name.endswith(".log")):
            return "text/plain; charset=utf-8"
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/json", "application/javascript"):
        return f"{guessed}; charset=utf-8"
    return guessed


def open_store() -> Store:
    """The store that the configuration names: `OURO_STORE` = `http` (default) or `s3`."""
    kind = os.environ.get("OURO_STORE", "http") or "http"
    if kind == "http":
        from ouro.store.http import HttpStore  # noqa: PLC0415 (requests is cheap, boto3 not)

        return HttpStore.from_config()
    if kind == "s3":
        from ouro.store.s3 import S3Store  # noqa: PLC0415 (boto3 is an optional dependency)

        return S3Store.from_config()
    raise ConfigError(f"OURO_STORE must be http or s3, not {kind!r:.40}")
