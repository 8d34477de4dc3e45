"""The store on the images-server, over HTTP (the default backend).

Transient failures (network errors, 5xx, 429) are retried with `ouro.retry`'s
backoff; a 4xx is our mistake and raised at once: 404 as `NotFound`, any other as
`StoreRefused` (a revoked token is a 401). One exception: a 422 to an upload is the
server's checksum not matching what arrived (damaged in transit, or a file that changed
while it was read), not a refusal of the request: it is a plain `StoreError`, which the
caller may try again later (a refusal made the worker drop the job). Uploads of streams
are retried only when the stream can be rewound.

Image-sized transfers (`put_file`, `get_to`) skip `requests`, which copies every block
through Python: `put_file` sends the file with `sendfile` as one chunk while a thread
hashes it, and sends the SHA-256 as a trailer that the server checks before the file
becomes visible; `get_to` splices the body into the file while a thread hashes behind
it. Both are one pass over the file. Through a proxy (`HTTP_PROXY`…) they use `requests`.
"""

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.client import HTTPConnection, HTTPException, HTTPResponse
from pathlib import Path
from typing import IO, BinaryIO, TypeVar

import requests

from ouro.config import optional_secret, setting
from ouro.retry import with_retries
from ouro.store import (
    BLOCK,
    Entry,
    FileHasher,
    InvalidPath,
    LiveLog,
    NotFound,
    StoreError,
    StoreRefused,
    check_path,
    check_sha256,
    file_sha256,
    splice_body,
)
from ouro.store.live import ChunkedLiveLog

log = logging.getLogger(__name__)

T = TypeVar("T")

# (connect, read) seconds; a read waits for the server to store a whole upload.
TIMEOUT = (10, 300)


class TransientHTTPError(StoreError):
    pass


# Failures of the connection itself, with `requests` or `http.client`: worth a retry.
NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)
HTTP_ERRORS = (requests.RequestException, HTTPException, ConnectionError, TimeoutError)


def is_transient(error: Exception) -> bool:
    return isinstance(error, (TransientHTTPError, HTTPException, *NETWORK_ERRORS))


