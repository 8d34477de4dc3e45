"""What the local deployment needs of this host: its tools, its address, bounded waits."""

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from ouro.config import ConfigError
from ouro.deploy.progress import say

APT_PACKAGES = {
    "podman": "podman",
    "runc": "runc",
    # podman's pause image and `--init` need it; it is only a Recommends of podman.
    "catatonit": "catatonit",
    "debootstrap": "debootstrap",
    "openssl": "openssl",
    # The sample's VM image is built on the host (ouro vm build).
    "mmdebstrap": "mmdebstrap",
    "qemu-img": "qemu-utils",
    "mkfs.ext4": "e2fsprogs",
}
KVM = Path("/dev/kvm")


def wait_for(check: Callable[[], bool], what: str, timeout: float, interval: float = 0.5) -> None:
    """Poll `check` until true; a bounded wait that names what never became ready."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(interval)


def http_answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - our URL
                return int(response.status) < 500
        except urllib.error.HTTPError as error:
            return error.code < 500
        except OSError:
            return False

    return check


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def free_port() -> int:
    """A TCP port free on this host now (the kernel's choice), for a service to publish."""
    with socket.socket() as s:
        s.bind(("", 0))
        port: int = s.getsockname()[1]
    return port


def host_address() -> str:
    """An address of this host that the pods, the job containers and the host itself all
    reach: `OURO_HOST_ADDRESS`, else the source address of the default route. (Podman's
    bridge gateways are not enough: where a transparent proxy handles the host's own
    traffic, connections from the host to them never reach the pods.)"""
    if os.environ.get("OURO_HOST_ADDRESS"):
        return os.environ["OURO_HOST_ADDRESS"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            # UDP connect sends nothing; it only picks the route and thus the address.
            s.connect(("198.51.100.1", 9))
            address: str = s.getsockname()[0]
        except OSError:
            raise ConfigError(
                "no default route: set OURO_HOST_ADDRESS to this host's address"
            ) from None
    return address


def check_prerequisites() -> None:
    """Install what is missing with apt-get where we can (root on Debian), else say what."""
    missing = [tool for tool in APT_PACKAGES if not shutil.which(tool)]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        packages = [APT_PACKAGES[t] for t in missing]
        say(f"installing {' '.join(packages)} with apt-get")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], check=True
        )
        return
    names = " ".join(APT_PACKAGES[t] for t in missing)
    raise ConfigError(f"missing {', '.join(missing)}: install them, e.g. apt-get install {names}")
