"""Run a job's command: in a fresh podman container, or as a local process (direct mode).

Both stream the command's output (stdout and stderr, interleaved) to a callback, stop it
at its timeout or when the worker says so (cancel, drain), and leave nothing running:
the container is removed, the direct mode's process group killed. Both run the command
under the guard of `tasks.worker.orphans`, so that it dies with the worker too.
"""

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO, Protocol

from tasks.job import Job
from tasks.worker import orphans, vmhost
from tasks.worker.checkout import ChangeError
from tasks.worker.config import WorkerConfig

log = logging.getLogger(__name__)

Output = Callable[[bytes], None]

# Inside the container; the same names are used in direct mode with host paths.
SOURCE = "/source"
ATTACHMENTS = "/attachments"
SECRETS = "/run/secrets"
TOOLING = "/tooling"
# How long a stopped job gets between SIGTERM and SIGKILL.
STOP_GRACE = 2
# Bound on every podman housekeeping call, so a hung podman cannot hang the worker.
PODMAN_TIMEOUT = 60.0


class CommandNotFound(ChangeError):
    """The job's command is missing from the tested revision (a repository without
    `.ci/run`) or cannot be executed: the change's fault, so a `failure`."""


class Stop(Enum):
    CANCELLED = "cancelled"
    # The worker is shutting down past its grace period: the job goes back to the queue.
    HANDED_BACK = "handed back"


