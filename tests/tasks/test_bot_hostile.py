"""Hostile and poison webhook messages through the real receiver (or straight onto the
`webhook` queue), a real RabbitMQ, the real bot and mock-github (issue 15).

Each hostile login below made an outsider a member for the membership check, or raised
inside the bot and came back every 5 s for ever; each poison message looped the same way.
Now each is dead-lettered at once, handled exactly once, and starts nothing.
"""

import json
from typing import Any

import pytest

from ouro import amqp, poison, queues
from tasks.queue_inspect import inspect
from tests.rabbitmq import drain
from tests.tasks.bot_stack import MANUAL, NETWORKING, REPO, Stack
from tests.waiting import wait_until

pytestmark = pytest.mark.faults

NO_JOBS: dict[str, Any] = {queues.TASKS: [], "tasks.kvm": []}
# dave is a private member of acme (bot_stack.world): asking about him answers 204.
PATH_LOGINS = ["../../../orgs/acme/members/dave", "dave?x=", "dave#frag", "../dave"]


def publish_raw(stack: Stack, body: bytes, delivery: str) -> None:
    """A message as a receiver might have put it on the queue; counted for `settle`."""
    publisher = amqp.Publisher(stack.url)
    publisher.publish(queues.WEBHOOK, body, message_id=delivery)
    publisher.close()
    stack.replayed(1)


def dead_letters(stack: Stack, count: int) -> list[tuple[str, str]]:
    """(message id, reason) of the `count` dead letters, once all are there (consumed)."""
    wait_until(lambda: inspect([queues.WEBHOOK_DEAD])[0].depth >= count, f"{count} dead letters")
    found = drain(stack.url, queues.WEBHOOK_DEAD)
    assert len(found) == count
    return [(p.message_id, str(p.headers[poison.REASON_HEADER])) for p, _ in found]


def test_hostile_logins_are_dead_lettered_never_trusted(stack: Stack) -> None:
    pr = stack.control.open_pr(REPO, "evil", files={"a.c": "$(id)\n"}, user="mallory")
    number, sha = pr["number"], pr["head"]["sha"]
    stack.control.comment(REPO, number, "/test", user="mallory")
    stack.settle()
    manual = [(NETWORKING, "pending", MANUAL), ("unit-tests", "pending", MANUAL)]
    assert stack.statuses(sha) == manual
    opened = stack.control.deliveries("pull_request")[-1]["request"]["payload"]
    comment = stack.control.deliveries("issue_comment")[-1]["request"]["payload"]
    for login in PATH_LOGINS:
        opened["pull_request"]["user"]["login"] = login
        opened["pull_request"]["author_association"] = "CONTRIBUTOR"
        stack.deliver("pull_request", opened)
        comment["comment"]["user"]["login"] = login
        stack.deliver("issue_comment", comment)
    # A lone surrogate is valid JSON; the bot must refuse it whatever a receiver lets by.
    opened["pull_request"]["user"]["login"] = "dave\ud800"
    request = json.dumps({"event": "pull_request", "delivery": "lone-1", "request": opened})
    publish_raw(stack, request.encode(), "lone-1")
    # Handled once each: `settle` fails if any came back.
    stack.settle()
    dead = dead_letters(stack, 2 * len(PATH_LOGINS) + 1)
    assert stack.jobs() == NO_JOBS
    assert stack.statuses(sha) == manual
    reasons = [reason for _, reason in dead]
    for login in PATH_LOGINS:
        assert f"pull_request: invalid GitHub login {login!r}" in reasons
        assert f"issue_comment: invalid GitHub login {login!r}" in reasons
    assert ("lone-1", "message holds a string that is not valid Unicode") in dead


@pytest.mark.parametrize(
    "body",
    [
        # RecursionError in the parser.
        b'{"event": "push", "delivery": "p-1", "request": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        # Not UTF-8, not JSON's constants, nested in the payload itself.
        b'{"event": "push", "delivery": "p-1", "request": {"ref": "\xff"}}',
        b'{"event": "push", "delivery": "p-1", "request": {"ref": NaN}}',
        b'{"event": "pull_request", "delivery": "p-1", "request": {"action": "opened", '
        b'"pull_request": ' + b'{"a": ' * 900 + b"1" + b"}" * 900 + b"}}",
    ],
    ids=["nested-1000", "not-utf8", "nan", "nested-payload"],
)
def test_poison_webhook_messages_are_dead_lettered_at_once(stack: Stack, body: bytes) -> None:
    publish_raw(stack, body, "p-1")
    stack.settle()
    ((message_id, reason),) = dead_letters(stack, 1)
    assert message_id == "p-1"
    assert reason.startswith("message ")
    assert stack.jobs() == NO_JOBS
