"""The worker's settings: environment variables, overridden by `ouro worker` options.

Every value is checked at start, so a bad setting is one `Configuration error: …` line
instead of a failure on the first job.
"""

import os
import shlex
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ouro import queues, validate
from ouro.config import ConfigError, setting

MODES = ("podman", "direct")


@dataclass(frozen=True)
class WorkerConfig:
    name: str
    capabilities: tuple[str, ...] = ()
    mode: str = "podman"
    # Passed to `podman run --memory` / `--pids-limit`.
    memory: str = "4g"
    pids_limit: int = 4096
    # Operator-supplied `podman run` arguments (trusted: they come from the worker's config).
    podman_args: tuple[str, ...] = ()
    podman: str = "podman"
    # One file per named secret: `<secrets_dir>/<name>`; a job gets only those it names.
    secrets_dir: Path = Path("/run/secrets/jobs")
    # Where each job's checkout, attachments and secrets copy live while it runs.
    work_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    # How long a SIGTERM lets the running job go on before it is handed back.
    grace: float = 600.0
    # Seconds before handing back a job whose status or log could not be written
    # (GitHub or the store down): without a pause, an outage turns into a tight loop
    # of whole job runs. A drain cuts the pause short.
    requeue_delay: float = 10.0
    clone_retries: int = 3
    clone_timeout: float = 600.0
    # PRs are tested rebased on their base branch, as they would be merged.
    rebase: bool = True
    # The images-server address jobs get as IMAGES_SERVER_URL (VM images, uploads).
    images_url: str = ""
    # Host folder of VM images shared by this host's jobs, content-addressed and bounded
    # by `ouro vm fetch`; mounted into every job.
    image_cache: Path | None = None
    # An image with `ouro vm`, in which the KVM probe runs (podman mode).
    vm_image: str = ""
    # What `ouro vm run` uses in this worker's jobs, decided once at start by the probe
    # (tasks/worker/vmhost.py); None when the worker serves no VM capability.
    vm_accel: str | None = None
    # The release this worker runs (`--release`): in its statuses, logs and job records.
    release: str = ""
    # A canary worker (tasks/worker/canary.py) takes this share of the jobs; None: stable.
    canary_share: float | None = None
    # It rolls itself back when more than `canary_max_error_rate` of its last
    # `canary_window` jobs ended with an internal error.
    canary_window: int = 20
    canary_max_error_rate: float = 0.2
    # Where a rolled-back canary leaves its marker (`OURO_STATE_DIR`).
    state_dir: Path = Path("/var/lib/ouro")

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "._-" for c in self.name):
            raise ConfigError(f"worker name {self.name!r:.80} must be letters, digits, . _ -")
        for capability in self.capabilities:
            try:
                validate.capability(capability)
            except validate.InvalidValue as error:
                raise ConfigError(str(error)) from None
        if self.mode not in MODES:
            raise ConfigError(f"worker mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if (
            self.pids_limit <= 0
            or self.grace < 0
            or self.requeue_delay < 0
            or self.clone_retries < 0
        ):
            raise ConfigError(
                "worker pids limit, grace, requeue delay and clone retries must not be negative"
            )
        if self.clone_timeout <= 0:
            raise ConfigError("worker clone timeout must be positive")
        if self.release:
            try:
                validate.release_name(self.release)
            except validate.InvalidValue as error:
                raise ConfigError(str(error)) from None
        if self.canary_share is not None:
            if not self.release:
                raise ConfigError("a canary worker needs its release (--release, OURO_RELEASE)")
            if not 0 < self.canary_share <= 1:
                raise ConfigError("the canary share must be above 0 and at most 1")
            if self.canary_window < 1 or not 0 <= self.canary_max_error_rate < 1:
                raise ConfigError(
                    "the canary window must be at least 1 job, its error rate from 0 to under 1"
                )
        containers_conf = os.environ.get("CONTAINERS_CONF")
        if self.mode == "podman" and containers_conf and not Path(containers_conf).is_file():
            raise ConfigError(f"CONTAINERS_CONF names {containers_conf}, which does not exist")

    @property
    def queues(self) -> list[str]:
        """Every worker serves `tasks`; each capability adds `tasks.<capability>`."""
        return [queues.tasks_queue(None)] + [queues.tasks_queue(c) for c in self.capabilities]

    @property
    def signature(self) -> str:
        """Who ran a job, as its statuses say: the worker, and its release if named."""
        return f"{self.name}, release {self.release}" if self.release else self.name


