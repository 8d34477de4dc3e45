"""The connection PyGithub's requester sends through (`tasks.github`, `count_requests`): one
kept-alive `http.client` connection per client, where PyGithub's own class goes through a
`requests` session: a status post cost 1.34 ms of CPU through `requests` and `urllib3`
(preparing the request, hooks, cookies, the pool, header dictionaries), 0.36 ms through
this (docs/tasks-bot.md, "Figures").

It has the shape PyGithub expects of a connection (`request`, then `getresponse` with
`status`, `getheaders` and `read`), asks for gzip as `requests` did, verifies TLS with the
same CA bundle (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, else certifi's), and counts every
answer (`tasks.github_requests`). A proxy in the environment is `requests`' business: then
`tasks.github` keeps PyGithub's class.

Errors are `OSError`s (a refused connection, a timeout, a certificate) and
`http.client.HTTPException`s (a server that closed mid-answer); `tasks.github` treats both
as transient.
"""

import http.client
import os
import select
import ssl
import zlib
from collections.abc import Callable
from typing import Any

import certifi

# (verb, path with query, status) of each answer.
Recorder = Callable[[str, str, int], None]

# (verb, path with query, body, headers)
_Request = tuple[str, str, bytes | None, dict[str, str]]


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
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self._timeout)

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
        self._connection = None
        if kept is not None:
            try:
                response = self._ask(kept, sent)
            except ConnectionError:
                # The server closed the kept connection as the request went out (it had
                # not yet read as closed) and answered nothing: once more on a new one.
                pass
            else:
                return self._read(kept, response, sent)
        connection = self._connect()
        return self._read(connection, self._ask(connection, sent), sent)

    @staticmethod
    def _ask(connection: http.client.HTTPConnection, sent: _Request) -> http.client.HTTPResponse:
        """Send the request and read the answer's head (a `ConnectionError` here means that
        nothing was answered)."""
        verb, url, body, headers = sent
        try:
            connection.request(verb, url, body, headers)
            return connection.getresponse()
        except BaseException:
            connection.close()
            raise

    def _read(
        self,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        sent: _Request,
    ) -> Answer:
        verb, url, _, _ = sent
        try:
            data = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._connection = connection
        if response.getheader("Content-Encoding", "").lower() == "gzip":
            data = zlib.decompress(data, wbits=zlib.MAX_WBITS | 16)
        self._record(verb, url, response.status)
        return Answer(response.status, response.getheaders(), data.decode("utf-8", "replace"))

    def _kept(self) -> http.client.HTTPConnection | None:
        """The connection of the last answer, unless the server has closed it since (then
        its socket reads as ready, with an end of file): so no request goes out on a socket
        known to be closed."""
        connection = self._connection
        if connection is None or connection.sock is None:
            return None
        readable, _, _ = select.select([connection.sock], [], [], 0)
        if readable:
            connection.close()
            return None
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # A scan's client is dropped without being closed (as `requests` sessions were): its kept
    # socket goes with it.
    __del__ = close


class TLSConnection(Connection):
    _context: ssl.SSLContext | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._context is None:
            # Made once per client: loading a CA bundle takes milliseconds.
            # Never unverified: without a bundle (`verify=False`), the system's CAs.
            self._context = ssl.create_default_context(cafile=ca_bundle(self._verify))
        return http.client.HTTPSConnection(
            self.host, self.port, timeout=self._timeout, context=self._context
        )
