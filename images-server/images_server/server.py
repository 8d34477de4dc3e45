"""The images-server over HTTP: its routes, tokens and headers (docs/images-server.md).

`PUT`/`GET`/`HEAD`/`DELETE` on `/images/<name>` and `/logs/<job>/<path…>`. Writes need
`Authorization: Bearer <token>` (one token per line of `IMAGES_TOKEN_FILE`, re-read when
it changes, so a token rotates without a restart); reads are public unless
`--private-reads`. Downloads go out with `sendfile` and, when the upload was verified,
its SHA-256 as `X-Content-SHA256`, so downloads are verified end to end. The files on
disk are `storage`'s; `bodies` reads upload bodies, `listing` renders folders, and
`conditional` answers `304` and `Range`.
"""

import json
import logging
import os
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

from images_server import metrics, status, storage
from images_server.bodies import IDLE_TIMEOUT, receive
from images_server.conditional import etag, http_date, not_modified, parse_range
from images_server.errors import Refused, Truncated
from images_server.listing import render
from images_server.metrics import Metrics
from ouro.config import setting
from ouro.secretfile import SecretFile
from ouro.store import InvalidPath, check_path, check_sha256, content_type
from ouro.store.live import PAGE

log = logging.getLogger("images_server")


class ImagesServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        root: Path,
        tokens: SecretFile,
        *,
        image_tokens: SecretFile | None = None,
        public_reads: bool = True,
        fsync: bool = False,
        capabilities: tuple[str, ...] = (),
    ):
        """`capabilities`: whose queues the status page shows before any of their jobs ran."""
        self.root = root.resolve()
        self.tokens = tokens
        # Tokens that jobs get (IMAGES_JOB_TOKEN_FILE): they may upload images, nothing else.
        self.image_tokens = image_tokens
        self.public_reads = public_reads
        self.fsync = fsync
        self.metrics = Metrics()
        storage.prepare(self.root)
        self.status = status.Status(self.root, capabilities)
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


def _untrusted(name: str) -> bool:
    """Whether `name` may hold what a job wrote, so a browser must not run it on our origin.

    Everything under `logs/` but the log page, which the worker writes and whose
    script must run (it only fetches; a fetched response's CSP does not apply to it).
    """
    parts = name.split("/")
    return parts[0] == "logs" and not (len(parts) == 3 and parts[2] == PAGE)


