"""The shadow bot (`ouro bot --shadow QUEUE`): a new release's bot on a copy of production's
deliveries, deciding as production would and acting on nothing (docs/tasks-bot.md, "Shadow
mode").

It consumes QUEUE, bound to the fanout exchange the receiver mirrors accepted deliveries to,
and runs the same `Bot` with the forge's dry runs (it posts no status and writes no comment;
it remembers its own statuses, as a dry run does), a publisher that queues no job, and a
state file of its own; what it would have done goes to the decision record, which it cannot
run without. It reads GitHub (pull requests, memberships) with the credentials it is given:
best a read-only token of its own, so that its reads cost production's rate limit nothing.
"""

import threading
from pathlib import Path

from ouro import amqp, queues
from ouro.config import ConfigError, setting
from tasks.bot import Bot
from tasks.botstate import BotState
from tasks.decisionrecord import SETTING, DecisionRecord
from tasks.forge import DryRunConversation, DryRunStatuses
from tasks.github import Credentials
from tasks.github_reader import open_reader
from tasks.testmap import TestMap


def declare(queue: str, exchange: str) -> None:
    """The shadow's queue, bound to `exchange` (both checked to be no queue of production's)."""
    queues.shadow_name(queue, "--shadow")
    queues.shadow_name(exchange, "--shadow-exchange")
    connection = amqp.connect()
    try:
        queues.declare_shadow(connection.channel(), exchange, queue)
    finally:
        connection.close()


def open_state(queue: str) -> BotState:
    """A state of the shadow's own: production's would make it drop every delivery as seen
    (and production would then skip the jobs the shadow only pretended to queue)."""
    return BotState(Path(setting("OURO_STATE_DIR")) / f"shadow-{queue}.sqlite")


def shadow_bot(
    tmap: TestMap, state: BotState, stop: threading.Event, record: DecisionRecord | None
) -> Bot:
    if record is None:
        raise ConfigError(f"a shadow bot needs {SETTING}: the file its decisions go to")
    return Bot(
        tmap,
        statuses=record.statuses(DryRunStatuses()),
        reader=open_reader(sleep=stop.wait, credentials=Credentials()),
        conversation=record.conversation(DryRunConversation()),
        publisher=record.publisher(None),
        state=state,
        wait=stop.wait,
    )
