"""The bot's and the worker's metrics: counted where the work happens, served as Prometheus'
text by `ouro.metrics.serve`, and scraped over HTTP as Prometheus would."""

import socket
from pathlib import Path

import requests
from prometheus_client import REGISTRY

from ouro import amqp, metrics
from tasks.botstate import BotState
from tasks.forge import Status
from tasks.worker.metrics import MeteredStatuses
from tests.tasks.bot_fakes import FakeGitHub, payload
from tests.tasks.test_bot import FakePublisher, make_bot, message


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def bot_counts() -> dict[str, float]:
    return {
        "processed": value("ouro_bot_events_total", event="pull_request", outcome="processed"),
        "duplicate": value("ouro_bot_events_total", event="pull_request", outcome="duplicate"),
        "dead": value("ouro_bot_events_total", event="other", outcome="dead_letter"),
        "other": value("ouro_bot_events_total", event="other", outcome="processed"),
        "kvm": value("ouro_bot_jobs_queued_total", queue="tasks.kvm"),
        "count": value("ouro_bot_event_seconds_count"),
    }


def test_bot_counts_events_by_outcome_and_jobs_by_queue(tmp_path: Path) -> None:
    state = BotState(tmp_path / "state.sqlite")
    gh = FakeGitHub()
    bot = make_bot(state, gh, FakePublisher(gh))
    before = bot_counts()
    opened = message("pull_request", payload("pull_request.opened"))
    assert bot.handle(opened) is amqp.Outcome.ACK
    assert bot.handle(opened) is amqp.Outcome.ACK  # the same delivery again
    assert isinstance(bot.handle(amqp.Message(b"[", "x", False, {}, None)), amqp.DeadLetter)
    bot.handle(message("made-up-event", {"zen": "x"}, delivery="d-made-up"))
    state.close()
    after = bot_counts()
    assert {k: after[k] - before[k] for k in before} == {
        "processed": 1, "duplicate": 1, "dead": 1, "other": 1, "kvm": 1, "count": 4,
    }  # fmt: skip


def test_worker_statuses_give_jobs_by_state_running_and_durations() -> None:
    clock = iter([100.0, 130.0, 200.0, 200.5, 201.0])
    metered = MeteredStatuses(FakeGitHub(), clock=lambda: next(clock))
    ok, bad = ("o/r", "a" * 40), ("o/r", "b" * 40)
    before_ok = value("ouro_worker_jobs_total", context="vm", state="success")
    before_count = value("ouro_worker_job_seconds_count", context="vm")
    before_sum = value("ouro_worker_job_seconds_sum", context="vm")
    running = value("ouro_worker_jobs_running")
    metered.post(*ok, Status("vm@infra#3", "pending", "In progress [w]"))
    assert value("ouro_worker_jobs_running") == running + 1
    metered.post(*ok, Status("vm@infra#3", "success", "Success [w]"))
    metered.post(*bad, Status("vm", "pending", "In progress [w]"))
    # Run again after a hand-back: still one job running, timed from its last start.
    metered.post(*bad, Status("vm", "pending", "In progress [w]"))
    assert value("ouro_worker_jobs_running") == running + 1
    metered.post(*bad, Status("vm", "failure", "Tests failed [w]"))
    assert value("ouro_worker_jobs_running") == running
    # The revision suffix does not make series of its own.
    assert value("ouro_worker_jobs_total", context="vm", state="success") == before_ok + 1
    assert value("ouro_worker_job_seconds_count", context="vm") == before_count + 2
    assert value("ouro_worker_job_seconds_sum", context="vm") == before_sum + 30 + 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_series_are_served_over_http() -> None:
    port = free_port()
    metrics.serve(port, "127.0.0.1")
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for series in (
        "ouro_bot_events_total",
        "ouro_bot_event_seconds_bucket",
        "ouro_bot_jobs_queued_total",
        "ouro_worker_jobs_running",
        "ouro_worker_job_seconds_bucket",
    ):
        assert f"# TYPE {series.removesuffix('_bucket')}" in text, series
