"""One HTTP request to the mock: TLS handshake, body, token or App JWT, the rate limit and
conditional answers, then the route (REST, GraphQL, `/_mock/` control, git smart HTTP).
Every request is answered inside a catch-all, so a bad request costs a 4xx (or a logged
500), never the server (`mock_github.server` runs the `ThreadingHTTPServer`)."""

import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
import ssl
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from mock_github import conditional, githttp
from mock_github.errors import ApiError
from mock_github.ratelimit import Client
from mock_github.routing import Request, Response, error_response
from mock_github.shapes.base import Urls
from mock_github.state.apps import is_jwt

if TYPE_CHECKING:
    from mock_github.server import MockGitHub

log = logging.getLogger(__name__)

MAX_BODY = 100 * 1024 * 1024
API_PREFIX = "/api/v3"


def request_id() -> str:
    """An id in GitHub's form (five hex groups), as a client quotes it in a report."""
    return ":".join(secrets.token_hex(n).upper() for n in (2, 2, 3, 3, 4))


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-github"
    timeout = 60  # an idle keep-alive connection does not hold a thread forever
    # Headers and body leave in one write: split small writes cost 40 ms each (Nagle plus
    # delayed ACKs) on keep-alive connections. handle_one_request flushes after each request.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    # Requests too broken to route (bad request line, bad headers) still get GitHub's shape.
    error_content_type = "application/json"
    error_message_format = '{"message": "%(message)s", "documentation_url": "%(explain)s"}'

    @property
    def mock(self) -> "MockGitHub":
        mock: MockGitHub = self.server.mock  # type: ignore[attr-defined]
        return mock

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except OSError as error:  # ssl.SSLError and timeouts are OSErrors
                log.debug("TLS handshake with %s failed: %s", self.address_string(), error)
                return
        super().handle()

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                try:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    raise ApiError(400, "Bad request: invalid chunk size") from None
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    self.close_connection = True
                    raise ApiError(413, "Payload Too Large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        text = self.headers.get("Content-Length") or "0"
        if not text.isdigit():
            # The body's end is unknown, so the connection cannot carry another request.
            self.close_connection = True
            raise ApiError(400, "Bad request: invalid Content-Length")
        if int(text) > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "Payload Too Large")
        return self.rfile.read(int(text))

    def _token(self) -> str | None:
        """The token the request carries (HTTP Basic's password, as git sends it), if any;
        None for an App's JWT, which is nobody's token (rest/apps.py checks it)."""
        header = self.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if not header:
            return None
        token = credential.strip()
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(token).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise ApiError(401, "Bad credentials") from None
            token = password or user
        elif scheme.lower() not in ("token", "bearer"):
            raise ApiError(401, "Bad credentials")
        return None if self._jwt() is not None else token

    def _login(self) -> str | None:
        token = self._token()
        if token is None:
            return None
        with self.mock.state.lock:
            login = self.mock.state.token_login(token)
        if login is None:
            raise ApiError(401, "Bad credentials")
        return login

    def _jwt(self) -> str | None:
        """The JWT an App authenticates with (`Authorization: Bearer JWT`), if sent."""
        scheme, _, credential = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and is_jwt(credential.strip()):
            return credential.strip()
        return None

    def _handle(self) -> None:
        try:
            split = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(split.path)
            body = self._read_body()
            git = githttp.GIT_PATH.fullmatch(path)
            if git and not path.startswith(("/repos/", "/_mock/")):
                self._git(git, split.query, body)
                return
            response = self._api(path, split.query, body)
        except ApiError as error:
            response = error_response(error)
        except Exception:
            log.exception("%s %s failed", self.command, self.path)
            response = Response(500, {"message": "Internal Server Error"})
            self.close_connection = True
        # Deliver before answering: whoever caused an event knows, once answered, that its
        # webhooks were tried, so tests and scripts need no polling.
        try:
            if response.events:
                self.mock.deliver(response.events)
            for action in response.after:
                action()
        except Exception:
            log.exception("delivering events for %s %s failed", self.command, self.path)
        if self.command not in ("GET", "HEAD"):
            self.mock.save()
        try:
            self._send(response)
        except OSError:
            self.close_connection = True

    def _api(self, path: str, query: str, body: bytes) -> Response:
        host = self.headers.get("Host") or f"127.0.0.1:{self.mock.port}"
        web = f"{self.mock.scheme}://{host}"
        api = web
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            path = path[len(API_PREFIX) :] or "/"
            api = web + API_PREFIX
        urls = Urls(web, api)
        if path.startswith("/_mock/"):
            return self._route(path, query, body, urls)

        def serve() -> Response:
            response = self._route(path, query, body, urls)
            if self.command in ("GET", "HEAD"):
                return conditional.answer(self.headers, response)
            return response

        return self.mock.limits.metered(self._client(), path, serve)

    def _client(self) -> Client:
        try:
            login = self._login()
        except ApiError:  # a bad token draws on its address's budget, as on GitHub
            login = None
        with self.mock.state.lock:
            account = self.mock.state.accounts.get(login.lower()) if login else None
        return Client(login, self.client_address[0], account.id if account else None)

    def _route(self, path: str, query: str, body: bytes, urls: Urls) -> Response:
        login = self._login()
        handler, params = self.mock.router.match(self.command, path)
        query_params = dict(urllib.parse.parse_qsl(query))
        request = Request(
            self.command,
            path,
            query_params,
            params,
            body,
            login,
            urls,
            self._jwt(),
            self.client_address[0],
        )
        # An App's own writes (`/app/…`) authenticate with its JWT, checked by their routes.
        if self.command not in ("GET", "HEAD") and not path.startswith(("/_mock/", "/app/")):
            request.user()
            self._in_scope(params.get("owner"), params.get("repo"))
        with self.mock.state.lock:
            return handler(request)

    def _in_scope(self, owner: str | None, name: str | None) -> None:
        """An installation token writes only to its installation's repositories."""
        token = self._token()
        if token is not None and owner is not None and name is not None:
            with self.mock.state.lock:
                self.mock.state.check_installation_scope(token, f"{owner}/{name}")

    def _send(self, response: Response) -> None:
        data = b""
        if response.status != 204 and response.body is not None:
            data = json.dumps(response.body, indent=1).encode()
        self.send_response(response.status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        if response.status != 304:  # a 304's length would be that of the answer it stands for
            self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Request-Id", request_id())
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        if self.close_connection:
            # Said, so that a keep-alive client does not send its next request into a
            # connection closed after this answer (a 500, a body of unknown length).
            self.send_header("Connection", "close")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _git(self, match: re.Match[str], query: str, body: bytes) -> None:
        state = self.mock.state
        with state.lock:
            repo = state.repo(f"{match['owner']}/{match['name']}")
        rest = match["rest"]
        pusher = None
        if githttp.is_push(rest, query):
            pusher = self._login()
            if pusher is None:
                raise ApiError(401, "Requires authentication")
            self._in_scope(match["owner"], match["name"])
        path_info = f"/{repo.git.path.relative_to(state.repos_dir)}{rest}"
        with state.lock if pusher else contextlib.nullcontext():
            before = repo.git.refs() if pusher else {}
            result = githttp.run_backend(
                state.repos_dir,
                path_info,
                method=self.command,
                query=query,
                content_type=self.headers.get("Content-Type"),
                content_encoding=self.headers.get("Content-Encoding"),
                git_protocol=self.headers.get("Git-Protocol"),
                remote_user=pusher,
                body=body,
            )
            events = []
            if pusher and rest == "/git-receive-pack":
                after = repo.git.refs()
                moves = {
                    ref: (before.get(ref), after.get(ref))
                    for ref in set(before) | set(after)
                    if before.get(ref) != after.get(ref)
                }
                events = state.refs_moved(repo, moves, pusher) if moves else []
        if events:
            log.info("push to %s by %s caused %d events", repo.full_name, pusher, len(events))
            self.mock.deliver(events)
        if pusher:
            self.mock.save()
        self.send_response(result.status)
        self.send_header("X-GitHub-Request-Id", request_id())
        for name, value in result.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(result.body)))
        self.end_headers()
        self.wfile.write(result.body)
