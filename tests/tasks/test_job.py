"""The job message: a round trip, and refusal of every field of the wrong shape."""

import json
from typing import Any

import pytest

from ouro import queues
from ouro.jsonutil import PayloadError
from ouro.validate import InvalidValue
from tasks.cancel import Cancel
from tasks.job import Job

SHA = "0123456789abcdef0123456789abcdef01234567"


def job(**changes: Any) -> Job:
    fields: dict[str, Any] = {
        "id": "unit-tests-0123456789ab-x1",
        "repo": "octo/demo",
        "sha": SHA,
        "context": "unit-tests",
        "command": [".ci/run"],
        "image": "localhost/ouro-job:latest",
        "clone_url": "http://127.0.0.1:8000/octo/demo.git",
        "pr": 7,
        "base_ref": "main",
        "env": {"TEST_OS": "fedora-41"},
        "secrets": ["s3-creds"],
    }
    fields.update(changes)
    return Job(**fields)


def test_round_trip_keeps_every_field() -> None:
    original = job(capability="kvm", priority=8, timeout=60)
    assert Job.from_json(original.to_json()) == original
    assert original.queue == "tasks.kvm"
    assert original.log == "logs/unit-tests-0123456789ab-x1/"


def test_jobs_without_capability_go_to_the_shared_queue() -> None:
    assert job().queue == queues.TASKS


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"command": []}, "command"),
        ({"command": ["ok", "a\x00b"]}, "command"),
        ({"image": "Bad Image"}, "image"),
        ({"clone_url": "file:///etc"}, "clone URL"),
        ({"clone_url": "http://x/ y"}, "clone URL"),
        ({"env": {"A B": "x"}}, "environment"),
        ({"secrets": ["../token"]}, "secret"),
        ({"timeout": 0}, "timeout"),
        ({"priority": 10}, "priority"),
        ({"base_ref": "a..b"}, "ref"),
        ({"sha": "HEAD"}, "sha"),
    ],
)
def test_invalid_fields_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        job(**changes)


def test_malformed_messages_name_the_problem() -> None:
    data = json.loads(job().to_json())
    del data["repo"]
    with pytest.raises(PayloadError, match="missing field repo"):
        Job.from_json(json.dumps(data).encode())
    with pytest.raises(PayloadError, match="not JSON"):
        Job.from_json(b"\xff")
    with pytest.raises(PayloadError, match="not a JSON object"):
        Job.from_json(b"[]")
    data = json.loads(job().to_json())
    data["env"] = {"A": 1}
    with pytest.raises(PayloadError, match="env values"):
        Job.from_json(json.dumps(data).encode())


def test_cancel_applies_to_other_shas_of_the_same_pr() -> None:
    cancel = Cancel(repo="octo/demo", pr=7, keep_sha="f" * 40, reason="new push")
    assert Cancel.from_json(cancel.to_json()) == cancel
    assert cancel.applies_to("octo/demo", 7, SHA)
    assert not cancel.applies_to("octo/demo", 7, "f" * 40)
    assert not cancel.applies_to("octo/demo", 8, SHA)
    assert not cancel.applies_to("octo/other", 7, SHA)
    closed = Cancel(repo="octo/demo", pr=7, keep_sha=None, reason="closed")
    assert closed.applies_to("octo/demo", 7, "f" * 40)
