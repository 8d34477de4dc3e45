"""The metrics endpoint of the long-running components (docs/architecture.md, "Metrics"):
each component defines its series with `prometheus_client` where it counts them; this
serves them."""

import logging

from prometheus_client import start_http_server

from ouro.config import ConfigError, setting

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


def serve(port: int, host: str = ALL_INTERFACES) -> None:
    """Serve `/metrics` on `port` from a daemon thread; 0 serves nothing."""
    if port == 0:
        return
    if not 0 < port < 65536:
        raise ConfigError(f"invalid metrics port {port}")
    try:
        start_http_server(port, addr=host)
    except OSError as error:
        raise ConfigError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
    log.info("metrics on http://%s:%d/metrics", host, port)
