"""The store on the images-server, over HTTP (the default backend).

Transient failures (network errors, 5xx, 429) are retried with `ouro.retry`'s
backoff; a 4xx is our mistake and raised at once: 404 as `NotFound`, any other as
`StoreRefused` (a revoked token is a 401). One exception: a 422 to an upload is the
server's checksum not matching what arrived (damaged in transit, or a file that changed
while it was read), not a refusal of the request: it is a plain `StoreError`, which the
caller may try again later (a refusal made the worker drop the job). Uploads of streams
are retried only when the stream can be rewound.
"""

import hashlib
import logging
import os
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

import requests

from ouro.config import optional_secret, setting
from ouro.retry import with_retries
from ouro.store import (
    BLOCK,
    Entry,
    InvalidPath,
    LiveLog,
    NotFound,
    StoreError,
    StoreRefused,
    check_path,
    check_sha256,
    file_sha256,
)
from ouro.store.live import ChunkedLiveLog

log = logging.getLogger(__name__)

T = TypeVar("T")

# (connect, read) seconds; a read waits for the server to store a whole upload.
TIMEOUT = (10, 300)


class TransientHTTPError(StoreError):
    pass


def is_transient(error: Exception) -> bool:
    return isinstance(error, TransientHTTPError | requests.ConnectionError | requests.Timeout)


class _Body:
    """A file region as a request body, read in large blocks.

    urllib3 reads file bodies 16 KiB at a time; an iterator of 1 MiB blocks with an
    explicit length halves the system calls per byte and keeps Content-Length
    (no chunked encoding).
    """

    def __init__(self, file: BinaryIO, length: int):
        self._file = file
        self.len = length

    def __iter__(self) -> Iterator[bytes]:
        remaining = self.len
        while remaining:
            block = self._file.read(min(BLOCK, remaining))
            if not block:
                raise StoreError("the file shrank while it was uploaded")
            remaining -= len(block)
            yield block


