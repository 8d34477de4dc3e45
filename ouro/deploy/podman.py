"""Running podman from the project: the environment it needs here, and small wrappers.

Podman's defaults work on an ordinary host. Where they fail (crun on a cgroup
layout it rejects, default ulimits the host cannot grant; see docs/deployment.md)
the project supplies its own containers.conf through `CONTAINERS_CONF`, written
under `.local/`, and never edits /etc.
"""

import logging
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from ouro.config import ConfigError

log = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parents[2]
STATE = PROJECT / ".local"
CONTAINERS_CONF = STATE / "containers.conf"
CONTAINERS_CONF_TEXT = """\
# Written by ouro (ouro/podman.py) because podman's defaults failed on this host.
[containers]
# The host cannot raise resource limits (no CAP_SYS_RESOURCE).
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
# crun 1.8 refuses hybrid cgroup hierarchies; runc copes.
runtime = "runc"
"""
SOCKET = Path("/run/podman/podman.sock")

_env: dict[str, str] | None = None


def env() -> dict[str, str]:
    """The environment for podman commands; `probe` decides whether it names our config."""
    return dict(_env) if _env is not None else dict(os.environ)


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    capture: bool = True,
    input: bytes | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    cmd = ["podman", *args]
    log.debug("running %s", " ".join(cmd))
    result = subprocess.run(
        cmd,
        env=env(),
        capture_output=capture,
        text=input is None,
        input=input,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        stderr = (
            result.stderr if isinstance(result.stderr, str) else (result.stderr or b"").decode()
        )
        raise PodmanError(
            f"podman {' '.join(args[:3])} failed ({result.returncode}): {stderr.strip()}"
        )
    return result


class PodmanError(Exception):
    """A podman command failed; the message carries its stderr."""


def start_service(socket: Path, log_file: Path | None = None) -> "subprocess.Popen[bytes]":
    """Podman's Docker-compatible API on `socket`, a service of our own (for a deployment's
    job containers, or for act), returned once the socket is there; its stderr goes to
    `log_file` if given."""
    socket.unlink(missing_ok=True)
    with open(log_file or os.devnull, "ab") as log:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{socket}"],
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while not socket.exists():
        if service.poll() is not None or time.monotonic() > deadline:
            service.kill()
            raise PodmanError(f"podman system service did not open {socket}")
        time.sleep(0.1)
    return service


def image_exists(ref: str) -> bool:
    return run(["image", "exists", ref], check=False).returncode == 0


def _runs(image: str, environment: dict[str, str]) -> str | None:
    """None if a trivial container of `image` runs under `environment`, else podman's error."""
    result = subprocess.run(
        ["podman", "run", "--rm", "--network=none", image, "true"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    return None if result.returncode == 0 else result.stderr.strip()


def probe(image: str) -> None:
    """Pick podman's configuration: the defaults if a container of `image` runs with them,
    else the project's containers.conf (runc, lower ulimits), else a clear error."""
    global _env  # noqa: PLW0603 - one decision per process, shared by every podman call
    if _env is not None:
        return
    plain = dict(os.environ)
    if "CONTAINERS_CONF" in plain:
        # The user chose a configuration: respect it, and only report if it fails.
        failure = _runs(image, plain)
        if failure:
            raise ConfigError(f"podman cannot run containers with $CONTAINERS_CONF: {failure}")
        _env = plain
        return
    failure = _runs(image, plain)
    if failure is None:
        _env = plain
        return
    STATE.mkdir(exist_ok=True)
    CONTAINERS_CONF.write_text(CONTAINERS_CONF_TEXT)
    adjusted = {**plain, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    second = _runs(image, adjusted)
    if second:
        raise ConfigError(
            f"podman cannot run containers here: {failure}; with {CONTAINERS_CONF}: {second}"
        )
    log.info(
        "podman's defaults fail here (%s); using %s", failure.splitlines()[-1], CONTAINERS_CONF
    )
    _env = adjusted
