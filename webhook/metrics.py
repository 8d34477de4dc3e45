"""The receiver's metrics in Prometheus' text format (no client library: three series)."""

import bisect
import threading

# Seconds; a confirm normally takes a few milliseconds, GitHub gives up at 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deliveries: dict[tuple[str, int], int] = {}
        self._buckets = [0] * len(LATENCY_BUCKETS)
        self._count = 0
        self._sum = 0.0

    def delivery(self, event: str, code: int) -> None:
        with self._lock:
            key = (event, code)
            self._deliveries[key] = self._deliveries.get(key, 0) + 1

    def publish_latency(self, seconds: float) -> None:
        with self._lock:
            index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
            if index < len(self._buckets):
                self._buckets[index] += 1
            self._count += 1
            self._sum += seconds

    def deliveries(self, event: str, code: int) -> int:
        with self._lock:
            return self._deliveries.get((event, code), 0)

    def render(self, broker_up: bool) -> str:
        with self._lock:
            lines = [
                "# HELP ouro_webhook_deliveries_total Webhook requests by event and response code.",
                "# TYPE ouro_webhook_deliveries_total counter",
            ]
            for (event, code), count in sorted(self._deliveries.items()):
                labels = f'event="{_label(event)}",code="{code}"'
                lines.append(f"ouro_webhook_deliveries_total{{{labels}}} {count}")
            lines += [
                "# HELP ouro_webhook_publish_seconds Time from publish to the broker's confirm.",
                "# TYPE ouro_webhook_publish_seconds histogram",
            ]
            cumulative = 0
            for bound, count in zip(LATENCY_BUCKETS, self._buckets, strict=True):
                cumulative += count
                lines.append(f'ouro_webhook_publish_seconds_bucket{{le="{bound}"}} {cumulative}')
            lines += [
                f'ouro_webhook_publish_seconds_bucket{{le="+Inf"}} {self._count}',
                f"ouro_webhook_publish_seconds_sum {self._sum:.6f}",
                f"ouro_webhook_publish_seconds_count {self._count}",
            ]
        lines += [
            "# HELP ouro_webhook_broker_up Whether the broker was reachable at the last check.",
            "# TYPE ouro_webhook_broker_up gauge",
            f"ouro_webhook_broker_up {int(broker_up)}",
        ]
        return "\n".join(lines) + "\n"
