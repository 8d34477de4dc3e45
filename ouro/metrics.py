"""The metrics endpoint of the long-running components (docs/architecture.md, "Metrics"):
each component defines its series with `prometheus_client` where it counts them; this
serves them, and beside them the consumer's probes (`/healthz`, `/readyz`) when given its
`ConsumerHealth`."""

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from ouro.config import ConfigError, setting
from ouro.consumerhealth import ConsumerHealth, Report

log = logging.getLogger(__name__)


def port_setting(value: int | None) -> int:
    """The port asked for (`--metrics-port`), else `OURO_METRICS_PORT`, else 0 (none)."""
    if value is not None:
        return value
    try:
        return int(setting("OURO_METRICS_PORT"))
    except ValueError:
        raise ConfigError("OURO_METRICS_PORT must be a port number") from None


# Scraped from outside the pod, as the receiver's port is.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would flood the log."""


def app(health: ConsumerHealth | None) -> App:
    """`/metrics`, and with `health` its probes: 200 or 503 with the reason as text."""
    metrics = make_wsgi_app()
    probes: dict[str, Callable[[], Report]] = (
        {"/healthz": health.liveness, "/readyz": health.readiness} if health else {}
    )

    def serve(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        probe = probes.get(environ.get("PATH_INFO", ""))
        if probe is None:
            served: Iterable[bytes] = metrics(environ, start_response)
            return served
        report = probe()
        status = "200 OK" if report.ok else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [report.text.encode() + b"\n"]

    return serve


def serve(port: int, host: str = ALL_INTERFACES, health: ConsumerHealth | None = None) -> None:
    """Serve `/metrics` (and `health`'s probes) on `port` from a daemon thread; 0 serves
    nothing."""
    if port == 0:
        return
    if not 0 < port < 65536:
        raise ConfigError(f"invalid metrics port {port}")
    try:
        server = make_server(host, port, app(health), _Server, handler_class=_QuietHandler)
    except OSError as error:
        raise ConfigError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics", host, port)
