"""The QEMU command line for `ouro vm` guests, and starting QEMU so it cannot outlive us.

Every guest is a q35 machine without default devices, display or network, booted
directly from a kernel (and initrd), with its serial console on QEMU's stdout. Disks are
passed as already-open file descriptors (`/dev/fd/N`), so their files can be deleted
before QEMU even starts (vm/run.py).
"""

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vm.proc import die_with_parent, tool_path

QEMU = "qemu-system-x86_64"
ACCELERATORS = ("kvm", "tcg")


@dataclass(frozen=True)
class Disk:
    fd: int
    format: str
    serial: str
    readonly: bool = False


@dataclass(frozen=True)
class Machine:
    kernel: Path
    append: str
    accel: str
    initrd: Path | None = None
    memory_mib: int = 512
    cpus: int = 1
    disks: Sequence[Disk] = field(default_factory=tuple)


def argv(machine: Machine) -> list[str]:
    if machine.accel not in ACCELERATORS:
        raise ValueError(f"accelerator {machine.accel!r}: expected kvm or tcg")
    command = [
        tool_path(QEMU),
        "-name",
        "ouro-vm",
        "-machine",
        "q35",
        "-accel",
        machine.accel,
        "-m",
        str(machine.memory_mib),
        "-smp",
        str(machine.cpus),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-nic",
        "none",
        # A reboot means the guest is done (panic=-1 turns a panic into one): exit.
        "-no-reboot",
        # stdin is /dev/null; signal=off keeps a ^C meant for us from reaching the guest.
        "-chardev",
        "stdio,id=console,signal=off",
        "-serial",
        "chardev:console",
        "-kernel",
        str(machine.kernel),
        "-append",
        machine.append,
    ]
    if machine.accel == "kvm":
        command[command.index("-m") : command.index("-m")] = ["-cpu", "host"]
    if machine.initrd is not None:
        command += ["-initrd", str(machine.initrd)]
    for number, disk in enumerate(machine.disks):
        options = [
            f"file=/dev/fd/{disk.fd}",
            f"format={disk.format}",
            "if=none",
            f"id=disk{number}",
            # Every disk is throw-away or read back by us on this host: flushes to the
            # host's disk buy nothing, and a guest's many fsyncs would cost.
            "cache=unsafe",
        ]
        if disk.readonly:
            options.append("readonly=on")
        command += [
            "-drive",
            ",".join(options),
            "-device",
            f"virtio-blk-pci,drive=disk{number},serial={disk.serial}",
        ]
    return command


def start(command: Sequence[str], pass_fds: Sequence[int] = ()) -> "subprocess.Popen[bytes]":
    """QEMU with its console (stdout) and messages (stderr) on pipes.

    It gets SIGKILL from the kernel if we die, and its own session, so a ^C in a terminal
    reaches only us: we decide how the guest ends.
    """
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=tuple(pass_fds),
        start_new_session=True,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 (callers start QEMU from a thread that waits for it)
    )


def kill(process: "subprocess.Popen[bytes]") -> None:
    """SIGKILL: a guest's state is throw-away, and a QEMU paused by an error ignores less."""
    if process.poll() is None:
        process.kill()
    process.wait()
