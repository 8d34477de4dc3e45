"""The images-server's metrics, with prometheus-client: requests by method and answer, and
the bytes stored and served. One registry per server, served at `GET /metrics` (a path the
store cannot hold: its paths start with `images/` or `logs/`)."""

from prometheus_client import CollectorRegistry, Counter, generate_latest

PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ouro_images_requests",
            "Requests by method and response code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.bytes = Counter(
            "ouro_images_bytes",
            "Bytes of files received (stored) and sent (served, ranges included).",
            ["direction"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