def _number(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {text!r:.40}") from None


def _flag(name: str, default: bool) -> bool:
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {text!r:.40}")


def from_environment(
    *,
    name: str | None = None,
    capabilities: list[str] | None = None,
    direct: bool = False,
    release: str | None = None,
    canary_share: float | None = None,
    canary_window: int | None = None,
    canary_max_error_rate: float | None = None,
) -> WorkerConfig:
    """Settings from `OURO_WORKER_*` variables; the arguments (command-line options) win."""
    env = os.environ.get
    if capabilities is None:
        capabilities = [c.strip() for c in env("OURO_WORKER_CAPABILITIES", "").split(",")]
    try:
        podman_args = tuple(shlex.split(env("OURO_WORKER_PODMAN_ARGS", "")))
    except ValueError as error:
        raise ConfigError(f"OURO_WORKER_PODMAN_ARGS: {error}") from None
    return WorkerConfig(
        name=name or env("OURO_WORKER_NAME") or socket.gethostname().split(".")[0],
        capabilities=tuple(dict.fromkeys(c for c in capabilities if c)),
        mode="direct" if direct else env("OURO_WORKER_MODE", "podman"),
        memory=env("OURO_WORKER_MEMORY", "4g"),
        pids_limit=int(_number("OURO_WORKER_PIDS_LIMIT", 4096)),
        podman_args=podman_args,
        podman=env("OURO_WORKER_PODMAN", "podman"),
        secrets_dir=Path(env("OURO_WORKER_SECRETS_DIR", "/run/secrets/jobs")),
        work_dir=Path(env("OURO_WORKER_WORK_DIR") or tempfile.gettempdir()),
        grace=_number("OURO_WORKER_GRACE", 600.0),
        requeue_delay=_number("OURO_WORKER_REQUEUE_DELAY", 10.0),
        clone_retries=int(_number("OURO_WORKER_CLONE_RETRIES", 3)),
        clone_timeout=_number("OURO_WORKER_CLONE_TIMEOUT", 600.0),
        rebase=_flag("OURO_WORKER_REBASE", True),
        images_url=env("OURO_WORKER_IMAGES_URL") or setting("IMAGES_SERVER_URL"),
        image_cache=Path(cache) if (cache := env("OURO_WORKER_IMAGE_CACHE")) else None,
        vm_image=env("OURO_WORKER_VM_IMAGE", ""),
        release=release or env("OURO_RELEASE", ""),
        canary_share=canary_share
        if canary_share is not None
        else (_number("OURO_WORKER_CANARY_SHARE", 0) or None),
        canary_window=canary_window
        if canary_window is not None
        else int(_number("OURO_WORKER_CANARY_WINDOW", 20)),
        canary_max_error_rate=canary_max_error_rate
        if canary_max_error_rate is not None
        else _number("OURO_WORKER_CANARY_MAX_ERROR_RATE", 0.2),
        state_dir=Path(setting("OURO_STATE_DIR")),
    )


def check_ready(config: WorkerConfig) -> None:
    """What the worker cannot run without, checked at start."""
    if config.mode == "podman" and shutil.which(config.podman) is None:
        raise ConfigError(f"{config.podman} not found; install podman or use --direct")
    if not config.work_dir.is_dir():
        raise ConfigError(f"work folder {config.work_dir} does not exist")
    if config.canary_share is not None:
        try:
            config.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"OURO_STATE_DIR, for a canary's marker: {error}") from None
        if not os.access(config.state_dir, os.W_OK):
            raise ConfigError(f"OURO_STATE_DIR, for a canary's marker: {config.state_dir} is "
                              "not writable")  # fmt: skip
