"""Upload bodies off the socket: `Content-Length` or chunked framing, into a `storage.Upload`.

Bodies and chunks of 64 KiB or more move socket → pipe → file with `splice`, inside the
kernel (one copy, no interpreter time per byte); smaller ones are read and written. A
verified upload is hashed by the `Upload`'s own thread right behind the writes. A chunked
body may carry its `X-Content-SHA256` as a trailer, so that a client can hash the file
while sending it instead of in a pass before.
"""

import io

from images_server.errors import Refused, Truncated
from images_server.storage import Upload, write
from ouro.store import splice_body

# Below this, a piece is read into memory: a pipe and its calls would cost more.
SMALL = 64 << 10
MAX_TRAILERS = 32
# A stalled client frees its thread (and its temporary file) after this long.
IDLE_TIMEOUT = 300


def receive(
    rfile: io.BufferedIOBase, socket_fd: int, upload: Upload, length: int | None
) -> tuple[int, dict[str, str]]:
    """Reads the request body (`length` bytes, chunked if None) into `upload`; its size and
    its trailer fields (names in lower case)."""
    if length is not None:
        _piece(rfile, socket_fd, upload, length)
        return length, {}
    return _chunked(rfile, socket_fd, upload)


def _piece(rfile: io.BufferedIOBase, socket_fd: int, upload: Upload, length: int) -> None:
    if length < SMALL:
        data = rfile.read(length)
        if len(data) < length:
            raise Truncated
        write(upload.fd, data)
        upload.wrote(length)
        return
    splice_body(rfile, socket_fd, upload.fd, length, timeout=IDLE_TIMEOUT, moved=upload.wrote)


def _chunked(
    rfile: io.BufferedIOBase, socket_fd: int, upload: Upload
) -> tuple[int, dict[str, str]]:
    size = 0
    while True:
        line = rfile.readline(1024)
        if not line.endswith(b"\n"):
            raise Truncated
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise Refused(400, "bad chunk size in chunked body") from None
        if length < 0:
            raise Refused(400, "bad chunk size in chunked body")
        if length == 0:
            break
        _piece(rfile, socket_fd, upload, length)
        size += length
        if rfile.readline(1024).strip():
            raise Refused(400, "chunk not followed by CRLF")
    # Trailers, up to the empty line.
    trailers: dict[str, str] = {}
    for _ in range(MAX_TRAILERS + 1):
        line = rfile.readline(8192)
        if not line.endswith(b"\n"):
            raise Truncated
        if not line.strip():
            return size, trailers
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            trailers[name.strip().lower()] = value.strip()
    raise Refused(400, "too many trailer fields")
