"""`ouro vm run`: one command in a throw-away VM, its console streamed, its exit code returned.

The base image is never written: QEMU runs on a fresh qcow2 overlay. The overlay, the
job disk and the result disk are created in a temporary folder, opened, and deleted
again before QEMU starts; QEMU gets them as open file descriptors (`/dev/fd/N`). So when
the run ends in any way, even by SIGKILL, the kernel frees them with the last descriptor,
and QEMU itself gets SIGKILL from the kernel when we die (vm/proc.py). A folder left by a
run killed in the moments before QEMU started is removed by the next run (`_sweep`).
"""

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vm import guest, qemu
from vm.errors import VmError
from vm.imagefiles import ImageFiles
from vm.proc import require, run_tool
from vm.supervise import Outcome, supervise

log = logging.getLogger(__name__)

EXIT_TIMEOUT = 124
EXIT_VM_FAILED = 125
EXIT_CANCELLED = 143
TMPDIR_VARIABLE = "OURO_VM_TMPDIR"
RESULT_DISK_SIZE = 64 << 20
PREFIX = "ouro-vm-run-"
STALE_AFTER = 60
# Kernel command line: the root overlay is the first virtio disk; quiet keeps the
# kernel's messages out of the job's log unless something goes wrong.
APPEND = f"root=/dev/vda rw console=ttyS0 panic=-1 quiet init={guest.INIT_PATH}"


@dataclass(frozen=True)
class RunSpec:
    image: ImageFiles
    argv: Sequence[str]
    accel: str = "tcg"
    memory_mib: int = 512
    cpus: int = 1
    timeout: float = 3600
    copy_in: Path | None = None
    copy_out: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    result_size: int = RESULT_DISK_SIZE


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    # "exited" (the command's code), "timeout", "cancelled" or "failed" (no result).
    how: str
    # The whole run, and QEMU's part of it: the rest is our overhead.
    seconds: float
    qemu_seconds: float


def work_dir() -> Path:
    """Where overlays grow: `OURO_VM_TMPDIR`, else the usual temporary folder."""
    return Path(os.environ.get(TMPDIR_VARIABLE) or tempfile.gettempdir())


def run(
    spec: RunSpec,
    *,
    console: Callable[[str], None],
    stop: threading.Event | None = None,
) -> RunResult:
    """Boot, run, collect; QEMU is gone and nothing is left on disk when this returns."""
    require(qemu.QEMU, "qemu-img")
    spec.image.check()
    if not 64 <= spec.memory_mib <= 1 << 20 or not 1 <= spec.cpus <= 256:
        raise VmError("--memory must be 64..1048576 MiB and --cpus 1..256")
    started = time.monotonic()
    if stop is not None and stop.is_set():
        return RunResult(EXIT_CANCELLED, "cancelled", 0.0, 0.0)
    with _disks(spec) as (root, job, result):
        machine = qemu.Machine(
            kernel=spec.image.kernel,
            initrd=spec.image.initrd,
            append=APPEND,
            accel=spec.accel,
            memory_mib=spec.memory_mib,
            cpus=spec.cpus,
            disks=(
                qemu.Disk(root, "qcow2", guest.ROOT_SERIAL),
                qemu.Disk(job, "raw", guest.JOB_SERIAL, readonly=True),
                qemu.Disk(result, "raw", guest.RESULT_SERIAL),
            ),
        )
        log.info(
            "booting %s under %s (%d MiB, %d vCPU, timeout %g s): %s",
            spec.image.qcow2.name,
            spec.accel,
            spec.memory_mib,
            spec.cpus,
            spec.timeout,
            " ".join(spec.argv)[:200],
        )
        qemu_started = time.monotonic()
        try:
            process = qemu.start(qemu.argv(machine), pass_fds=(root, job, result))
        except OSError as error:
            raise VmError(f"cannot start {qemu.QEMU}: {error.strerror}") from None
        outcome = supervise(
            process,
            timeout=spec.timeout,
            on_console=console,
            on_message=lambda line: log.warning("qemu: %s", line),
            stop=stop,
        )
        qemu_seconds = time.monotonic() - qemu_started
        code, how = _verdict(outcome, spec, result)
    seconds = time.monotonic() - started
    if how == "exited":
        log.info("exit code %d after %.2f s (QEMU ran %.2f s)", code, seconds, qemu_seconds)
    return RunResult(code, how, seconds, qemu_seconds)


def _verdict(outcome: Outcome, spec: RunSpec, result: int) -> tuple[int, str]:
    """The exit code and how the run ended, logged unless the command's own code."""
    if outcome.kind == "timeout":
        log.error("timeout: no result after %g s; QEMU killed", spec.timeout)
        return EXIT_TIMEOUT, "timeout"
    if outcome.kind == "stopped":
        log.warning("cancelled; QEMU killed")
        return EXIT_CANCELLED, "cancelled"
    if outcome.kind == "fatal":
        log.error("QEMU stopped the guest (%s); QEMU killed", outcome.detail)
        return EXIT_VM_FAILED, "failed"
    with os.fdopen(os.dup(result), "rb") as disk:
        code = guest.read_result(disk, spec.copy_out)
    if code is None:
        log.error(
            "the guest stopped without a result (QEMU exit code %s); see its console above",
            outcome.returncode,
        )
        return EXIT_VM_FAILED, "failed"
    return code, "exited"


@contextlib.contextmanager
def _disks(spec: RunSpec) -> Iterator[tuple[int, int, int]]:
    """Open descriptors of the root overlay, the job disk and the result disk, whose
    files are already deleted; closed (and so freed) when the block ends."""
    parent = work_dir()
    _sweep(parent)
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    fds: list[int] = []
    try:
        # Held while the folder exists: the next run's sweep knows we are alive.
        lock = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fds.append(lock)
        fcntl.flock(lock, fcntl.LOCK_EX)
        overlay = folder / "root.qcow2"
        base = str(spec.image.qcow2.resolve())
        run_tool(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", str(overlay)],
            "qemu-img create (the overlay)",
        )
        fds.append(os.open(overlay, os.O_RDWR | os.O_CLOEXEC))
        job = folder / "job.tar"
        with job.open("wb") as file:
            guest.write_job(file, spec.argv, spec.env, spec.copy_in)
        fds.append(os.open(job, os.O_RDONLY | os.O_CLOEXEC))
        result = os.open(folder / "result.raw", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fds.append(result)
        os.ftruncate(result, spec.result_size)
        shutil.rmtree(folder)
        yield fds[1], fds[2], fds[3]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for fd in fds:
            os.close(fd)


def _sweep(parent: Path) -> None:
    """Remove folders of runs that died before they could: older than a minute (a live
    run deletes its folder within moments) and with a free lock (its owner is gone)."""
    for folder in parent.glob(PREFIX + "*"):
        try:
            if time.time() - folder.stat().st_mtime < STALE_AFTER:
                continue
            lock = os.open(folder / ".lock", os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            # Gone meanwhile, or killed before it made its lock.
            shutil.rmtree(folder, ignore_errors=True)
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue
        else:
            shutil.rmtree(folder, ignore_errors=True)
            log.info("removed %s, left by a run that was killed", folder)
        finally:
            os.close(lock)