class Handler(BaseHTTPRequestHandler):
    server: ImagesServer
    protocol_version = "HTTP/1.1"
    server_version = "ouro-images/1"
    timeout = IDLE_TIMEOUT

    def do_GET(self) -> None:
        self._answer(lambda: self._read(head=False))

    def do_HEAD(self) -> None:
        self._answer(lambda: self._read(head=True))

    def do_PUT(self) -> None:
        self._answer(self._put)

    def do_DELETE(self) -> None:
        self._answer(self._delete)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # ---- plumbing ----

    def send_response(self, code: int, message: str | None = None) -> None:
        self.server.metrics.requests.labels(self.command, str(code)).inc()
        super().send_response(code, message)

    def _answer(self, action: Callable[[], None]) -> None:
        # One handler serves every request of a kept-alive connection: reset per request.
        self._body_read = self.command != "PUT"
        self._size_for_416 = 0
        try:
            action()
        except Refused as refusal:
            self._send_error(refusal.status, str(refusal))
        except (Truncated, ConnectionError, TimeoutError) as error:
            log.info("%s %s: connection lost (%s)", self.command, self.path, type(error).__name__)
            self.close_connection = True

    def _send_error(self, status: int, message: str) -> None:
        body = (message + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="ouro images"')
        if status == 416:
            self.send_header("Content-Range", f"bytes */{self._size_for_416}")
        if not self._body_read:
            # The request body is still on the wire; this connection cannot carry another request.
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    _body_read = False
    _size_for_416 = 0

    def _authorize(self) -> bool:
        """Refuse a request without a valid token; whether the token may do everything
        (else it is a job's token, which may only upload images)."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(401, "a bearer token is required")
        if self.server.tokens.accepts(token.strip()):
            return True
        images = self.server.image_tokens
        if images is not None and images.accepts(token.strip()):
            return False
        raise Refused(401, "the bearer token is not valid")

    def _target(self) -> tuple[str, Path]:
        """The store path of the request and where it is on disk; refuses every escape."""
        raw = urllib.parse.urlsplit(self.path).path
        try:
            name = urllib.parse.unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise Refused(400, "the path is not UTF-8") from None
        if not name.startswith("/"):
            raise Refused(400, "the path must start with /")
        name = name[1:]
        if name:
            try:
                check_path(name, folder=True)
            except InvalidPath as error:
                raise Refused(400, str(error)) from None
        return name, storage.locate(self.server.root, name)

    def _query(self) -> dict[str, str]:
        query = urllib.parse.urlsplit(self.path).query
        return dict(urllib.parse.parse_qsl(query))

    # ---- reads ----

    def _read(self, *, head: bool) -> None:
        if urllib.parse.urlsplit(self.path).path == metrics.PATH:
            self._metrics(head=head)
            return
        if not self.server.public_reads:
            self._authorize()
        if urllib.parse.urlsplit(self.path).path in (status.PAGE_PATH, status.DATA_PATH):
            self._status(head=head)
            return
        name, path = self._target()
        try:
            file = open(path, "rb")  # noqa: SIM115 (closed below, after sendfile)
        except IsADirectoryError:
            self._folder(name, path, head=head)
            return
        except (FileNotFoundError, NotADirectoryError):
            raise Refused(404, f"/{name} does not exist") from None
        except PermissionError:
            raise Refused(403, f"/{name} is not readable") from None
        with file:
            if name.endswith("/"):
                raise Refused(404, f"/{name} is a file, not a folder")
            self._file(name, file, head=head)

    def _generated(self, body: bytes, kind: str, *, head: bool) -> None:
        """Answer with `body`, made for this request (nothing a cache may keep)."""
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _metrics(self, *, head: bool) -> None:
        self._generated(self.server.metrics.render(), metrics.CONTENT_TYPE, head=head)

    def _status(self, *, head: bool) -> None:
        if urllib.parse.urlsplit(self.path).path == status.PAGE_PATH:
            self._generated(status.page(), "text/html; charset=utf-8", head=head)
        else:
            data = json.dumps(self.server.status.snapshot()).encode()
            self._generated(data, "application/json", head=head)

    def _file(self, name: str, file: BinaryIO, *, head: bool) -> None:
        # Served from the open file: a concurrent replace swaps the name, not this inode.
        stat = os.fstat(file.fileno())
        size = stat.st_size
        tag = etag(stat)
        headers = {
            "Content-Type": content_type(name),
            "ETag": tag,
            "Last-Modified": http_date(stat.st_mtime),
            "Accept-Ranges": "bytes",
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        if _untrusted(name):
            headers["Content-Security-Policy"] = "sandbox"
        sha256 = storage.stored_sha256(file.fileno())
        if sha256 is not None:
            headers["X-Content-SHA256"] = sha256
        if not_modified(
            tag,
            stat.st_mtime,
            self.headers.get("If-None-Match"),
            self.headers.get("If-Modified-Since"),
        ):
            self.send_response(304)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            return
        first, last = 0, size - 1
        status = 200
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and size and (if_range is None or if_range == tag):
            self._size_for_416 = size
            chosen = parse_range(wanted, size)
            if chosen:
                first, last = chosen
                status = 206
                headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        count = last - first + 1
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(count))
        self.end_headers()
        if not head and count:
            self.connection.sendfile(file, first, count)
            self.server.metrics.bytes.labels("sent").inc(count)

    def _folder(self, name: str, path: Path, *, head: bool) -> None:
        if name and not name.endswith("/"):
            # Relative links in the listing and the log page need the trailing slash.
            self.send_response(301)
            self.send_header("Location", "/" + urllib.parse.quote(name) + "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        query = self._query()
        entries = list(storage.entries(name, path, recursive=query.get("recursive") == "1"))
        body, kind = render(name, entries, query=query, accept=self.headers.get("Accept", ""))
        self._generated(body, kind, head=head)

    # ---- writes ----

    def _put(self) -> None:
        unrestricted = self._authorize()
        name, path = self._target()
        if not unrestricted and not name.startswith("images/"):
            raise Refused(403, "this token may upload images only")
        try:
            check_path(name)
        except InvalidPath as error:
            raise Refused(400, str(error)) from None
        expected = self._expected_sha256(self.headers.get("X-Content-SHA256"))
        length = self._length()
        # A chunked body may bring its checksum last, as a trailer the headers announce.
        trailed = length is None and "x-content-sha256" in [
            field.strip().lower() for field in self.headers.get("Trailer", "").split(",")
        ]
        if path.is_dir():
            raise Refused(409, f"/{name} is a folder")
        with storage.Upload(self.server.root, verify=bool(expected or trailed)) as upload:
            size, trailers = receive(self.rfile, self.connection.fileno(), upload, length)
            self._body_read = True
            if trailed and not expected:
                if "x-content-sha256" not in trailers:
                    raise Refused(400, "the announced X-Content-SHA256 trailer is missing")
                expected = self._expected_sha256(trailers["x-content-sha256"])
            upload.finish(name, path, expected, fsync=self.server.fsync)
        log.info("PUT /%s: %d bytes%s", name, size, ", sha256 verified" if expected else "")
        self.server.metrics.bytes.labels("received").inc(size)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        if expected:
            self.send_header("X-Content-SHA256", expected)
        self.end_headers()

    @staticmethod
    def _expected_sha256(expected: str | None) -> str | None:
        if expected is None:
            return None
        try:
            return check_sha256(expected.strip().lower())
        except InvalidPath as error:
            raise Refused(400, str(error)) from None

    def _length(self) -> int | None:
        """The body's Content-Length; None for a chunked body."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return None
        if self.headers.get("Content-Length") is None:
            raise Refused(411, "Content-Length or chunked transfer encoding is required")
        try:
            length = int(self.headers["Content-Length"])
        except ValueError:
            raise Refused(400, "Content-Length is not a number") from None
        if length < 0:
            raise Refused(400, "Content-Length is negative")
        return length

    def _delete(self) -> None:
        if not self._authorize():
            raise Refused(403, "this token may upload images only")
        self._body_read = True
        name, path = self._target()
        storage.delete(name, path)
        log.info("DELETE /%s", name)
        self.send_response(204)
        self.end_headers()


def make_server(
    port: int,
    root: Path,
    *,
    bind: str = "127.0.0.1",
    public_reads: bool = True,
    fsync: bool = False,
    capabilities: tuple[str, ...] = (),
) -> ImagesServer:
    """The server for `root`, with the tokens from `IMAGES_TOKEN_FILE` (and the image-only
    tokens from `IMAGES_JOB_TOKEN_FILE`, if set); not yet serving."""
    tokens = SecretFile(setting("IMAGES_TOKEN_FILE"), "upload token")
    job_file = os.environ.get("IMAGES_JOB_TOKEN_FILE")
    image_tokens = SecretFile(job_file, "image upload token") if job_file else None
    return ImagesServer(
        (bind, port), root, tokens, image_tokens=image_tokens, public_reads=public_reads,
        fsync=fsync, capabilities=capabilities,
    )  # fmt: skip
