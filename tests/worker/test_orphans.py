"""Jobs never outlive their worker: a real `ouro worker` process is SIGKILLed mid-job, in
direct and in container mode, against a real RabbitMQ, mock-github and images-server.

Before (issue 15), the job's process group (direct mode) or its container went on running
after the worker's death, next to the run of the redelivered job on another worker. Now
the guard kills it within a second or two; and when the guard died too, the next worker of
the same name kills what was left at its start.
"""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ouro import queues
from tests.rabbitmq import drain
from tests.waiting import wait_until
from tests.worker import test_acceptance
from tests.worker.helpers import queue_depth
from tests.worker.test_acceptance import Stack, containers

# The acceptance tests' fixture: worker processes with a real broker, GitHub and store.
stack = test_acceptance.stack

pytestmark = pytest.mark.faults


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie has ended; it only waits for a parent to collect it.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def guard_of(worker: int) -> int:
    """The pid of the guard the worker runs its job under."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if ppid == worker and b"guard.py" in cmdline:
            return int(entry.name)
    raise AssertionError(f"worker {worker} runs no guard")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_worker_and_guard(worker: "subprocess.Popen[bytes]") -> None:
    """All at once, as a crashed host or cgroup would: the guard cannot act."""
    guard = guard_of(worker.pid)
    # In podman mode: the `podman run` client too, which could still stop its container.
    clients = [
        pid for pid in children(guard) if b"podman" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    # Stopped, the worker cannot notice its child's death and clean up after it.
    os.kill(worker.pid, signal.SIGSTOP)
    os.kill(guard, signal.SIGKILL)
    for pid in clients:
        os.kill(pid, signal.SIGKILL)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()


@pytest.fixture
def pid_file(tmp_path: Path) -> Iterator[Path]:
    """Where the job writes its processes' pids; any still running are killed at the end."""
    path = tmp_path / "pids"
    yield path
    if path.exists():
        for pid in path.read_text().split():
            if alive(int(pid)):
                os.kill(int(pid), signal.SIGKILL)


def background_job(pids: Path) -> list[str]:
    # The shell and a background child: a group of processes, as real jobs have.
    return ["sh", "-c", f"echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; wait"]


def pids_of_run(pids: Path, run: int) -> list[int]:
    wait_until(
        lambda: pids.exists() and len(pids.read_text().split()) >= 2 * run,
        f"run {run}'s processes",
    )
    return [int(p) for p in pids.read_text().split()[2 * run - 2 : 2 * run]]


def test_direct_job_dies_with_its_sigkilled_worker_and_runs_once(
    stack: Stack, pid_file: Path
) -> None:
    first = stack.worker("wa", "--direct")
    job = stack.job(command=background_job(pid_file), timeout=600, secrets=[])
    first_run = pids_of_run(pid_file, 1)
    first.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    first.wait()
    wait_until(lambda: not any(map(alive, first_run)), "the first run to end", timeout=15)
    gone = time.monotonic() - killed
    stack.worker("wb", "--direct")
    second_run = pids_of_run(pid_file, 2)
    assert all(map(alive, second_run))
    assert not any(map(alive, first_run))
    assert stack.statuses(job)[-1][1] == "In progress [wb]"
    print(f"\ndirect: the job's processes ended {gone:.2f} s after its worker's SIGKILL")


def test_direct_leftovers_of_a_dead_worker_are_killed_at_its_successors_start(
    stack: Stack, pid_file: Path
) -> None:
    worker = stack.worker("wa", "--direct")
    stack.job(command=background_job(pid_file), timeout=600, secrets=[])
    left = pids_of_run(pid_file, 1)
    kill_worker_and_guard(worker)
    time.sleep(1)
    # Without the guard nothing stopped them.
    assert all(map(alive, left))
    # Not redelivered to the successor: only its start-up reaper may end them.
    wait_until(lambda: queue_depth(stack.rabbitmq, queues.TASKS) == (1, 0), "the requeue")
    drain(stack.rabbitmq.url, queues.TASKS)
    started = time.monotonic()
    stack.worker("wa", "--direct")
    wait_until(lambda: not any(map(alive, left)), "the reaper", timeout=30)
    print(f"\ndirect: leftovers killed {time.monotonic() - started:.2f} s after the restart")
    wait_until(
        lambda: "process(es) a dead predecessor left" in (stack.logs / "wa.log").read_text(),
        "the reaper's log line",
    )


@pytest.fixture
def podman(stack: Stack, podman_env: dict[str, str]) -> None:
    if "CONTAINERS_CONF" in podman_env:
        stack.env["CONTAINERS_CONF"] = podman_env["CONTAINERS_CONF"]


@pytest.mark.usefixtures("podman")
def test_container_dies_with_its_sigkilled_worker(stack: Stack) -> None:
    worker = stack.worker("wa")
    job = stack.job(command=["sh", "-c", "echo started; sleep 300"], timeout=600)
    name = f"ouro-job-{job.id}"
    stack.started(job)
    wait_until(lambda: name in containers(stack), "the container")
    worker.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    worker.wait()
    wait_until(lambda: name not in containers(stack), "the container to go", timeout=120)
    print(f"\npodman: the job's container removed {time.monotonic() - killed:.2f} s after SIGKILL")


@pytest.mark.usefixtures("podman")
def test_containers_of_a_dead_worker_are_removed_at_its_successors_start(stack: Stack) -> None:
    worker = stack.worker("wa")
    job = stack.job(command=["sh", "-c", "echo started; sleep 300"], timeout=600)
    name = f"ouro-job-{job.id}"
    stack.started(job)
    wait_until(lambda: name in containers(stack), "the container")
    kill_worker_and_guard(worker)
    time.sleep(1)
    assert name in containers(stack)
    wait_until(lambda: queue_depth(stack.rabbitmq, queues.TASKS) == (1, 0), "the requeue")
    drain(stack.rabbitmq.url, queues.TASKS)
    started = time.monotonic()
    stack.worker("wa")
    wait_until(lambda: name not in containers(stack), "the reaper", timeout=120)
    print(f"\npodman: leftover container removed {time.monotonic() - started:.2f} s after restart")