class Control:
    """Lets another thread (the cancel consumer, the drain timer) stop the running job."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason: Stop | None = None
        self._lock = threading.Lock()

    def stop(self, reason: Stop) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
                self.event.set()


@dataclass(frozen=True)
class JobSpec:
    job: Job
    source: Path
    attachments: Path
    # Scratch folder of this run (HOME and TMPDIR in direct mode).
    scratch: Path
    # Host files of the secrets the job named, by name.
    secrets: dict[str, Path] = field(default_factory=dict)
    # The repository's `.ci/container` if it has one, else the job's image.
    image: str = ""
    # A checkout of another revision of the tooling (`job.tooling_sha`), put first on the
    # job's PYTHONPATH so that `ouro` and the job helpers are that revision's.
    tooling: Path | None = None

    def environment(
        self, source: str, attachments: str, secrets: str, tooling: str | None = None
    ) -> dict[str, str]:
        job = self.job
        revision = {}
        if tooling is not None:
            revision = {"PYTHONPATH": tooling, "OURO_TOOLING_SHA": job.tooling_sha or ""}
        return {
            **job.env,
            **revision,
            "OURO_JOB_ID": job.id,
            "OURO_REPO": job.repo,
            "OURO_SHA": job.sha,
            "OURO_CONTEXT": job.context,
            "OURO_SOURCE": source,
            "OURO_SECRETS": secrets,
            "TEST_ATTACHMENTS": attachments,
        }


@dataclass(frozen=True)
class RunResult:
    # None when the command was killed (timeout or stop).
    exit_code: int | None
    timed_out: bool = False
    stopped: Stop | None = None


class Runner(Protocol):
    def run(self, spec: JobSpec, output: Output, control: Control) -> RunResult: ...


def check_command(spec: JobSpec) -> None:
    """Refuse a command path inside the checkout (`.ci/run`) that it lacks or cannot execute.

    In a container the runtime would only report it through catatonit's exit code 1,
    which reads as "Tests failed"; checked here, both modes say what is wrong.
    """
    program = spec.job.command[0]
    if "/" not in program or program.startswith("/"):
        return
    path = spec.source / program
    if path.is_symlink():
        # It may point at a file that only the container has.
        return
    if not path.is_file():
        raise CommandNotFound(f"No {program:.60} in the repository")
    if not os.access(path, os.X_OK):
        raise CommandNotFound(f"{program:.60} is not executable")


def _pump(stream: IO[bytes], output: Output) -> None:
    try:
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            output(chunk)
    except Exception:
        # The job must end even if the log does not take its output.
        log.exception("copying job output failed")
        while stream.read1(65536):  # type: ignore[attr-defined]
            pass


def _supervise(
    process: "subprocess.Popen[bytes]",
    *,
    output: Output,
    timeout: float,
    control: Control,
    kill: Callable[[], None],
    cleanup: Callable[[], None],
) -> RunResult:
    stdout = process.stdout
    if stdout is None:
        raise ValueError("the job process needs stdout=PIPE")
    reader = threading.Thread(target=_pump, args=(stdout, output), name="job-output")
    reader.start()
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while process.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if control.event.wait(min(remaining, 0.5)):
                break
        killed = process.poll() is None
        if killed:
            kill()
        try:
            process.wait(PODMAN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    finally:
        # Leftovers (background processes, a container) would hold the output pipe open.
        cleanup()
        reader.join(PODMAN_TIMEOUT)
        stdout.close()
    if killed:
        return RunResult(None, timed_out=timed_out, stopped=None if timed_out else control.reason)
    return RunResult(process.returncode)


class DirectRunner:
    """The command as a local process in its own session: for development and tests.
    It isolates nothing; the job sees the host."""

    def __init__(self, config: WorkerConfig):
        self._config = config

    def run(self, spec: JobSpec, output: Output, control: Control) -> RunResult:
        secrets = spec.scratch / "secrets"
        secrets.mkdir()
        for name, path in spec.secrets.items():
            (secrets / name).symlink_to(path)
        env = {
            # Nothing of the worker's own environment (tokens!) reaches the job.
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(spec.scratch),
            "TMPDIR": str(spec.scratch),
            **spec.environment(
                str(spec.source),
                str(spec.attachments),
                str(secrets),
                str(spec.tooling) if spec.tooling else None,
            ),
            **vmhost.job_environment(self._config, str(self._config.image_cache)),
            # Marks every process of the job, for the start-up reaper of a successor.
            orphans.LEASE_VARIABLE: orphans.lease(self._config.name),
        }
        check_runnable(spec.job.command[0], env["PATH"], spec.source)
        # The guard leads the new session: the job's process group, killed as one.
        process = subprocess.Popen(
            orphans.guarded(spec.job.command),
            cwd=spec.source,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Safe with threads: it only calls prctl, looked up before the fork.
            preexec_fn=orphans.die_with_worker,  # noqa: PLW1509
        )

        def signal_group(signum: int) -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)

        def kill() -> None:
            signal_group(signal.SIGTERM)
            try:
                process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                signal_group(signal.SIGKILL)

        return _supervise(
            process,
            output=output,
            timeout=spec.job.timeout,
            control=control,
            kill=kill,
            cleanup=lambda: signal_group(signal.SIGKILL),
        )


def check_runnable(program: str, path: str, cwd: Path) -> None:
    """Refuse (as the change's fault) a program that the host cannot run: the guard
    would only find out after the worker had started it."""
    if "/" in program:
        target = cwd / program
        if not target.exists():
            raise CommandNotFound(f"Cannot run {program:.60}: No such file or directory")
        if target.is_dir() or not os.access(target, os.X_OK):
            raise CommandNotFound(f"Cannot run {program:.60}: Permission denied")
    elif shutil.which(program, path=path) is None:
        raise CommandNotFound(f"Cannot run {program:.60}: No such file or directory")


class PodmanRunner:
    """`podman run --init --rm` of the job's image with the checkout mounted at /source."""

    def __init__(self, config: WorkerConfig):
        self._config = config

    @staticmethod
    def container_name(job: Job) -> str:
        return f"ouro-job-{job.id}"

    def _podman(self, *args: str) -> None:
        try:
            subprocess.run(
                [self._config.podman, *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=PODMAN_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            log.error("podman %s timed out after %.0fs", args[0], PODMAN_TIMEOUT)

    def command(self, spec: JobSpec) -> list[str]:
        config = self._config
        argv = [
            config.podman,
            "run",
            "--init",
            "--rm",
            "--name",
            self.container_name(spec.job),
            # Found by a successor's start-up reaper should this worker die with the guard.
            "--label",
            f"{orphans.NAME_LABEL}={config.name}",
            "--label",
            f"{orphans.LEASE_LABEL}={orphans.lease(config.name)}",
            "--memory",
            config.memory,
            "--pids-limit",
            str(config.pids_limit),
            "--volume",
            f"{spec.source}:{SOURCE}:Z",
            "--volume",
            f"{spec.attachments}:{ATTACHMENTS}:Z",
            "--workdir",
            SOURCE,
        ]
        if vmhost.KVM.exists():
            # Passed even when the probe failed: the job is told to use TCG instead.
            argv += ["--device", str(vmhost.KVM)]
        if config.image_cache is not None:
            argv += ["--volume", f"{config.image_cache}:{vmhost.CACHE_IN_JOB}:z"]
        if spec.tooling is not None:
            argv += ["--volume", f"{spec.tooling}:{TOOLING}:ro,Z"]
        for name, path in spec.secrets.items():
            argv += ["--volume", f"{path}:{SECRETS}/{name}:ro,z"]
        environment = {
            **spec.environment(SOURCE, ATTACHMENTS, SECRETS, TOOLING if spec.tooling else None),
            **vmhost.job_environment(config, vmhost.CACHE_IN_JOB),
        }
        for name, value in environment.items():
            argv += ["--env", f"{name}={value}"]
        return [*argv, *config.podman_args, spec.image or spec.job.image, *spec.job.command]

    def run(self, spec: JobSpec, output: Output, control: Control) -> RunResult:
        name = self.container_name(spec.job)
        # A worker that died on this host may have left the same job's container behind.
        self._podman("rm", "--force", "--ignore", name)
        process = subprocess.Popen(
            orphans.guarded(self.command(spec), podman=(self._config.podman, name)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=orphans.die_with_worker,  # noqa: PLW1509 (as above)
        )
        return _supervise(
            process,
            output=output,
            timeout=spec.job.timeout,
            control=control,
            kill=lambda: self._podman("stop", "--time", str(STOP_GRACE), name),
            cleanup=lambda: self._podman("rm", "--force", "--ignore", name),
        )


def make_runner(config: WorkerConfig) -> Runner:
    return DirectRunner(config) if config.mode == "direct" else PodmanRunner(config)
