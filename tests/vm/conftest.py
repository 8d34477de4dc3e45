"""Fixtures for `ouro vm`: one small real image per session, and `python -m vm` as a process.

The image is built once (mmdebstrap from deb.debian.org, ~30-60 s) with the .debs kept in
a folder beside pytest's temporary folders, so later sessions download little. Tests that
need QEMU or mmdebstrap fail with the command that installs them where they are missing
(tests/tools.py).
"""

import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from ouro.store import file_sha256
from tests.tools import require_root, require_tool
from vm.build import build
from vm.imagefiles import ImageFiles

ROOT = Path(__file__).resolve().parents[2]

RECIPE = """\
suite: bookworm
setup:
  - echo "made by the recipe" > /etc/ouro-test
  - [sh, -c, "echo 'an argv, quoted: $x' > /etc/ouro-test-argv"]
size: 1G
"""


def require_qemu() -> None:
    require_tool("qemu-system-x86_64", "qemu-system-x86")
    require_tool("qemu-img", "qemu-utils")


def require_build_tools() -> None:
    require_qemu()
    require_tool("mmdebstrap", "mmdebstrap")
    require_tool("mkfs.ext4", "e2fsprogs", sbin=True)
    require_root("ouro vm build (mmdebstrap's root mode)")


@dataclass(frozen=True)
class BuiltImage:
    files: ImageFiles
    recipe: Path
    apt_cache: Path
    # Of the qcow2 right after the build: no run may change it.
    sha256: str
    build_seconds: float


@pytest.fixture(scope="session")
def vm_image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    require_build_tools()
    folder = tmp_path_factory.mktemp("vm-image")
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE)
    # Beside the numbered session folders, so it outlives them (pytest keeps only 3).
    apt_cache = tmp_path_factory.getbasetemp().parent / "ouro-vm-apt-cache"
    started = time.monotonic()
    files = build(recipe, folder / "test.qcow2", apt_cache=apt_cache)
    seconds = time.monotonic() - started
    return BuiltImage(files, recipe, apt_cache, file_sha256(files.qcow2), seconds)


def vm_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    # The probe's verdict on these machines is "no"; tests that need KVM say so themselves.
    env.setdefault("OURO_VM_ACCEL", "tcg")
    return env


def start_vm(*args: str, env: dict[str, str] | None = None) -> "subprocess.Popen[str]":
    """`python -m vm ARGS…` with its output (console on stdout, log on stderr) on pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "vm", *args],
        cwd=ROOT,
        env=env or vm_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def qemu_children(pid: int) -> list[int]:
    """The QEMU processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"qemu-system" in command:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Console:
    """The lines a `python -m vm run` process prints, read on a thread as they come."""

    def __init__(self, process: "subprocess.Popen[str]"):
        assert process.stdout is not None
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"{text!r} did not appear within {timeout} s: {self.seen}")
            self.seen.append(line)
            if text in line:
                return

    def finish(self, timeout: float = 30) -> str:
        """Wait for the process to end; what it logged (stderr). Closes its pipes."""
        assert self.process.stderr is not None
        assert self.process.stdout is not None
        self.process.wait(timeout)
        log = self.process.stderr.read()
        self.process.stderr.close()
        self._thread.join(timeout)
        self.process.stdout.close()
        return log


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """OURO_VM_TMPDIR for one run, to check afterwards that the run left nothing there."""
    folder = tmp_path / "vm-tmp"
    folder.mkdir()
    return folder
