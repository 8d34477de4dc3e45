"""Upload bodies off the socket: `Content-Length` or chunked framing, into a `storage.Upload`.

A body with a length and nothing to hash moves socket → pipe → file with `splice`, inside
the kernel; the others are read into two 1 MiB buffers in turn, one hashed and written on
a second thread while the other fills.
"""

import contextlib
import fcntl
import io
import os
import select
from collections.abc import Iterator
from typing import cast

from images_server.errors import Refused, Truncated
from images_server.storage import Upload, write

BUFFER = 1 << 20
# A stalled client frees its thread (and its temporary file) after this long.
IDLE_TIMEOUT = 300


def receive(rfile: io.BufferedIOBase, socket_fd: int, upload: Upload, length: int | None) -> int:
    """Reads the request body (`length` bytes, chunked if None) into `upload`; its size."""
    if length is not None and upload.digest is None and length >= BUFFER:
        return _splice(rfile, socket_fd, upload.fd, length)
    body = _chunked_body(rfile) if length is None else _sized_body(rfile, length)
    return upload.write(body)


class _Buffers:
    """Two buffers in turn: one is filled from the socket while the other is hashed and
    written (`Upload.write`), so a body needs at most 2 MiB whatever its size."""

    def __init__(self, size: int = BUFFER) -> None:
        self._buffers = (memoryview(bytearray(size)), memoryview(bytearray(size)))
        self._turn = 0

    def next(self) -> memoryview:
        self._turn ^= 1
        return self._buffers[self._turn]


def _splice(rfile: io.BufferedIOBase, socket_fd: int, fd: int, length: int) -> int:
    """Moves `length` bytes of body from the socket to `fd` inside the kernel: the data
    never enters this process, which saves a copy and the interpreter's time per block."""
    # What the request's reader already holds of the body goes first.
    reader = cast(io.BufferedReader, rfile)
    head = reader.read(min(len(reader.peek()), length))
    write(fd, head)
    remaining = length - len(head)
    pipe_read, pipe_write = os.pipe()
    try:
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe_write, fcntl.F_SETPIPE_SZ, BUFFER)  # a bigger pipe, fewer calls
        while remaining:
            try:
                moved = os.splice(socket_fd, pipe_write, min(remaining, BUFFER))
            except BlockingIOError:
                # The socket is non-blocking because it has a timeout: wait as a read would.
                if not select.select([socket_fd], [], [], IDLE_TIMEOUT)[0]:
                    raise TimeoutError from None
                continue
            if not moved:
                raise Truncated
            remaining -= moved
            while moved:
                moved -= os.splice(pipe_read, fd, moved)
    finally:
        os.close(pipe_write)
        os.close(pipe_read)
    return length


def _sized_body(rfile: io.BufferedIOBase, length: int) -> Iterator[memoryview]:
    # Whole buffers (readinto, not readinto1): fewer, larger blocks to hash and write.
    buffers = _Buffers(min(length, BUFFER))
    remaining = length
    while remaining:
        buffer = buffers.next()[: min(remaining, BUFFER)]
        got = rfile.readinto(buffer)
        if got < len(buffer):
            raise Truncated
        remaining -= got
        yield buffer


def _chunked_body(rfile: io.BufferedIOBase) -> Iterator[memoryview]:
    buffers = _Buffers()
    while True:
        line = rfile.readline(1024)
        if not line.endswith(b"\n"):
            raise Truncated
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise Refused(400, "bad chunk size in chunked body") from None
        if length == 0:
            break
        remaining = length
        while remaining:
            buffer = buffers.next()
            got = rfile.readinto1(buffer[: min(remaining, BUFFER)])
            if not got:
                raise Truncated
            remaining -= got
            yield buffer[:got]
        if rfile.readline(1024).strip():
            raise Refused(400, "chunk not followed by CRLF")
    # Trailers, up to the empty line.
    while True:
        line = rfile.readline(8192)
        if not line:
            raise Truncated
        if not line.strip():
            return
