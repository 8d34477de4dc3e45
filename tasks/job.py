"""The job message on the tasks queues (docs/architecture.md, "The messages").

`Job.from_json` validates every field again: a worker trusts nothing that came
over the broker more than the bot trusted the webhook payload. It is total: whatever the
bytes, it returns a valid job or raises `PayloadError`/`InvalidValue` with a one-line
reason, which the worker dead-letters.
"""

import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ouro import queues, validate
from ouro.jsonutil import (
    JsonDict,
    PayloadError,
    dump,
    get_dict,
    get_int,
    get_number,
    get_str,
    get_str_list,
    has,
    parse_object,
)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
IMAGE_PATTERN = re.compile(r"[a-z0-9][a-z0-9._/:@-]{0,254}")
_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+")
# The store keeps a job's live log only in a folder of this shape (ouro.store.live).
_LOG_DIR = re.compile(r"logs/[A-Za-z0-9][A-Za-z0-9._-]{0,127}/")


NewId = Callable[[str, str], str]


def new_job_id(context: str, sha: str) -> str:
    """`<context slug>-<sha[:12]>-<random>`: readable in logs, unique, safe in paths."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", context).strip("-.")[:80] or "job"
    return f"{slug}-{sha[:12]}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Job:
    id: str
    repo: str
    sha: str
    context: str
    # argv, run without a shell; `.ci/run` by default.
    command: list[str]
    image: str
    clone_url: str
    # None: any worker (`tasks` queue); else the `tasks.<capability>` queue.
    capability: str | None = None
    pr: int | None = None
    base_ref: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Names of secrets the worker may mount for this job, never their values.
    secrets: list[str] = field(default_factory=list)
    timeout: int = 3600
    priority: int = 5
    # Store path of the log folder, e.g. `logs/<id>/`; the log is `<log>log`.
    log: str = ""
    created: float = field(default_factory=time.time)
    # What to check out when it is not what the statuses are posted on (`repo`@`sha`):
    # a product's revision tested on an infrastructure PR (`vm@owner/product`).
    source_url: str | None = None
    source_sha: str | None = None
    # Another revision of the tooling (`ouro vm`, the job helpers) for the job: the
    # infrastructure repository at this sha (`vm@infra#12`).
    tooling_url: str | None = None
    tooling_sha: str | None = None
    # An image refresh (`image-refresh/NAME`): the image's name, and the branch that the
    # worker pushes the new reference to: the PR's head branch, or for a refresh asked for
    # on an issue (`issue`), a new branch that the worker opens a PR from.
    refresh: str | None = None
    push_branch: str | None = None
    issue: int | None = None

    def __post_init__(self) -> None:
        validate.job_id(self.id)
        validate.repo(self.repo)
        validate.sha(self.sha)
        validate.context(self.context)
        if self.pr is not None:
            validate.pr_number(self.pr)
        if self.base_ref is not None:
            validate.ref(self.base_ref)
        if self.capability is not None:
            validate.capability(self.capability)
        if not self.command or not all(
            isinstance(a, str) and "\x00" not in a for a in self.command
        ):
            raise validate.InvalidValue("command must be a non-empty list of strings")
        if not IMAGE_PATTERN.fullmatch(self.image):
            raise validate.InvalidValue(f"invalid container image {self.image!r:.80}")
        self._check_url(self.clone_url)
        for name, value in self.env.items():
            if not _ENV_NAME.fullmatch(name) or "\x00" in value:
                raise validate.InvalidValue(f"invalid environment variable {name!r:.80}")
        for name in self.secrets:
            if not isinstance(name, str) or not SECRET_NAME_PATTERN.fullmatch(name):
                raise validate.InvalidValue(f"invalid secret name {name!r:.80}")
        if not math.isfinite(self.created):
            raise validate.InvalidValue(f"invalid creation time {self.created!r}")
        if not 0 < self.timeout <= 7 * 24 * 3600:
            raise validate.InvalidValue(f"invalid timeout {self.timeout}")
        if not 0 <= self.priority <= queues.MAX_PRIORITY:
            raise validate.InvalidValue(f"priority must be 0..{queues.MAX_PRIORITY}")
        for url, sha in ((self.source_url, self.source_sha), (self.tooling_url, self.tooling_sha)):
            if (url is None) != (sha is None):
                raise validate.InvalidValue("a revision needs both a URL and a sha")
            if url is not None and sha is not None:
                self._check_url(url)
                validate.sha(sha)
        if self.refresh is not None:
            validate.image_name(self.refresh)
            if self.push_branch is None:
                raise validate.InvalidValue("an image refresh needs the branch to push to")
        if self.push_branch is not None:
            validate.ref(self.push_branch)
        if self.issue is not None:
            validate.pr_number(self.issue)
        if not self.log:
            object.__setattr__(self, "log", f"logs/{self.id}/")
        elif not _LOG_DIR.fullmatch(self.log) or ".." in self.log:
            raise validate.InvalidValue(f"invalid log folder {self.log!r:.80}")

    @staticmethod
    def _check_url(url: str) -> None:
        if not _URL.fullmatch(url):
            raise validate.InvalidValue(f"invalid clone URL {url!r:.80}")

    @property
    def checkout_url(self) -> str:
        return self.source_url or self.clone_url

    @property
    def checkout_sha(self) -> str:
        return self.source_sha or self.sha

    @property
    def queue(self) -> str:
        return queues.tasks_queue(self.capability)

    def to_json(self) -> bytes:
        return dump(self)

    @classmethod
    def from_json(cls, body: bytes) -> "Job":
        """Parse and validate a job message; `PayloadError`/`InvalidValue` if malformed."""
        data = parse_object(body, "job")
        env = get_dict(data, "env")
        if not all(isinstance(v, str) for v in env.values()):
            raise PayloadError("env values must be strings")
        return cls(
            id=get_str(data, "id"),
            repo=get_str(data, "repo"),
            sha=get_str(data, "sha"),
            context=get_str(data, "context"),
            command=get_str_list(data, "command"),
            image=get_str(data, "image"),
            clone_url=get_str(data, "clone_url"),
            capability=get_str(data, "capability") if data.get("capability") else None,
            pr=get_int(data, "pr") if data.get("pr") is not None else None,
            base_ref=get_str(data, "base_ref") if data.get("base_ref") else None,
            env=env,
            secrets=get_str_list(data, "secrets"),
            timeout=get_int(data, "timeout"),
            priority=get_int(data, "priority"),
            log=get_str(data, "log"),
            # Absent in jobs of older bots; present, it must be a time (not "soon", not null).
            created=get_number(data, "created") if has(data, "created") else time.time(),
            source_url=_optional_str(data, "source_url"),
            source_sha=_optional_str(data, "source_sha"),
            tooling_url=_optional_str(data, "tooling_url"),
            tooling_sha=_optional_str(data, "tooling_sha"),
            refresh=_optional_str(data, "refresh"),
            push_branch=_optional_str(data, "push_branch"),
            issue=get_int(data, "issue") if data.get("issue") is not None else None,
        )


def _optional_str(data: JsonDict, key: str) -> str | None:
    """Absent or null in jobs of older bots, and where unused; else a string."""
    return get_str(data, key) if data.get(key) is not None else None
