"""The HTTP server: GitHub's REST subset, the `/_mock/` control API and git smart HTTP.

One `ThreadingHTTPServer`; each request is `mock_github.handler`'s. The REST root is `/`
(PyGithub's `base_url`) and also `/api/v3` (GitHub Enterprise's layout, which
`gh` uses with `GH_HOST`).
"""

import logging
import sqlite3
import ssl
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import requests

from mock_github import delivery
from mock_github.control_api import ControlApi
from mock_github.control_apps import ControlApps
from mock_github.control_checks import ControlChecks
from mock_github.control_teams import ControlTeams
from mock_github.graphql.api import GraphqlApi
from mock_github.handler import RequestHandler
from mock_github.ratelimit import DEFAULT_LIMIT, RateLimits
from mock_github.records import Event, Hook
from mock_github.rest import RestApi
from mock_github.routing import Router
from mock_github.shapes import Shapes
from mock_github.shapes.base import Urls
from mock_github.state import State
from mock_github.state.durable import open_store

log = logging.getLogger(__name__)


class MockGitHub:
    """The mock: state, routes and the HTTP server, startable in-process or by `ouro`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        tls: tuple[Path, Path] | None = None,
        rate_limit: int = DEFAULT_LIMIT,
    ):
        """`tls`: (certificate, key) PEM files, to serve HTTPS; `rate_limit`: a user's
        requests an hour."""
        context = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
        self.scheme = "https" if context else "http"
        self.state = State(data_dir)
        self.store = open_store(self.state)
        self.httpd = ThreadingHTTPServer((host, port), RequestHandler)
        self.httpd.daemon_threads = True
        self.httpd.mock = self  # type: ignore[attr-defined]
        if context:
            # The handshake happens in the connection's thread (RequestHandler.handle), under
            # its timeout: done in accept, one silent or broken client would stall the server.
            self.httpd.socket = context.wrap_socket(
                self.httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port: int = self.httpd.server_address[1]
        self.url = public_url or f"{self.scheme}://{host}:{self.port}"
        self.session = requests.Session()
        self._thread: threading.Thread | None = None
        self.limits = RateLimits(rate_limit)
        self.router = Router()
        self.limits.register(self.router)
        RestApi(self.state, self.redeliver).register(self.router)
        ControlApi(self.state).register(self.router)
        ControlApps(self.state).register(self.router)
        ControlChecks(self.state).register(self.router)
        ControlTeams(self.state).register(self.router)
        GraphqlApi(self.state).register(self.router)

    def start(self) -> None:
        """Serve on a background thread (tests, the fixture)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="mock-github")
        self._thread.start()

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()
        self.save()
        self.store.close()
        self.session.close()

    def save(self) -> None:
        """Write what changed to the data directory (after every request that may change)."""
        with self.state.lock:
            try:
                self.store.save(self.state)
            except (sqlite3.Error, OSError):
                # The answer stands (the state in memory is right); a restart would lose it.
                log.exception("saving the state to %s failed", self.store.path)

    def add_token(self, token: str, login: str) -> None:
        with self.state.lock:
            self.state.add_token(token, login)

    def deliver(self, events: list[Event]) -> list[delivery.Delivery]:
        """Send each event to the hooks that want it, in order; returns the records."""
        done = []
        for event in events:
            with self.state.lock:
                repo = self.state.repo(event.repo)
                hooks = [h for h in repo.hooks.values() if h.wants(event.name)]
                if event.name == "ping":  # only the hook just added is pinged
                    hooks = [h for h in hooks if h.id == event.fields["hook_id"]]
                shapes = Shapes(self.state, Urls(self.url, self.url))
                prepared = []
                for hook in hooks:
                    payload = shapes.event_payload(event, hook)
                    prepared.append(
                        (
                            hook,
                            *delivery.prepare(hook, self.state.next_id(), event.name, payload),
                        )
                    )
            for hook, record, body in prepared:
                done.append(self._send(hook, record, body))
        return done

    def redeliver(self, hook: Hook, original: delivery.Delivery) -> delivery.Delivery:
        with self.state.lock:
            record, body = delivery.prepare(
                hook,
                self.state.next_id(),
                original.event,
                original.payload,
                guid=original.guid,
                redelivery=True,
            )
        return self._send(hook, record, body)

    def _send(self, hook: Hook, record: delivery.Delivery, body: bytes) -> delivery.Delivery:
        delivery.send(hook.url, record, body, self.session)
        with self.state.lock:
            hook.deliveries.append(record)
        return record
