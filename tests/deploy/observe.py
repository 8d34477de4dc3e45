"""What an operator's cluster asks of the deployment, asked of the local pod: each probe of
the production manifests, run inside its container as the kubelet would run it against
the pod, and each component's /metrics, read as Prometheus would."""

import requests
from prometheus_client.parser import text_string_to_metric_families

from ouro.deploy import manifests, podman
from ouro.deploy.local import Deployment

# An HTTP GET or a TCP connect from inside an app container (python3 is in its image):
# exit 0 for a 2xx/3xx answer or an accepted connection, as the kubelet counts them.
ASK = """
import socket, sys, urllib.error, urllib.request
port, path = int(sys.argv[1]), sys.argv[2]
if not path:
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    sys.exit(0)
try:
    code = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).status
except urllib.error.HTTPError as error:
    code = error.code
print(code)
sys.exit(0 if 200 <= code < 400 else 1)
"""


def ask(probe: manifests.Probe) -> tuple[int, str]:
    """(exit code, output) of `probe` run in its container of the local pod."""
    argv = probe.command or ["python3", "-c", ASK, str(probe.port), probe.path]
    result = podman.run(["exec", f"{manifests.POD}-{probe.container}", *argv], check=False)
    return result.returncode, (result.stdout + result.stderr).strip()


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
