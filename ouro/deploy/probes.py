"""The production manifests' probes asked of the local pod, as the kubelet would ask them of
a cluster's pods (the local pod runs without probes: manifests.local_pod): each runs inside
its container. `ouro deploy status` and the deployment tests use it."""

from ouro.deploy import manifests, podman

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
    result = podman.run(
        ["exec", f"{manifests.POD}-{probe.container}", *argv], check=False, timeout=60
    )
    return result.returncode, (result.stdout + result.stderr).strip()