def _failure(status: int, message: str, method: str, path: str) -> StoreError:
    if status == 404:
        return NotFound(f"{path} does not exist")
    # 422 to a PUT: the checksum did not match what arrived (see above).
    mismatch = status == 422 and method == "PUT"
    refused = 400 <= status < 500 and not mismatch
    return (StoreRefused if refused else StoreError)(f"{method} {path}: HTTP {status} {message}")


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
        # Each thread's session, with the thread: a session whose thread has ended is closed.
        self._sessions: list[tuple[threading.Thread, requests.Session]] = []
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
                # Each job's live log has a thread of its own: without this, a worker kept
                # a session, and its connection to the server, for every job it ever ran.
                kept = [(threading.current_thread(), session)]
                for thread, other in self._sessions:
                    if thread.is_alive():
                        kept.append((thread, other))
                    else:
                        other.close()
                self._sessions = kept
        return session

    def close(self) -> None:
        with self._sessions_lock:
            for _, session in self._sessions:
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
        if response.status_code >= 300:
            message = "" if response.status_code == 404 else response.text.strip()[:200]
            response.close()
            raise _failure(response.status_code, message, method, path)

    def _wrap(self, call: Callable[[], T], what: str) -> T:
        try:
            return self._retried(call, what)
        except HTTP_ERRORS as error:
            raise StoreError(f"{what}: {error}") from error

    # ---- image-sized transfers, straight over a socket ----

    def _direct(self) -> bool:
        """Whether big transfers may bypass `requests`: not through a proxy, and not over
        TLS (the kernel would splice the encrypted bytes)."""
        plain = urllib.parse.urlsplit(self.base_url).scheme == "http"
        return plain and not requests.utils.get_environ_proxies(self.base_url)

    def _send_head(self, method: str, path: str, headers: dict[str, str]) -> HTTPConnection:
        """A new connection with the request's head sent; the caller sends any body."""
        parts = urllib.parse.urlsplit(self.base_url)
        connection = HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT[1])
        connection.putrequest(method, f"{parts.path}/{urllib.parse.quote(path)}")
        if self._token:
            connection.putheader("Authorization", f"Bearer {self._token}")
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        return connection

    @staticmethod
    def _answer(connection: HTTPConnection, method: str, path: str) -> HTTPResponse:
        response = connection.getresponse()
        if response.status >= 500 or response.status == 429:
            raise TransientHTTPError(f"{method} {path}: HTTP {response.status}")
        if response.status >= 300:
            message = response.read(1024).decode(errors="replace").strip()[:200]
            raise _failure(response.status, message, method, path)
        return response

    def _send_file(self, path: str, file: BinaryIO) -> str:
        """PUTs `file` as one chunk sent by the kernel while a thread hashes it, then the
        SHA-256 as a trailer, which the server checks; the SHA-256."""
        size = os.fstat(file.fileno()).st_size
        headers = {
            "Content-Type": "application/octet-stream",
            "Transfer-Encoding": "chunked",
            "Trailer": "X-Content-SHA256",
        }
        connection = self._send_head("PUT", path, headers)
        with contextlib.closing(connection), FileHasher(file.fileno(), size) as hasher:
            socket = connection.sock
            try:
                if size:
                    socket.sendall(b"%x\r\n" % size)
                    if socket.sendfile(file, 0, size) != size:
                        raise StoreError(f"PUT {path}: the file shrank while it was uploaded")
                    socket.sendall(b"\r\n")
                digest = hasher.hexdigest()
                socket.sendall(f"0\r\nX-Content-SHA256: {digest}\r\n\r\n".encode())
            except ConnectionError:
                # A refusal (a revoked token) may be answered before the body is read.
                with contextlib.suppress(*HTTP_ERRORS):
                    self._answer(connection, "PUT", path)
                raise
            confirmed = self._answer(connection, "PUT", path).getheader("X-Content-SHA256")
        if confirmed != digest:
            raise StoreError(f"PUT {path}: the server did not confirm the checksum trailer")
        return digest

    def _receive_file(self, path: str, file: IO[bytes]) -> None:
        """GETs `path` into `file`, spliced by the kernel while a thread hashes behind;
        `StoreError` if the server's `X-Content-SHA256` does not match."""
        connection = self._send_head("GET", path, {})
        with contextlib.closing(connection):
            response = self._answer(connection, "GET", path)
            expected = response.getheader("X-Content-SHA256")
            fd = file.fileno()
            hasher = FileHasher(fd, mapped=True) if expected else None
            moved = hasher.advance if hasher else lambda count: None
            try:
                if response.length is None or response.chunked:
                    raise StoreError(f"GET {path}: the answer has no Content-Length")
                socket = connection.sock.fileno()
                splice_body(
                    response.fp, socket, fd, response.length, timeout=TIMEOUT[1], moved=moved
                )
                if hasher and hasher.hexdigest() != expected:
                    raise StoreError(f"GET {path}: checksum mismatch, download corrupted")
            finally:
                if hasher:
                    hasher.close()

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
        if self._direct():

            def send() -> str:
                with source.open("rb") as file:
                    return self._send_file(path, file)

            digest = self._wrap(send, f"PUT {path}")
        else:
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
            # Next to the target, so the rename is atomic and a failed download leaves nothing.
            with tempfile.NamedTemporaryFile(
                dir=target.parent, prefix=f".{target.name}.", delete=False
            ) as file:
                try:
                    if self._direct():
                        self._receive_file(path, file)
                    else:
                        self._download(path, file)
                    os.replace(file.name, target)
                except BaseException:
                    os.unlink(file.name)
                    raise

        self._wrap(attempt, f"GET {path}")

    def _download(self, path: str, file: IO[bytes]) -> None:
        with self._request("GET", path, stream=True) as response:
            self._check(response, "GET", path)
            expected = response.headers.get("X-Content-SHA256")
            digest = hashlib.sha256()
            for block in response.iter_content(BLOCK):
                digest.update(block)
                file.write(block)
            file.flush()
            if expected and digest.hexdigest() != expected:
                raise StoreError(f"GET {path}: checksum mismatch, download corrupted")

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