class HttpStore:
    def __init__(
        self, base_url: str, token: str | None, *, backoff: tuple[float, ...] | None = None
    ):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._backoff = backoff
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    @classmethod
    def from_config(cls) -> "HttpStore":
        """`IMAGES_SERVER_URL`, with the token from `IMAGES_TOKEN_FILE` (reads work without)."""
        return cls(setting("IMAGES_SERVER_URL"), optional_secret("IMAGES_TOKEN_FILE"))

    # ---- plumbing ----

    @property
    def _session(self) -> requests.Session:
        # requests.Session is not thread-safe; a live log uploads from its own thread.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            if self._token:
                session.headers["Authorization"] = f"Bearer {self._token}"
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
        self._local = threading.local()

    def _address(self, path: str) -> str:
        return f"{self.base_url}/{urllib.parse.quote(path)}"

    def _retried(self, call: Callable[[], T], what: str) -> T:
        if self._backoff is None:
            return with_retries(call, is_transient, what)
        return with_retries(call, is_transient, what, backoff=self._backoff)

    def _request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        response = self._session.request(
            method,
            self._address(path),
            timeout=TIMEOUT,
            allow_redirects=False,
            **kwargs,  # type: ignore[arg-type]
        )
        if response.status_code >= 500 or response.status_code == 429:
            response.close()
            raise TransientHTTPError(f"{method} {path}: HTTP {response.status_code}")
        return response

    @staticmethod
    def _check(response: requests.Response, method: str, path: str) -> None:
        if response.status_code == 404:
            response.close()
            raise NotFound(f"{path} does not exist")
        if response.status_code >= 300:
            message = response.text.strip()[:200]
            response.close()
            # 422 to a PUT: the checksum did not match what arrived (see above).
            mismatch = response.status_code == 422 and method == "PUT"
            refused = 400 <= response.status_code < 500 and not mismatch
            raise (StoreRefused if refused else StoreError)(
                f"{method} {path}: HTTP {response.status_code} {message}"
            )

    def _wrap(self, call: Callable[[], T], what: str) -> T:
        try:
            return self._retried(call, what)
        except requests.RequestException as error:
            raise StoreError(f"{what}: {error}") from error

    # ---- the Store interface ----

    def put(self, path: str, source: BinaryIO | bytes, sha256: str | None = None) -> None:
        check_path(path)
        if sha256 is not None:
            check_sha256(sha256)
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            digest = sha256 or hashlib.sha256(data).hexdigest()
            self._wrap(lambda: self._put(path, data, digest), f"PUT {path}")
            return
        try:
            start = source.tell() if source.seekable() else None
        except OSError:
            start = None
        if start is None:
            # A pipe cannot be rewound, so it is sent once (chunked), without retries.
            self._wrap(
                lambda: self._put(path, iter(lambda: source.read(BLOCK), b""), sha256),
                f"PUT {path}",
            )
            return
        length = source.seek(0, os.SEEK_END) - start

        def attempt() -> None:
            source.seek(start)
            self._put(path, _Body(source, length), sha256)

        self._wrap(attempt, f"PUT {path}")

    def put_file(self, path: str, source: Path) -> None:
        check_path(path)
        digest = file_sha256(source)

        def attempt() -> None:
            with source.open("rb") as file:
                self._put(path, _Body(file, os.fstat(file.fileno()).st_size), digest)

        self._wrap(attempt, f"PUT {path}")
        log.info("uploaded %s as %s (sha256 %s)", source, path, digest)

    def _put(self, path: str, body: object, sha256: str | None) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        if sha256:
            headers["X-Content-SHA256"] = sha256
        if isinstance(body, _Body):
            headers["Content-Length"] = str(body.len)
        response = self._request("PUT", path, data=body, headers=headers)
        with response:
            self._check(response, "PUT", path)

    def get_to(self, path: str, target: Path) -> None:
        check_path(path)

        def attempt() -> None:
            with self._request("GET", path, stream=True) as response:
                self._check(response, "GET", path)
                expected = response.headers.get("X-Content-SHA256")
                digest = hashlib.sha256()
                # Next to the target, so the rename is atomic and a failed download leaves nothing.
                with tempfile.NamedTemporaryFile(
                    dir=target.parent, prefix=f".{target.name}.", delete=False
                ) as file:
                    try:
                        for block in response.iter_content(BLOCK):
                            digest.update(block)
                            file.write(block)
                        file.flush()
                        if expected and digest.hexdigest() != expected:
                            raise StoreError(f"GET {path}: checksum mismatch, download corrupted")
                        os.replace(file.name, target)
                    except BaseException:
                        os.unlink(file.name)
                        raise

        self._wrap(attempt, f"GET {path}")

    def get(self, path: str) -> bytes:
        check_path(path)

        def attempt() -> bytes:
            with self._request("GET", path) as response:
                self._check(response, "GET", path)
                return response.content

        return self._wrap(attempt, f"GET {path}")

    def entries(self, prefix: str) -> list[Entry]:
        check_path(prefix, folder=True)
        if not prefix.endswith("/"):
            raise InvalidPath(f"a listing prefix is a folder ending in /, not {prefix!r:.80}")

        def attempt() -> list[Entry]:
            response = self._request("GET", prefix, params={"format": "json", "recursive": "1"})
            with response:
                if response.status_code == 404:
                    return []
                self._check(response, "GET", prefix)
                listing = response.json()
            return [
                Entry(prefix + item["name"], int(item["size"]), float(item["modified"]))
                for item in listing["entries"]
                if item["type"] == "file"
            ]

        return self._wrap(attempt, f"list {prefix}")

    def list(self, prefix: str) -> list[str]:
        return sorted(entry.path for entry in self.entries(prefix))

    def delete(self, path: str) -> None:
        check_path(path, folder=True)

        def attempt() -> None:
            with self._request("DELETE", path) as response:
                if response.status_code != 404:
                    self._check(response, "DELETE", path)

        self._wrap(attempt, f"DELETE {path}")

    def url(self, path: str) -> str:
        check_path(path, folder=True)
        return self._address(path)

    def live_log(self, job_dir: str) -> LiveLog:
        return ChunkedLiveLog(self, job_dir)
