"""Child processes that cannot outlive `ouro vm`, and tools run with argv lists only."""

import ctypes
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence

from vm.errors import VmError

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A `preexec_fn` that has the kernel send `signum` to the child when we die.

    This holds even when we are SIGKILLed and no Python code runs. The kernel ties it to
    the thread that forked: start such children from a thread that outlives them.
    """
    parent = os.getpid()

    def preexec() -> None:
        if _libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
            os._exit(126)
        # We may have died between fork and prctl; then nobody would ever signal the child.
        if os.getppid() != parent:
            os._exit(126)

    return preexec


def require(*tools: str) -> None:
    """Fail with one line naming the first missing tool and its Debian package."""
    packages = {
        "qemu-system-x86_64": "qemu-system-x86",
        "qemu-img": "qemu-utils",
        "mmdebstrap": "mmdebstrap",
        "mkfs.ext4": "e2fsprogs",
    }
    for tool in tools:
        if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin:/sbin") is None:
            raise VmError(f"{tool} is not installed (apt-get install {packages.get(tool, tool)})")


def tool_path(tool: str) -> str:
    """`tool` on PATH, else in /usr/sbin (mkfs.ext4 lives there, off a normal user's PATH)."""
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin") or tool


def run_tool(argv: Sequence[str], what: str, *, timeout: float = 600) -> str:
    """Run a tool to completion; its stdout, or `VmError` with the last line it complained."""
    try:
        result = subprocess.run(
            [tool_path(argv[0]), *argv[1:]],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            preexec_fn=die_with_parent(),
        )
    except subprocess.TimeoutExpired:
        raise VmError(f"{what}: no answer within {timeout:.0f} s") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else f"exit code {result.returncode}"
        raise VmError(f"{what} failed: {detail}")
    return result.stdout
