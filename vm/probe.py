"""Does KVM work here? A bounded boot says; the presence of /dev/kvm proves nothing.

The probe boots a kernel alone under `-accel kvm -cpu host` with no root file system.
Under working KVM it reaches "Kernel panic … VFS: Unable to mount root fs" in well under
a second (`panic=-1` then reboots, and `-no-reboot` ends QEMU): the CPU ran a whole
64-bit kernel. Broken nested virtualisation either aborts QEMU at once ("failed to set
MSR"), or stops the guest with a KVM internal error and leaves QEMU paused, or makes no
progress; all three are a "no" within `timeout`. No device or no permission is a "no"
without starting anything.
"""

import glob
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ouro.config import ConfigError
from vm import qemu
from vm.supervise import supervise

log = logging.getLogger(__name__)

DEVICE = "/dev/kvm"
TIMEOUT = 3.0
PANIC = "Kernel panic"
ACCEL_VARIABLE = "OURO_VM_ACCEL"


@dataclass(frozen=True)
class ProbeResult:
    usable: bool
    reason: str
    seconds: float

    def __str__(self) -> str:
        return f"{'yes' if self.usable else 'no'}: {self.reason} ({self.seconds:.2f} s)"


def host_kernel() -> Path | None:
    """The newest readable kernel in the host's /boot, for probing without an image."""
    for candidate in sorted(glob.glob("/boot/vmlinuz-*"), reverse=True):
        if os.access(candidate, os.R_OK):
            return Path(candidate)
    return None


def probe(
    kernel: Path | None, *, timeout: float = TIMEOUT, device: str = DEVICE, accel: str = "kvm"
) -> ProbeResult:
    """Whether a kernel boots under `accel` (kvm; tcg only to test the probe itself)."""
    started = time.monotonic()

    def no(reason: str) -> ProbeResult:
        return ProbeResult(False, reason, time.monotonic() - started)

    missing = _missing(kernel, device, accel)
    if missing or kernel is None:
        return no(missing)
    machine = qemu.Machine(
        kernel=kernel, append="console=ttyS0 panic=-1 quiet", accel=accel, memory_mib=128
    )
    console: list[str] = []
    messages: list[str] = []
    try:
        process = qemu.start(qemu.argv(machine))
    except OSError as error:
        return no(f"cannot start {qemu.QEMU}: {error.strerror}")
    outcome = supervise(
        process, timeout=timeout, on_console=console.append, on_message=messages.append
    )
    if outcome.kind == "exited" and any(PANIC in line for line in console):
        return ProbeResult(True, f"a kernel booted under {accel}", time.monotonic() - started)
    said = _first_error(messages) or outcome.detail
    if outcome.kind == "fatal":
        return no(f"QEMU stopped the guest: {said}")
    if outcome.kind == "timeout":
        return no(f"no kernel panic within {timeout:g} s" + (f" ({said})" if said else ""))
    return no(f"QEMU exited with {outcome.returncode}" + (f": {said}" if said else ""))


def _missing(kernel: Path | None, device: str, accel: str) -> str:
    """Why a probe cannot even start, or ""."""
    if accel == "kvm":
        if not os.path.exists(device):
            return f"{device} does not exist"
        if not os.access(device, os.R_OK | os.W_OK):
            return f"no permission to open {device} read-write (the kvm group?)"
    if kernel is None:
        return "no kernel to boot (give --kernel, or install one in /boot)"
    if not os.access(kernel, os.R_OK):
        return f"cannot read the kernel {kernel}"
    if shutil.which(qemu.QEMU) is None:
        return f"{qemu.QEMU} is not installed"
    return ""


def _first_error(messages: list[str]) -> str:
    lines = [line.strip() for line in messages if line.strip()]
    for line in lines:
        if "error" in line.lower():
            return line[:200]
    return lines[-1][:200] if lines else ""


def choose_accelerator(kernel: Path | None) -> tuple[str, str]:
    """`kvm` or `tcg` for a run, and why: `OURO_VM_ACCEL` if set, else a probe."""
    forced = os.environ.get(ACCEL_VARIABLE, "").strip()
    if forced:
        if forced not in qemu.ACCELERATORS:
            raise ConfigError(f"{ACCEL_VARIABLE} must be kvm or tcg, not {forced!r:.20}")
        return forced, f"{ACCEL_VARIABLE}={forced}"
    result = probe(kernel)
    return ("kvm" if result.usable else "tcg"), f"KVM probe: {result}"
