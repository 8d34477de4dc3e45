"""The guard between a worker and its job's processes: the job must not outlive the worker.

    python -I -S guard.py WORKER_PID direct -- COMMAND...
    python -I -S guard.py WORKER_PID podman PODMAN CONTAINER -- COMMAND...

The worker starts this script as the job's first process (`tasks.worker.orphans`), with
`PR_SET_PDEATHSIG` set to SIGHUP in between fork and exec: when the worker dies, even by
SIGKILL, the kernel sends the guard SIGHUP, and the guard kills the job — the whole
process group in direct mode (the guard leads it), the container in podman mode (`podman
run` is only a client: killing it would leave the container running). Otherwise the
guard waits for the command and ends as it ended: same exit code, or killed by the same
signal, so the worker sees no difference.

A script run by path with the standard library only: it starts in milliseconds and
imports nothing of the worker's (`-I`: nor anything from the job's environment).
"""

import contextlib
import os
import signal
import sys
from types import FrameType

# What a shell answers for a command it cannot run.
CANNOT_RUN = 127
# How long the guard tries to remove a container before it gives up (and `ouro worker`'s
# reaper at its next start is left to do it).
PODMAN_DEADLINE = 120.0
# Dispositions the job gets back as a shell would give them, not as Python set them.
DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)


class WorkerGone(Exception):
    """SIGHUP: the worker that started the guard has died."""


def _worker_gone(_signum: int, _frame: FrameType | None) -> None:
    # The death signal comes once per thread of the dying worker (its children are handed
    # from thread to thread as each exits): the first is enough, and the cleanup must not
    # be interrupted by the next.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    raise WorkerGone


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """A handler rather than SIG_IGN: ignored signals stay ignored across exec, and the
    job must get SIGTERM and SIGINT as usual."""


def remove_container(podman: str, container: str, child: int | None) -> None:
    """Remove the container until `podman run` (the child) has ended with it: a removal
    while the container is still starting can fail, and the start then goes on."""
    # Only here: the modules cost milliseconds that every job's start would pay.
    import subprocess  # noqa: PLC0415
    import time  # noqa: PLC0415

    deadline = time.monotonic() + PODMAN_DEADLINE
    while time.monotonic() < deadline:
        # Bounded: a hung podman must not keep the guard alive for ever.
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                [podman, "rm", "--force", "--time", "0", container],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
                check=False,
            )
        if child is None:
            # Spawned or not, nobody knows: the container's absence has to do.
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                exists = [podman, "container", "exists", container]
                if subprocess.run(exists, timeout=60, check=False).returncode == 1:
                    return
        else:
            try:
                if os.waitpid(child, os.WNOHANG)[0] != 0:
                    return
            except ChildProcessError:
                return
        time.sleep(0.5)


def main(argv: list[str]) -> int:
    try:
        split = argv.index("--")
        worker, mode, *rest = argv[1:split]
        command = argv[split + 1 :]
        parent = int(worker)
    except ValueError:
        print("usage: guard.py WORKER_PID direct|podman [PODMAN CONTAINER] -- COMMAND...")
        return 2
    signal.signal(signal.SIGHUP, _worker_gone)
    # The worker stops a job by signalling its group (or the container): the guard stays
    # to report how the command ended.
    signal.signal(signal.SIGTERM, _ignore)
    signal.signal(signal.SIGINT, _ignore)
    child = None
    try:
        if os.getppid() != parent:
            # The worker died before the death signal was armed: nothing must start.
            return 1
        try:
            # posix_spawn reports a failed exec here, in the guard, as an OSError.
            child = os.posix_spawnp(command[0], command, os.environ, setsigdef=DEFAULT_SIGNALS)
        except OSError as error:
            # Into the job's log, where the worker's own check (`runner.check_runnable`)
            # would have said the same had the file not changed since.
            print(f"Cannot run {command[0]:.60}: {error.strerror}", flush=True)
            return CANNOT_RUN
        _, status = os.waitpid(child, 0)
    except WorkerGone:
        # Outside the handler: nothing interrupts the cleanup (SIGHUP is ignored now).
        if mode == "podman":
            # In podman mode the guard leads no group of its own: only its child goes.
            remove_container(rest[0], rest[1], child)
        else:
            os.killpg(0, signal.SIGKILL)
        return 1
    return end_as(os.waitstatus_to_exitcode(status))


def end_as(code: int) -> int:
    """The exit code that ends the guard as the command ended (negative: its signal)."""
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        # A signal whose default is to be ignored (SIGCHLD, SIGWINCH…) did not end us.
        code = 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
