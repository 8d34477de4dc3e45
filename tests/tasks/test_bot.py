"""The bot's effects with fakes for GitHub and the broker: order, idempotence, dead-letters."""

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ouro import amqp, queues
from tasks.bot import Bot
from tasks.botstate import BotState
from tasks.cancel import Cancel
from tasks.decision import MANUAL_TESTING, NOT_YET_TESTED
from tasks.forge import ForgeNotFound, ForgeRateLimited, ForgeRefused, ForgeUnavailable, Status
from tasks.job import Job
from tests.tasks.bot_fakes import FakeGitHub, counter_ids, load_map, payload, pull_info

REPO = "example-org/product"
SHA = "8d3c1a0b7e5f4c2d9a6b3e1f0c7d5a4b2e9f8c6d"


class FakePublisher:
    def __init__(self, gh: FakeGitHub | None = None) -> None:
        self.sent: list[tuple[str, str, bytes, dict[str, Any]]] = []
        self._gh = gh
        self.fail_on: str | None = None

    def publish_all(self, messages: Sequence[amqp.Outgoing]) -> None:
        if any(m.routing_key == self.fail_on for m in messages):
            raise amqp.BrokerUnavailable("simulated")
        for m in messages:
            details = {"priority": m.priority, "headers": m.headers}
            self.sent.append((m.exchange or m.routing_key, m.message_id, m.body, details))
            if self._gh is not None:
                # Records the interleaving of statuses and publishes in one list.
                self._gh.posted.append(("publish", m.routing_key, Status(m.message_id, "", "")))

    def jobs(self) -> list[Job]:
        return [Job.from_json(body) for key, _, body, _ in self.sent if key.startswith("tasks")]


def message(event: str, data: Any, delivery: str = "d-1") -> amqp.Message:
    body = json.dumps({"event": event, "delivery": delivery, "request": data}).encode()
    return amqp.Message(body, delivery, redelivered=False, headers={}, timestamp=None)


@pytest.fixture
def state(tmp_path: Path) -> Any:
    store = BotState(tmp_path / "state.sqlite")
    yield store
    store.close()


def no_wait(seconds: float) -> bool:
    pytest.fail(f"unexpected rate-limit wait of {seconds}s")


def make_bot(
    state: BotState,
    gh: FakeGitHub,
    publisher: FakePublisher,
    wait: Callable[[float], bool] = no_wait,
) -> Bot:
    return Bot(
        load_map(),
        statuses=gh,
        reader=gh,
        conversation=gh,
        publisher=publisher,
        state=state,
        wait=wait,
        new_id=counter_ids(),
    )


def test_posts_not_yet_tested_before_publishing_the_jobs(state: BotState) -> None:
    gh = FakeGitHub()
    publisher = FakePublisher(gh)
    bot = make_bot(state, gh, publisher)
    assert bot.handle(message("pull_request", payload("pull_request.opened"))) is amqp.Outcome.ACK
    # The jobs are published together, after every "Not yet tested" (one wait for confirms).
    assert [(r, s, st.context, st.state, st.description) for r, s, st in gh.posted] == [
        (REPO, SHA, "unit-tests", "pending", NOT_YET_TESTED),
        (REPO, SHA, "fedora-41/networking", "pending", NOT_YET_TESTED),
        ("publish", "tasks", "unit-tests-1", "", ""),
        ("publish", "tasks.kvm", "fedora-41-networking-2", "", ""),
    ]
    assert [s[3]["priority"] for s in publisher.sent] == [5, 7]


def test_same_delivery_twice_starts_nothing_new(state: BotState) -> None:
    gh = FakeGitHub()
    publisher = FakePublisher()
    bot = make_bot(state, gh, publisher)
    bot.handle(message("pull_request", payload("pull_request.opened")))
    bot.handle(message("pull_request", payload("pull_request.opened")))
    assert len(publisher.jobs()) == 2
    assert len(gh.posted) == 2


def test_restarted_bot_remembers_deliveries(tmp_path: Path) -> None:
    gh = FakeGitHub()
    publisher = FakePublisher()
    for _ in range(2):
        store = BotState(tmp_path / "s.sqlite")
        make_bot(store, gh, publisher).handle(message("push", payload("push.main")))
        store.close()
    assert len(publisher.jobs()) == 2


