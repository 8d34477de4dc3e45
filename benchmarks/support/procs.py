"""The processes a benchmark measures: started with their output in a log, waited for until
they answer, and their CPU time read from `/proc`."""

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests


def cpu_seconds(pid: int) -> float:
    """User and system CPU time so far of process `pid`, all its threads."""
    return _cpu_ticks(_stat(Path(f"/proc/{pid}/stat"))) / os.sysconf("SC_CLK_TCK")


def session_cpu_seconds(session: int) -> float:
    """The same, summed over the processes of session `session` (one started with
    `start_new_session`, and whatever it started, such as the broker's Erlang helpers)."""
    ticks = 0
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat(path)
        except OSError:
            continue  # ended meanwhile
        if int(fields[3]) == session:
            ticks += _cpu_ticks(fields)
    return ticks / os.sysconf("SC_CLK_TCK")


def _stat(path: Path) -> list[str]:
    # The fields after the command, which may hold spaces and parentheses: state ppid pgrp
    # session … utime (index 11) stime (12), in clock ticks.
    return path.read_text().rsplit(")", 1)[1].split()


def _cpu_ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])


def wait_ready(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    """Until `url` answers 200; exits the benchmark if `process` ends or a minute passes."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not become ready")


@contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` running, its output in `log`; terminated (killed after 30 s) on leaving."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
