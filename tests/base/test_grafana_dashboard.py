"""docs/grafana-dashboard.json asks only for series that a component exports: every metric
name in its queries is one that the receiver, the bot, the worker or the images-server
registers, and every label it groups or selects by is one of that metric's labels."""

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

import images_server.metrics
import tasks.botmetrics
import tasks.github_requests
import tasks.queuemetrics
import tasks.worker.metrics
import webhook.metrics

# Imported so that the series they define are registered in the default registry.
SERVED_BY_OURO_METRICS = (
    tasks.botmetrics,
    tasks.github_requests,
    tasks.queuemetrics,
    tasks.worker.metrics,
)
DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
# The series of each kind of metric, as Prometheus scrapes them.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}
_METRIC = re.compile(r"\bouro_[a-z0-9_]+\b")
_GROUPING = re.compile(r"\bby \(([^)]*)\)")
_MATCHER = re.compile(r"\{([^}]*)\}")
_LABEL = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)")


def exported() -> dict[str, set[str]]:
    """Each series name that a component registers, with its labels."""
    registries: list[CollectorRegistry] = [
        REGISTRY,  # the bot's and the worker's (tasks.*), served by ouro.metrics
        webhook.metrics.Metrics().registry,
        images_server.metrics.Metrics().registry,
    ]
    series: dict[str, set[str]] = {}
    for registry in registries:
        # No public listing of a registry's metrics with their label names.
        for collector in list(registry._collector_to_names):
            if not isinstance(collector, MetricWrapperBase):
                continue  # the process and platform collectors: not ours
            labels = set(collector._labelnames)
            for family in collector.describe():
                if not family.name.startswith("ouro_"):
                    continue
                for suffix in SUFFIXES[family.type]:
                    extra = {"le"} if suffix == "_bucket" else set()
                    series[family.name + suffix] = labels | extra
    return series


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_every_metric_the_dashboard_asks_for_is_exported() -> None:
    series = exported()
    asked = [(expr, name) for expr in queries() for name in _METRIC.findall(expr)]
    assert len(asked) >= 20
    unknown = sorted({name for _, name in asked if name not in series})
    assert unknown == [], f"not exported by any component: {unknown}"
    for expr, name in asked:
        used = set()
        for grouping in _GROUPING.findall(expr):
            used |= {label.strip() for label in grouping.split(",") if label.strip()}
        for matchers in _MATCHER.findall(expr):
            used |= set(_LABEL.findall(matchers))
        labels = set().union(*(series[n] for n in _METRIC.findall(expr)))
        assert used <= labels, f"{expr}: no label {sorted(used - labels)} on {name}"


def test_the_check_catches_a_name_no_component_exports() -> None:
    series = exported()
    assert "ouro_worker_jobs_total" in series
    assert "ouro_queue_messages" in series
    assert "ouro_worker_jobs" not in series  # a counter is scraped with _total
    assert "ouro_images_bytes_bucket" not in series
