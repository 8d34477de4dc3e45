"""The receiver's metrics, with prometheus-client: deliveries by event and answer, the time
from publish to the broker's confirm, mirrors to the shadow exchange, and whether the broker
is up.

Each receiver has a registry of its own, so that several receivers in one process (tests)
count apart; `/metrics` serves it.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Seconds; a confirm normally takes a few milliseconds, GitHub gives up at 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._deliveries = Counter(
            "ouro_webhook_deliveries",
            "Webhook requests by event and response code.",
            ["event", "code"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "ouro_webhook_publish_seconds",
            "Time from publish to the broker's confirm.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._mirrored = Counter(
            "ouro_webhook_shadow_mirrored",
            "Accepted deliveries mirrored to the shadow exchange, by result (ok: confirmed).",
            ["result"],
            registry=self.registry,
        )
        self._broker_up = Gauge(
            "ouro_webhook_broker_up",
            "Whether the broker was reachable at the last check.",
            registry=self.registry,
        )

    def delivery(self, event: str, code: int) -> None:
        self._deliveries.labels(event, str(code)).inc()

    def mirrored(self, ok: bool) -> None:
        self._mirrored.labels("ok" if ok else "failed").inc()

    def publish_latency(self, seconds: float) -> None:
        self._latency.observe(seconds)

    def render(self, broker_up: bool) -> str:
        self._broker_up.set(int(broker_up))
        return generate_latest(self.registry).decode()
