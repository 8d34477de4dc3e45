"""What an operator's cluster asks of the deployment, asked of the local pod: each probe of
the production manifests, run inside its container as the kubelet would run it against
the pod, and each component's /metrics, read as Prometheus would."""

import requests
from prometheus_client.parser import text_string_to_metric_families

from ouro.deploy.local import Deployment
from ouro.deploy.probes import ask

__all__ = ["ask", "samples", "total"]


def samples(deployment: Deployment, port: int) -> dict[str, float]:
    """Every sample of the /metrics on `port` (published on the host), one entry per series:
    `name{a="b",c="d"}`."""
    response = requests.get(f"http://{deployment.state.host}:{port}/metrics", timeout=10)
    response.raise_for_status()
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def total(found: dict[str, float], name: str, **labels: str) -> float:
    """The sum of `name`'s series that carry `labels`."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        value
        for series, value in found.items()
        if series.startswith(name + "{") and all(w in series for w in wanted)
    )