def test_another_event_for_the_same_head_starts_nothing(state: BotState) -> None:
    gh = FakeGitHub()
    publisher = FakePublisher()
    bot = make_bot(state, gh, publisher)
    bot.handle(message("pull_request", payload("pull_request.opened"), "d-1"))
    bot.handle(message("pull_request", payload("pull_request.reopened"), "d-2"))
    assert len(publisher.jobs()) == 2


def test_existing_result_on_github_is_not_overwritten(state: BotState) -> None:
    gh = FakeGitHub()
    gh.post(REPO, SHA, Status("unit-tests", "success", "Success [w1]"))
    publisher = FakePublisher()
    make_bot(state, gh, publisher).handle(message("pull_request", payload("pull_request.opened")))
    assert [j.context for j in publisher.jobs()] == ["fedora-41/networking"]


def test_lost_publish_is_repaired_on_redelivery(state: BotState) -> None:
    gh = FakeGitHub()
    publisher = FakePublisher()
    publisher.fail_on = "tasks.kvm"
    bot = make_bot(state, gh, publisher)
    outcome = bot.handle(message("pull_request", payload("pull_request.opened")))
    assert isinstance(outcome, amqp.Retry)
    publisher.fail_on = None
    # The consumer publishes the message again: the same delivery comes again.
    bot.handle(message("pull_request", payload("pull_request.opened")))
    assert [j.context for j in publisher.jobs()] == ["unit-tests", "fedora-41/networking"]


class PostFailsOn(FakeGitHub):
    """Posting a status of context `context` fails as GitHub does when it is down."""

    context: str = "fedora-41/networking"

    def post(self, repo: str, sha: str, status: Status) -> None:
        if status.context == self.context:
            raise ForgeUnavailable('502 {"message": "Bad Gateway"}', 502)
        super().post(repo, sha, status)


def test_a_job_announced_before_a_failed_post_is_published(state: BotState) -> None:
    gh = PostFailsOn()
    publisher = FakePublisher()
    outcome = make_bot(state, gh, publisher).handle(
        message("pull_request", payload("pull_request.opened"))
    )
    assert isinstance(outcome, amqp.Retry)
    # Its "Not yet tested" is on GitHub, which a scan would take for a queued job.
    assert [s.context for _, _, s in gh.posted] == ["unit-tests"]
    assert [j.context for j in publisher.jobs()] == ["unit-tests"]


def test_synchronize_sends_a_cancel_before_new_jobs(state: BotState) -> None:
    publisher = FakePublisher()
    make_bot(state, FakeGitHub(), publisher).handle(
        message("pull_request", payload("pull_request.synchronize"))
    )
    target, _, body, _ = publisher.sent[0]
    assert target == queues.CANCEL_EXCHANGE
    assert Cancel.from_json(body) == Cancel(REPO, 42, "a" * 40, "new push")
    assert [j.sha for j in publisher.jobs()] == ["a" * 40] * 2


def test_untrusted_pr_waits_for_a_trusted_test_command(state: BotState) -> None:
    gh = FakeGitHub()
    publisher = FakePublisher()
    bot = make_bot(state, gh, publisher)
    bot.handle(message("pull_request", payload("pull_request.opened-fork-first-time"), "d-1"))
    assert publisher.jobs() == []
    assert {(st.context, st.description) for _, _, st in gh.posted} == {
        ("unit-tests", MANUAL_TESTING),
        ("fedora-41/networking", MANUAL_TESTING),
    }
    gh.pulls[REPO, 45] = pull_info()
    bot.handle(message("issue_comment", _comment("/retest", "mallory"), "d-2"))
    bot.handle(message("issue_comment", _comment("/test", "mallory"), "d-3"))
    assert publisher.jobs() == []
    bot.handle(message("issue_comment", _comment("/test unit-tests", "alice"), "d-4"))
    assert [(j.context, j.sha) for j in publisher.jobs()] == [("unit-tests", "b" * 40)]
    assert gh.latest(REPO, "b" * 40)["unit-tests"].description == NOT_YET_TESTED
    # A second event for the PR does not put "Manual testing required" over the run.
    bot.handle(message("pull_request", payload("pull_request.opened-fork-first-time"), "d-5"))
    assert gh.latest(REPO, "b" * 40)["unit-tests"].description == NOT_YET_TESTED


