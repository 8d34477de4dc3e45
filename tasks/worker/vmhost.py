"""What this host offers VM jobs: KVM decided by a probe boot, the shared image cache, and
the images-server's address (docs/vm.md, "On a worker").

A `/dev/kvm` that exists proves nothing: a nested or software-emulated KVM makes QEMU
abort, or hang paused after an internal error, with a real guest. So a worker configured
with the `kvm` capability runs `ouro vm probe` once at start — in a job container given the
device, or directly in direct mode — and serves `tasks.kvm` only when that boot succeeded.
Either way it serves `tasks.vm` (QEMU under TCG runs anywhere) and tells its jobs which
accelerator to use, so no job probes again.
"""

import dataclasses
import logging
import subprocess
import sys
from pathlib import Path

from tasks.worker.config import WorkerConfig

log = logging.getLogger(__name__)

KVM = Path("/dev/kvm")
VM_CAPABILITIES = ("kvm", "vm")
# Where a job finds the host's image cache (the same folder in direct mode).
CACHE_IN_JOB = "/var/cache/ouro-images"
# The probe itself is bounded to a few seconds; starting its container may take longer.
PROBE_TIMEOUT = 60.0


def probe_command(config: WorkerConfig) -> list[str]:
    probe = ["ouro", "vm", "probe"]
    if config.mode == "direct":
        return [sys.executable, "-m", *probe]
    return [
        config.podman, "run", "--rm", "--init", "--device", str(KVM),
        *config.podman_args, config.vm_image, *probe,
    ]  # fmt: skip


def probe_kvm(config: WorkerConfig, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Whether a guest boots under KVM here, and why (the probe's last line)."""
    if not KVM.exists():
        return False, f"no {KVM} on this host"
    if config.mode == "podman" and not config.vm_image:
        return False, "OURO_WORKER_VM_IMAGE is not set: no image to run the probe in"
    try:
        done = subprocess.run(
            probe_command(config),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"the probe did not finish within {timeout:.0f} s"
    except OSError as error:
        return False, f"the probe could not start: {error.strerror}"
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    reason = lines[-1].strip() if lines else f"the probe exited with {done.returncode}"
    return done.returncode == 0, reason[:300]


def settle(config: WorkerConfig) -> WorkerConfig:
    """The worker's configuration once the probe has spoken: `kvm` dropped unless a guest
    booted under KVM, `vm` served by every worker that asked for either, and the
    accelerator its jobs use."""
    if not set(VM_CAPABILITIES) & set(config.capabilities):
        return config
    if "kvm" in config.capabilities:
        usable, reason = probe_kvm(config)
        if usable:
            log.info("KVM probe: usable (%s); serving kvm and vm jobs", reason)
        else:
            log.warning("KVM probe: not usable (%s); not serving kvm jobs, vm jobs use TCG", reason)
    else:
        usable = False
        log.info("kvm is not among this worker's capabilities: vm jobs use TCG")
    wanted = [c for c in config.capabilities if c != "kvm" or usable]
    capabilities = tuple(dict.fromkeys([*wanted, "vm"]))
    return dataclasses.replace(
        config, capabilities=capabilities, vm_accel="kvm" if usable else "tcg"
    )


def job_environment(config: WorkerConfig, cache: str) -> dict[str, str]:
    """What every job of this worker is told about the host; `cache` is where the image
    cache appears to the job."""
    env = {"IMAGES_SERVER_URL": config.images_url} if config.images_url else {}
    if config.vm_accel:
        env["OURO_VM_ACCEL"] = config.vm_accel
    if config.image_cache is not None:
        env["OURO_VM_CACHE"] = cache
    return env
