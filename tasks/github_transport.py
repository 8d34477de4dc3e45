"""The connection PyGithub's requester sends through (`tasks.github`, `count_requests`): one
kept-alive socket per client, where PyGithub's own class goes through a `requests` session.
The request's head is written whole and the answer read by httptools' parser (llhttp, as
uvicorn uses): a status post cost 1.34 ms of CPU through `requests` and `urllib3`, 0.21 ms
through `http.client` (mostly its header parsing, by the email package), 0.05 ms this way
(docs/tasks-bot.md, "Figures").

It has the shape PyGithub expects of a connection (`request`, then `getresponse` with
`status`, `getheaders` and `read`), asks for gzip as `requests` did, verifies TLS with the
same CA bundle (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, else certifi's), and counts every
answer (`tasks.github_requests`). A proxy in the environment is `requests`' business: then
`tasks.github` keeps PyGithub's class.

Errors are `OSError`s (a refused connection, a timeout, a certificate, a server that closed
the connection unanswered) and `http.client.HTTPException`s (an answer cut off or
malformed); `tasks.github` treats both as transient.
"""

import http.client
import os
import select
import socket
import ssl
import zlib
from collections.abc import Callable
from typing import Any

import certifi
import httptools

# (verb, path with query, status) of each answer.
Recorder = Callable[[str, str, int], None]

# (verb, path with query, body, headers)
_Request = tuple[str, str, bytes | None, dict[str, str]]

# Read at a time: a page of 100 statuses is about 150 KB.
_CHUNK = 256 * 1024
# What may not appear in a request's line or a header: it would end the line early.
_LINE_BREAKS = ("\r", "\n")


def ca_bundle(verify: bool | str) -> str | None:
    """The CA file `requests` would verify with; None when verification is off."""
    if verify is False:
        return None
    if isinstance(verify, str):
        return verify
    return (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    )


class Answer:
    """An answer, read whole, as PyGithub's requester reads it."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: str):
        self.status = status
        self._headers = headers
        self._body = body

    def getheaders(self) -> list[tuple[str, str]]:
        return self._headers

    def read(self) -> str:
        return self._body


class _Reading:
    """httptools' callbacks, collecting the answer as it comes."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.began = False
        self.headed = False
        self.complete = False
        self.keep_alive = False
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []

    def on_message_begin(self) -> None:
        # Again after an informational (1xx) answer: the real one follows it.
        self.began, self.headed, self.headers, self.body = True, False, [], []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.headed = True
        self.status = self.parser.get_status_code()

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        # Asked now: once the answer is complete, the parser readies itself for the next.
        self.keep_alive = self.parser.should_keep_alive()
        # An informational (1xx) answer comes before the real one.
        self.complete = self.status >= 200

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name), "")


class Connection:
    """One host's kept-alive connection; PyGithub makes one per client and holds it."""

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        record: Recorder,
        timeout: float | None = None,
        verify: bool | str = True,
        **kwargs: Any,  # PyGithub's `retry` and `pool_size`: not ours to do here
    ):
        self.host = host
        self.port = port
        self._timeout = timeout
        self._record = record
        self._verify = verify
        self._sent: _Request | None = None
        self._socket: socket.socket | None = None
        self._buffer = bytearray(_CHUNK)

    default_port = 80

    def _connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port or self.default_port), self._timeout)

    def request(
        self, verb: str, url: str, input: object, headers: dict[str, str], stream: bool = False
    ) -> None:
        if stream:
            raise NotImplementedError("streamed answers are not used by the forge adapter")
        body = input.encode() if isinstance(input, str) else input
        if body is not None and not isinstance(body, bytes):
            raise TypeError(f"a request body must be text or bytes, not {type(body).__name__}")
        self._sent = (verb, url, body, {**headers, "Accept-Encoding": "gzip"})

    def getresponse(self) -> Answer:
        sent = self._sent
        if sent is None:
            raise RuntimeError("getresponse() before request()")
        kept = self._kept()
        self._socket = None
        if kept is not None:
            reading = _Reading()
            try:
                return self._exchange(kept, sent, reading)
            except ConnectionError:
                if reading.began:
                    raise
                # The server closed the kept connection as the request went out (it had
                # not yet read as closed) and answered nothing: once more on a new one.
        return self._exchange(self._connect(), sent, _Reading())

    def _exchange(self, sock: socket.socket, sent: _Request, reading: _Reading) -> Answer:
        """Send the request on `sock` and read the answer whole; `sock` is kept for the next
        request if the answer allows, else closed."""
        verb, url, body, _ = sent
        try:
            sock.sendall(self._head(sent) + (body or b""))
            keep = self._read(sock, reading, head_only=verb == "HEAD")
        except BaseException:
            sock.close()
            raise
        if keep:
            self._socket = sock
        else:
            sock.close()
        data = b"".join(reading.body)
        if reading.header("content-encoding").lower() == "gzip":
            data = zlib.decompress(data, wbits=zlib.MAX_WBITS | 16)
        self._record(verb, url, reading.status)
        return Answer(reading.status, reading.headers, data.decode("utf-8", "replace"))

    def _head(self, sent: _Request) -> bytes:
        verb, url, body, headers = sent
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        port = "" if self.port in (None, self.default_port) else f":{self.port}"
        lines = [f"{verb} {url} HTTP/1.1", f"Host: {host}{port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None or verb in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        if any(c in line for line in lines for c in _LINE_BREAKS) or " " in url:
            # As http.client refuses them: the request would say something else than meant.
            raise ValueError(f"a line break or space in a request to {url!r:.80}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _read(self, sock: socket.socket, reading: _Reading, *, head_only: bool) -> bool:
        """Read the answer into `reading`; whether the connection may carry another request."""
        view = memoryview(self._buffer)
        while True:
            count = sock.recv_into(view)
            if not count:
                self._ended(reading)
                return False
            try:
                reading.parser.feed_data(view[:count])
            except httptools.HttpParserError as error:
                raise http.client.HTTPException(f"a malformed answer: {error}") from None
            if reading.complete:
                return reading.keep_alive
            if head_only and reading.headed:
                # An answer to HEAD has no body, whatever its length says; the parser cannot
                # be told so, and the connection is not used again.
                return False

    @staticmethod
    def _ended(reading: _Reading) -> None:
        """The server closed the connection: the end of an answer whose length was not given,
        or else an error."""
        if not reading.began:
            raise http.client.RemoteDisconnected("Remote end closed connection without response")
        framed = reading.header("content-length") or reading.header("transfer-encoding")
        if not reading.headed or framed:
            raise http.client.IncompleteRead(b"".join(reading.body))

    def _kept(self) -> socket.socket | None:
        """The connection of the last answer, unless the server has closed it since (then
        its socket reads as ready, with an end of file): so no request goes out on a socket
        known to be closed."""
        sock = self._socket
        if sock is None:
            return None
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            sock.close()
            return None
        return sock

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # A scan's client is dropped without being closed (as `requests` sessions were): its kept
    # socket goes with it.
    __del__ = close


class TLSConnection(Connection):
    default_port = 443
    _context: ssl.SSLContext | None = None

    def _connect(self) -> socket.socket:
        if self._context is None:
            # Made once per client: loading a CA bundle takes milliseconds.
            # Never unverified: without a bundle (`verify=False`), the system's CAs.
            self._context = ssl.create_default_context(cafile=ca_bundle(self._verify))
        sock = super()._connect()
        try:
            return self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
