"""`ouro shadow report` on decision records written by hand: what it calls a difference,
what it unites, and its exit codes."""

import json
from pathlib import Path
from typing import Any

import pytest

from ouro.cli import main

SHA = "a" * 40
JOB = {"repo": "acme/widget", "sha": SHA, "context": "unit-tests", "queue": "tasks", "timeout": 60}
STATUS = {"repo": "acme/widget", "sha": SHA, "context": "unit-tests", "state": "pending"}


def line(delivery: str, outcome: str = "ack", **kinds: list[dict[str, Any]]) -> dict[str, Any]:
    empty: dict[str, list[dict[str, Any]]] = {
        "jobs": [],
        "statuses": [],
        "comments": [],
        "cancels": [],
    }
    return {"delivery": delivery, "event": "pull_request", "outcome": outcome, **empty, **kinds}


def write(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(entry) + "\n" for entry in lines))
    return path


def report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], production: list[Any], shadow: list[Any]
) -> tuple[int, list[str]]:
    code = main(
        [
            "shadow",
            "report",
            str(write(tmp_path / "production.jsonl", *production)),
            str(write(tmp_path / "shadow.jsonl", *shadow)),
        ]
    )
    return code, capsys.readouterr().out.splitlines()


def test_the_same_decisions_in_another_order_and_split_over_retries_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = {**JOB, "context": "lint"}
    production = [line("d1", jobs=[JOB, other], statuses=[STATUS])]
    # The shadow's first attempt was retried after its status; the second queued the jobs.
    shadow = [line("d1", "retry: broker", statuses=[STATUS]), line("d1", jobs=[other, JOB])]
    assert report(tmp_path, capsys, production, shadow) == (
        0,
        ["no differences (1 deliveries compared)"],
    )


def test_differences_are_named_field_by_field_or_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    comment = {"repo": "acme/widget", "number": 3, "text": "hello"}
    production = [
        line("d1", jobs=[JOB], statuses=[STATUS]),
        line("d2", comments=[comment]),
        line("d3"),
    ]
    shadow = [
        line("d1", jobs=[{**JOB, "timeout": 90}], statuses=[STATUS, STATUS]),
        line("d2", "dead letter: invalid login"),
        line("d4"),
    ]
    assert report(tmp_path, capsys, production, shadow) == (
        1,
        [
            "delivery d1 (pull_request):",
            "  jobs differ: acme/widget@aaaaaaaaaaaa unit-tests on tasks: timeout 60 → 90",
            "  statuses only in shadow: acme/widget@aaaaaaaaaaaa unit-tests: pending None",
            "delivery d2 (pull_request):",
            "  comments only in production: acme/widget#3: 'hello'",
            "  outcome: production 'ack', shadow 'dead letter: invalid login'",
            "delivery d3 (pull_request):",
            "  not in the shadow record",
            "delivery d4 (pull_request):",
            "  not in the production record",
            "4 of 4 deliveries differ",
        ],
    )


def test_a_record_that_is_no_record_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"delivery": "d1", "event": "push"}\n')
    code = main(["shadow", "report", str(broken), str(broken)])
    assert code == 2
    assert f"{broken}:1: " in capsys.readouterr().err
    assert main(["shadow", "report", str(tmp_path / "missing"), str(broken)]) == 2
