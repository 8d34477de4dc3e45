"""Where logs and images live (DESIGN.md, "Logs and images").

One small interface, two implementations: the images-server over HTTP (the
default; `tasks.store.http`) and S3 (`tasks.store.s3`), chosen by `open_store`.
Paths are relative and slash-separated: `images/<name>`, `logs/<job>/<file…>`.
"""

from pathlib import Path
from typing import BinaryIO, Protocol


class StoreError(Exception):
    """An operation on the store failed (after the implementation's own retries)."""


class LiveLog(Protocol):
    """A job's log while it runs: appended in chunks a reader can follow, then finalised."""

    def write(self, data: bytes) -> None:
        """Buffer output; it reaches the store on the next flush (at least every few seconds)."""

    def flush(self) -> None:
        """Upload what is buffered as the next chunk."""

    def close(self) -> None:
        """Flush and write the whole log as `<job dir>/log`, which marks the job as ended."""


class Store(Protocol):
    def put(self, path: str, source: BinaryIO | bytes, sha256: str | None = None) -> None:
        """Store `source` at `path`, atomically (readers see the old or the whole new file)."""

    def put_file(self, path: str, source: Path) -> None:
        """Store a local file at `path`, streamed, with its checksum verified."""

    def get_to(self, path: str, target: Path) -> None:
        """Download `path` into the local file `target`, streamed."""

    def get(self, path: str) -> bytes:
        """The content at `path` (for small objects)."""

    def list(self, prefix: str) -> list[str]:
        """Paths under `prefix` (a folder such as `logs/<job>/`)."""

    def delete(self, path: str) -> None: ...

    def url(self, path: str) -> str:
        """The public URL where a person or a worker reads `path`."""

    def live_log(self, job_dir: str) -> LiveLog:
        """A live log for the job whose folder is `job_dir` (`logs/<job id>/`)."""