def _comment(body: str, login: str) -> Any:
    data = payload("issue_comment.test")
    data["comment"]["body"] = body
    data["comment"]["user"]["login"] = login
    data["comment"]["author_association"] = "MEMBER" if login == "alice" else "NONE"
    return data


def test_test_command_reruns_even_with_results(state: BotState) -> None:
    gh = FakeGitHub()
    gh.pulls[REPO, 45] = pull_info()
    gh.post(REPO, "b" * 40, Status("unit-tests", "failure", "Tests failed"))
    publisher = FakePublisher()
    make_bot(state, gh, publisher).handle(message("issue_comment", _comment("/retest", "alice")))
    assert [j.context for j in publisher.jobs()] == ["unit-tests"]


def dead(outcome: amqp.Result) -> str:
    """The reason of a dead letter (the consumer publishes it to webhook.dead)."""
    assert isinstance(outcome, amqp.DeadLetter), outcome
    return outcome.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"event": "push", "request": {}}', "missing field delivery"),
        (b'{"event": "push", "delivery": "a b", "request": {}}', "invalid delivery id"),
        (b'{"event": "push", "delivery": "d", "request": {}}', "missing field ref"),
        (
            json.dumps(
                {"event": "pull_request", "delivery": "d", "request": {"action": 1}}
            ).encode(),
            "action must be a string",
        ),
    ],
)
def test_unprocessable_messages_are_dead_lettered(
    state: BotState, body: bytes, reason: str
) -> None:
    publisher = FakePublisher()
    bot = make_bot(state, FakeGitHub(), publisher)
    msg = amqp.Message(body, "m-1", redelivered=False, headers={}, timestamp=None)
    assert reason in dead(bot.handle(msg))
    assert publisher.sent == []


def test_invalid_value_is_dead_lettered(state: BotState) -> None:
    data = payload("pull_request.opened")
    data["pull_request"]["head"]["sha"] = "$(reboot)"
    publisher = FakePublisher()
    outcome = make_bot(state, FakeGitHub(), publisher).handle(message("pull_request", data))
    assert dead(outcome) == "pull_request: invalid commit sha '$(reboot)': expected 40 hex digits"
    assert publisher.sent == []


class FailingGitHub(FakeGitHub):
    """Every pull request read fails with `error`."""

    error: Exception = ForgeNotFound('404 {"message": "Not Found"}')

    def pull(self, repo: str, number: int) -> Any:
        raise self.error


def test_github_4xx_is_dead_lettered_and_5xx_retried_by_the_broker(state: BotState) -> None:
    gh = FailingGitHub()
    publisher = FakePublisher()
    bot = make_bot(state, gh, publisher)
    outcome = bot.handle(message("issue_comment", _comment("/test", "alice"), "d-1"))
    assert dead(outcome) == "issue_comment: GitHub answered 404"
    # Not remembered either: `ouro queue replay` hands it back once the cause is fixed.
    assert not state.seen("d-1")
    gh.error = ForgeUnavailable('502 {"message": "Bad Gateway"}', 502)
    outcome = bot.handle(message("issue_comment", _comment("/test", "alice"), "d-2"))
    assert outcome == amqp.Retry('issue_comment: 502 {"message": "Bad Gateway"}')
    # Not remembered: the retried message is processed when GitHub is back.
    assert not state.seen("d-2")


def recording(waits: list[float]) -> Callable[[float], bool]:
    """A wait that returns at once, recording how long it was asked to wait."""

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    return wait


