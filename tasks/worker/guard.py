"""The guard between a worker and its job's processes: the job must not outlive the worker.

    python -I guard.py WORKER_PID direct -- COMMAND...
    python -I guard.py WORKER_PID podman PODMAN CONTAINER -- COMMAND...

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


class Guard:
    def __init__(self, mode: str, podman: str = "", container: str = ""):
        self.mode = mode
        self.podman = podman
        self.container = container
        self.child: int | None = None

    def kill_job(self, _signum: int, _frame: FrameType | None) -> None:
        """The worker died: nothing of the job may go on."""
        if self.mode == "podman":
            self._remove_container()
            # In podman mode the guard leads no group of its own: only its child goes.
            os._exit(1)
        os.killpg(0, signal.SIGKILL)

    def _remove_container(self) -> None:
        """Remove the container until `podman run` (the child) has ended with it: a removal
        while the container is still starting can fail, and the start then goes on."""
        # Only here: the modules cost milliseconds that every job's start would pay.
        import subprocess  # noqa: PLC0415
        import time  # noqa: PLC0415

        deadline = time.monotonic() + PODMAN_DEADLINE
        while self.child is not None and time.monotonic() < deadline:
            # Bounded: a hung podman must not keep the guard alive for ever.
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(
                    [self.podman, "rm", "--force", "--time", "0", self.container],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=60,
                    check=False,
                )
            try:
                ended = os.waitpid(self.child, os.WNOHANG)[0] != 0
            except ChildProcessError:
                ended = True
            if ended:
                return
            time.sleep(0.5)


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """A handler rather than SIG_IGN: ignored signals stay ignored across exec, and the
    job must get SIGTERM and SIGINT as usual."""


def main(argv: list[str]) -> int:
    try:
        split = argv.index("--")
        worker, mode, *rest = argv[1:split]
        command = argv[split + 1 :]
        parent = int(worker)
    except ValueError:
        print("usage: guard.py WORKER_PID direct|podman [PODMAN CONTAINER] -- COMMAND...")
        return 2
    guard = Guard(mode, *rest[:2])
    signal.signal(signal.SIGHUP, guard.kill_job)
    # The worker stops a job by signalling its group (or the container): the guard stays
    # to report how the command ended.
    signal.signal(signal.SIGTERM, _ignore)
    signal.signal(signal.SIGINT, _ignore)
    if os.getppid() != parent:
        # The worker died before the death signal was armed: nothing must start.
        return 1
    try:
        # posix_spawn reports a failed exec here, in the guard, as an OSError.
        guard.child = os.posix_spawnp(command[0], command, os.environ)
    except OSError as error:
        # Into the job's log, where the worker's own check (`runner.check_runnable`)
        # would have said the same had the file not changed since.
        print(f"Cannot run {command[0]:.60}: {error.strerror}", flush=True)
        return CANNOT_RUN
    # Retried after each signal handler (PEP 475); SIGHUP's handler does not return.
    _, status = os.waitpid(guard.child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return code
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
    # A signal whose default is to be ignored (SIGCHLD, SIGWINCH…) did not end us.
    return 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
