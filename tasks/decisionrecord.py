"""The decision record: what the bot did for each delivery — jobs queued, statuses posted,
comments written, cancels sent — as JSON lines in a file (`OURO_DECISION_RECORD`), so that
production's and a shadow bot's decisions on the same deliveries can be compared
(`ouro shadow report`, `tasks.shadow_report`; docs/tasks-bot.md, "Shadow mode").

The bot's forge clients and publisher are wrapped: an effect is noted under the delivery
being handled on this thread, then passed on to the real client (a shadow's are the dry
runs and no publisher at all). Effects outside a delivery (the scan at start) pass
unrecorded. A line is written per handling of a delivery once the handler returns,
whatever its result, so a delivery that was retried has a line per attempt and the report
unites them. Job ids and times differ from bot to bot and are left out.
"""

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from ouro import amqp, queues
from ouro.config import ConfigError
from ouro.jsonutil import PayloadError
from tasks.bot import Publisher, parse_message
from tasks.cancel import Cancel
from tasks.forge import Conversation, IssueInfo, Status, Statuses
from tasks.job import Job

log = logging.getLogger(__name__)

SETTING = "OURO_DECISION_RECORD"
KINDS = ("jobs", "statuses", "comments", "cancels")
# Differ from one bot to the other for the same decision.
UNCOMPARED_JOB_FIELDS = ("id", "created", "log")


@dataclass
class Effects:
    """What one handling of a delivery did, by kind (`KINDS`)."""

    noted: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in KINDS})


def outcome(result: amqp.Result) -> str:
    if isinstance(result, amqp.Outcome):
        return result.value
    if isinstance(result, amqp.DeadLetter):
        return f"dead letter: {result.reason}"
    # A canary worker's; the bot returns neither.
    if isinstance(result, amqp.Decline):
        return "declined"
    if isinstance(result, amqp.HandOver):
        return "handed over"
    return f"retry: {result.reason}"


def open_setting() -> "DecisionRecord | None":
    """The decision record `OURO_DECISION_RECORD` names; None if it is not set."""
    path = os.environ.get(SETTING)
    return DecisionRecord(Path(path)) if path else None


class DecisionRecord:
    """Appends a line per handled delivery to `path`; `wrap` the handler and the clients."""

    def __init__(self, path: Path):
        try:
            self._file: IO[str] = path.open("a", encoding="utf-8")
            self.path = path
        except OSError as error:
            raise ConfigError(f"cannot open the decision record {path}: {error}") from None
        self._lock = threading.Lock()
        self._local = threading.local()

    def note(self, kind: str, entry: dict[str, Any]) -> None:
        effects: Effects | None = getattr(self._local, "effects", None)
        if effects is not None:
            effects.noted[kind].append(entry)

    def wrap(self, handle: amqp.Handler) -> amqp.Handler:
        """`handle`, writing a line with what it did for each delivery."""

        def recorded(message: amqp.Message) -> amqp.Result:
            try:
                event, delivery, _ = parse_message(message.body)
            except PayloadError:
                # Not a delivery at all: the bot dead-letters it, there is nothing to compare.
                return handle(message)
            effects = self._local.effects = Effects()
            try:
                result = handle(message)
            finally:
                self._local.effects = None
            line = {"delivery": delivery, "event": event, "outcome": outcome(result)}
            self._write({**line, **effects.noted})
            return result

        return recorded

    def _write(self, line: dict[str, Any]) -> None:
        with self._lock:
            self._file.write(json.dumps(line, sort_keys=True) + "\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()

    def statuses(self, inner: Statuses) -> Statuses:
        return _Statuses(inner, self.note)

    def conversation(self, inner: Conversation) -> Conversation:
        return _Conversation(inner, self.note)

    def publisher(self, inner: Publisher | None) -> Publisher:
        """`inner` recorded; None: recorded only, nothing is queued (a shadow bot)."""
        return _Publisher(inner, self.note)


Note = Callable[[str, dict[str, Any]], None]


class _Statuses:
    def __init__(self, inner: Statuses, note: Note):
        self._inner = inner
        self._note = note

    def post(self, repo: str, sha: str, status: Status) -> None:
        self._note("statuses", {"repo": repo, "sha": sha, **asdict(status)})
        self._inner.post(repo, sha, status)

    def latest(self, repo: str, sha: str) -> dict[str, Status]:
        return self._inner.latest(repo, sha)


class _Conversation:
    """Comments are the bot's writes on a conversation; the rest are passed on as they are
    (the bot's handling of a delivery writes no description and opens no issue)."""

    def __init__(self, inner: Conversation, note: Note):
        self._inner = inner
        self._note = note

    def comment(self, repo: str, number: int, text: str) -> None:
        self._note("comments", {"repo": repo, "number": number, "text": text})
        self._inner.comment(repo, number, text)

    def body(self, repo: str, number: int) -> str:
        return self._inner.body(repo, number)

    def set_body(self, repo: str, number: int, body: str) -> None:
        self._inner.set_body(repo, number, body)

    def open_issues(self, repo: str) -> list[IssueInfo]:
        return self._inner.open_issues(repo)

    def create_issue(self, repo: str, title: str, body: str) -> int:
        return self._inner.create_issue(repo, title, body)

    def create_pull(self, repo: str, head: str, base: str, title: str, body: str) -> int:
        return self._inner.create_pull(repo, head, base, title, body)


class _Publisher:
    def __init__(self, inner: Publisher | None, note: Note):
        self._inner = inner
        self._note = note

    def publish_all(self, messages: Sequence[amqp.Outgoing]) -> None:
        for message in messages:
            if message.exchange == queues.CANCEL_EXCHANGE:
                self._note("cancels", asdict(Cancel.from_json(message.body)))
            else:
                fields = asdict(Job.from_json(message.body))
                for name in UNCOMPARED_JOB_FIELDS:
                    del fields[name]
                self._note("jobs", {**fields, "queue": message.routing_key})
        if self._inner is not None:
            self._inner.publish_all(messages)