@pytest.mark.parametrize(
    "error",
    [
        # What the adapter makes of GitHub's headers is tested with it
        # (tests/tasks/test_github_reader.py); the bot waits what it is told.
        ForgeRateLimited(120.0, status=403),
        ForgeRateLimited(60.0, status=429),
        ForgeRateLimited(900.0, status=403),
    ],
)
def test_rate_limit_waits_then_requeues(
    state: BotState, error: ForgeRateLimited, caplog: pytest.LogCaptureFixture
) -> None:
    gh = FailingGitHub()
    gh.error = error
    publisher = FakePublisher()
    waits: list[float] = []
    bot = make_bot(state, gh, publisher, wait=recording(waits))
    outcome = bot.handle(message("issue_comment", _comment("/test", "alice"), "d-7"))
    assert outcome is amqp.Outcome.REQUEUE
    assert waits == [error.retry_after]
    assert publisher.sent == []
    assert not state.seen("d-7")
    assert f"delivery d-7 (issue_comment): GitHub rate limit ({error.status})" in caplog.text


def test_stop_ends_a_rate_limit_wait_promptly(state: BotState) -> None:
    gh = FailingGitHub()
    gh.error = ForgeRateLimited(900.0, status=403)
    stop = threading.Event()
    bot = make_bot(state, gh, FakePublisher(), wait=stop.wait)
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    started = time.monotonic()
    outcome = bot.handle(message("issue_comment", _comment("/test", "alice")))
    assert time.monotonic() - started < 5
    # It did wait, until the stop: not a wait skipped altogether.
    assert stop.is_set()
    assert outcome is amqp.Outcome.REQUEUE
    timer.join()


def test_github_422_is_still_dead_lettered(state: BotState) -> None:
    gh = FailingGitHub()
    gh.error = ForgeRefused(422, '422 {"message": "Validation Failed"}')
    publisher = FakePublisher()
    waits: list[float] = []
    bot = make_bot(state, gh, publisher, wait=recording(waits))
    outcome = bot.handle(message("issue_comment", _comment("/test", "alice")))
    assert dead(outcome) == "issue_comment: GitHub answered 422"
    assert waits == []


def test_scan_queues_open_prs_missing_statuses(state: BotState) -> None:
    gh = FakeGitHub()
    trusted = pull_info(number=50, sha="1" * 40, author="alice", author_association="MEMBER")
    tested = pull_info(number=51, sha="2" * 40, author="alice", author_association="MEMBER")
    gh.pulls[REPO, 50] = trusted
    gh.pulls[REPO, 51] = tested
    gh.pulls[REPO, 52] = pull_info(number=52, sha="3" * 40)  # untrusted
    gh.pulls[REPO, 53] = pull_info(number=53, sha="4" * 40, state="closed", author="alice")
    for context in ("unit-tests", "fedora-41/networking"):
        gh.post(REPO, "2" * 40, Status(context, "pending", NOT_YET_TESTED))
    gh.post(REPO, "1" * 40, Status("unit-tests", "success", "Success"))
    publisher = FakePublisher()
    bot = make_bot(state, gh, publisher)
    assert bot.scan() == 1
    assert [(j.pr, j.context) for j in publisher.jobs()] == [(50, "fedora-41/networking")]
    assert gh.latest(REPO, "3" * 40)["unit-tests"].description == MANUAL_TESTING
    # A second scan finds nothing left to do.
    assert bot.scan() == 0


def test_scan_of_one_pr_leaves_the_other_open_prs_alone(state: BotState) -> None:
    gh = FakeGitHub()
    for number, sha in ((60, "5" * 40), (61, "6" * 40)):
        gh.pulls[REPO, number] = pull_info(
            number=number, sha=sha, author="alice", author_association="MEMBER"
        )
    publisher = FakePublisher()
    bot = make_bot(state, gh, publisher)
    assert bot.scan([REPO], pr=61) == 2
    assert {j.pr for j in publisher.jobs()} == {61}
    assert gh.latest(REPO, "5" * 40) == {}


def test_state_prunes_after_retention(tmp_path: Path) -> None:
    now = [1000.0]
    store = BotState(tmp_path / "s.sqlite", retention=3 * 24 * 3600, clock=lambda: now[0])
    store.remember_delivery("old")
    store.remember_jobs([Job("j", REPO, SHA, "unit-tests", ["true"], "img", "https://x/r.git")])
    now[0] += 3 * 24 * 3600 - 1
    assert store.prune() == 0
    assert store.seen("old")
    now[0] += 2
    assert store.prune() == 2
    assert not store.seen("old")
    assert not store.job_published(REPO, SHA, "unit-tests")
    store.close()
