"""A job's record in its store folder, `logs/<job>/job.json`: what the status page lists.

The worker writes it when a job starts (`state` "running") and again when the job ends
(its commit state, description and end time); the images-server reads every record on its
disk for `/status` (docs/images-server.md, "The status page"). One format, written by one
component and read by another, so it lives in the base.
"""

from dataclasses import dataclass

from ouro.jsonutil import dump, get_bool, get_int, get_number, get_str, parse_object

NAME = "job.json"
RUNNING = "running"


@dataclass(frozen=True)
class JobRecord:
    id: str
    repo: str
    sha: str
    context: str
    worker: str
    # The queue the job came from (`tasks`, `tasks.<capability>`).
    queue: str
    # The live log page's URL.
    log_url: str
    # Seconds since the epoch: queued by the bot, started by the worker, ended (or None).
    created: float
    started: float
    pr: int | None = None
    state: str = RUNNING
    description: str = ""
    finished: float | None = None
    # The worker's release (`ouro worker --release`), and whether it ran as a canary.
    release: str = ""
    canary: bool = False
    # It ended with an internal error: not the change's failure, not a cancel.
    internal: bool = False

    @property
    def running(self) -> bool:
        return self.finished is None

    def to_json(self) -> bytes:
        return dump(self)

    @classmethod
    def from_json(cls, body: bytes) -> "JobRecord":
        """`PayloadError` for what no worker wrote: another component reads it."""
        data = parse_object(body, "job record")
        return cls(
            id=get_str(data, "id"),
            repo=get_str(data, "repo"),
            sha=get_str(data, "sha"),
            context=get_str(data, "context"),
            worker=get_str(data, "worker"),
            queue=get_str(data, "queue"),
            log_url=get_str(data, "log_url"),
            created=get_number(data, "created"),
            started=get_number(data, "started"),
            pr=get_int(data, "pr") if data.get("pr") is not None else None,
            state=get_str(data, "state"),
            description=get_str(data, "description"),
            finished=get_number(data, "finished") if data.get("finished") is not None else None,
            # Absent from the records of workers before releases were named.
            release=get_str(data, "release") if data.get("release") is not None else "",
            canary=get_bool(data, "canary", False),
            internal=get_bool(data, "internal", False),
        )
