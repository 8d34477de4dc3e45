"""Stateful fakes for unit tests of the worker: a store and a status poster that record."""

import builtins
import threading
from pathlib import Path
from typing import BinaryIO

from ouro.store import Entry, StoreError
from tasks.forge import ForgeUnavailable, Status


class FakeLiveLog:
    def __init__(self, store: "FakeStore", job_dir: str):
        self._store = store
        self._dir = job_dir
        self._buffer = b""
        self.chunks: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed:
            raise ValueError("closed")
        self._buffer += data

    def flush(self) -> None:
        if self._buffer:
            self.chunks.append(self._buffer)
            self._buffer = b""

    def close(self) -> None:
        self.flush()
        self.closed = True
        self._store.put(f"{self._dir}log", b"".join(self.chunks))


class FakeStore:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.lock = threading.Lock()
        # Raised by every put from then on: an outage (StoreError) or a refusal (StoreRefused).
        self.put_error: StoreError | None = None

    def put(self, path: str, source: BinaryIO | bytes, sha256: str | None = None) -> None:
        if self.put_error is not None:
            raise self.put_error
        data = source if isinstance(source, bytes) else source.read()
        with self.lock:
            self.files[path] = data

    def put_file(self, path: str, source: Path) -> None:
        self.put(path, source.read_bytes())

    def get_to(self, path: str, target: Path) -> None:
        target.write_bytes(self.get(path))

    def get(self, path: str) -> bytes:
        return self.files[path]

    def list(self, prefix: str) -> list[str]:
        return sorted(p for p in self.files if p.startswith(prefix))

    def entries(self, prefix: str) -> builtins.list[Entry]:
        return [Entry(p, len(self.files[p]), 0.0) for p in self.list(prefix)]

    def close(self) -> None:
        pass

    def delete(self, path: str) -> None:
        with self.lock:
            for name in [p for p in self.files if p == path or p.startswith(path)]:
                del self.files[name]

    def url(self, path: str) -> str:
        return f"http://store.test/{path}"

    def live_log(self, job_dir: str) -> FakeLiveLog:
        return FakeLiveLog(self, job_dir)


class FakeStatuses:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, Status]] = []
        # How many posts from now on fail with `post_error`.
        self.fail_posts = 0
        self.post_error: Exception = ForgeUnavailable("GitHub is down")
        # Raised by each post of a final state (not "pending"), as the adapter would.
        self.final_error: Exception | None = None
        self.final_tried = threading.Event()

    def post(self, repo: str, sha: str, status: Status) -> None:
        if self.fail_posts:
            self.fail_posts -= 1
            raise self.post_error
        if status.state != "pending" and self.final_error is not None:
            self.final_tried.set()
            raise self.final_error
        self.posted.append((repo, sha, status))

    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        found: dict[str, Status] = {}
        for r, s, status in self.posted:
            if (r, s) == (repo, sha):
                found[status.context] = status
        return found

    def states(self) -> list[tuple[str, str]]:
        return [(s.state, s.description) for _, _, s in self.posted]
