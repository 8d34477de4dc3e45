"""Jobs never outlive their worker (docs/worker.md, "A worker that dies").

Two mechanisms, because a worker can die in two ways:

- **While it runs a job** (SIGKILL, OOM, a crash): every job runs under `guard.py`, started
  with `PR_SET_PDEATHSIG` (SIGHUP) from a `preexec_fn`; the kernel tells the guard the
  moment its worker is gone, and the guard kills the job's process group (direct mode) or
  removes its container (podman mode). Otherwise the broker would redeliver the job to
  another worker while the first run went on: the same job twice at once.
- **Together with the guard** (the host rebooted the service's cgroup, someone killed
  both): at start, `reap` kills what a dead predecessor of the same name left — processes
  whose environment carries its lease (`OURO_WORKER_LEASE`), containers labelled with it.

A lease is `name:pid:start` of the worker process; it is dead when no process with that
pid and start time exists. The start time tells a restarted worker from its predecessor
when both got the same pid (pid 1 in a container), and the pid tells apart two live
workers that share a name (the default name is the host's, and a host may run several).
"""

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tasks.worker.config import WorkerConfig

log = logging.getLogger(__name__)

LEASE_VARIABLE = "OURO_WORKER_LEASE"
NAME_LABEL = "ouro.worker"
LEASE_LABEL = "ouro.lease"
GUARD = Path(__file__).with_name("guard.py")
PR_SET_PDEATHSIG = 1
PROC = Path("/proc")
PODMAN_TIMEOUT = 60.0

# Looked up once here, not in the forked child: between fork and exec only async-signal-
# safe work is safe in a threaded process, and loading a library is not.
_prctl: Callable[..., int] | None = None
with contextlib.suppress(OSError, AttributeError):
    _prctl = ctypes.CDLL(None, use_errno=True).prctl


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), or None if there is none."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def lease(name: str) -> str:
    """This worker process's lease."""
    pid = os.getpid()
    return f"{name}:{pid}:{_start_time(pid) or 0}"


def is_dead(found: str, name: str) -> bool:
    """Whether `found` is the lease of a worker named `name` that no longer runs."""
    # Worker names cannot hold a colon (WorkerConfig checks them).
    parts = found.split(":")
    if len(parts) != 3 or parts[0] != name or not parts[1].isdigit():
        return False
    return _start_time(int(parts[1])) != parts[2]


def die_with_worker() -> None:
    """`preexec_fn` of the guard: SIGHUP when the worker thread that forked it ends, which
    is the worker's death (that thread waits for the job)."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGHUP, 0, 0, 0)


def guarded(command: list[str], *, podman: tuple[str, str] | None = None) -> list[str]:
    """`command` run under the guard; `podman`: (podman binary, container name)."""
    mode = ["podman", *podman] if podman else ["direct"]
    return [sys.executable, "-I", "-S", str(GUARD), str(os.getpid()), *mode, "--", *command]


def reap(config: WorkerConfig) -> int:
    """Kill what dead predecessors named like this worker left running; how many."""
    if config.mode == "direct":
        return _reap_processes(config.name)
    return _reap_containers(config)


def _environ_lease(pid: str) -> str | None:
    try:
        environ = (PROC / pid / "environ").read_bytes()
    except OSError:
        # Gone, or another user's: not ours to reap.
        return None
    prefix = f"{LEASE_VARIABLE}=".encode()
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def _reap_processes(name: str) -> int:
    killed = 0
    # Again until none is left: a job may fork while its siblings are being killed.
    for _ in range(5):
        found = [
            int(entry.name)
            for entry in PROC.iterdir()
            if entry.name.isdigit()
            and (held := _environ_lease(entry.name)) is not None
            and is_dead(held, name)
        ]
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    if killed:
        log.warning("worker %s: killed %d process(es) a dead predecessor left", name, killed)
    return killed


def _podman(config: WorkerConfig, *args: str) -> str:
    try:
        result = subprocess.run(
            [config.podman, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PODMAN_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        log.error("podman %s failed: %r", args[0], error)
        return ""
    if result.returncode != 0:
        log.error("podman %s failed: %s", args[0], result.stderr.strip()[:300])
    return result.stdout


def _reap_containers(config: WorkerConfig) -> int:
    listing = _podman(
        config,
        "ps",
        "--all",
        "--filter",
        f"label={NAME_LABEL}={config.name}",
        "--format",
        f'{{{{.ID}}}} {{{{index .Labels "{LEASE_LABEL}"}}}}',
    )
    stale = [
        parts[0]
        for line in listing.splitlines()
        if len(parts := line.split()) == 2 and is_dead(parts[1], config.name)
    ]
    if stale:
        _podman(config, "rm", "--force", "--time", "0", *stale)
        log.warning(
            "worker %s: removed %d container(s) a dead predecessor left: %s",
            config.name,
            len(stale),
            " ".join(stale),
        )
    return len(stale)
