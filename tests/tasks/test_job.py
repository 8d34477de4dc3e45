"""The job message: a round trip, and refusal of every field of the wrong shape."""

import contextlib
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


def test_revisions_and_refreshes_round_trip() -> None:
    other = "c" * 40
    tried = job(
        context="vm@infra#12", source_url="http://127.0.0.1:8000/octo/product.git",
        source_sha=other, tooling_url="http://127.0.0.1:8000/octo/infra.git", tooling_sha=SHA,
    )  # fmt: skip
    assert Job.from_json(tried.to_json()) == tried
    assert (tried.checkout_url, tried.checkout_sha) == (tried.source_url, other)
    refresh = job(context="image-refresh/fedora-41", refresh="fedora-41", push_branch="img")
    assert Job.from_json(refresh.to_json()) == refresh
    assert (refresh.checkout_url, refresh.checkout_sha) == (refresh.clone_url, SHA)
    on_issue = job(pr=None, refresh="a", push_branch="image-refresh/a-0123", issue=3)
    assert Job.from_json(on_issue.to_json()) == on_issue


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
        ({"context": "vm@infra#1;x"}, "context"),
        ({"source_url": "http://x/r.git"}, "both a URL and a sha"),
        ({"tooling_sha": SHA}, "both a URL and a sha"),
        ({"tooling_url": "file:///etc", "tooling_sha": SHA}, "clone URL"),
        ({"source_url": "http://x/r.git", "source_sha": "main"}, "sha"),
        ({"refresh": "../x", "push_branch": "b"}, "image name"),
        ({"refresh": "x"}, "branch to push to"),
        ({"refresh": "x", "push_branch": "-f"}, "ref"),
        ({"issue": 0}, "pull request number"),
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


# Values of every JSON type and of hostile shapes, for every field (issue 15: `created:
# "soon"` or null, `secrets: [5]` and deep nesting made the worker loop on its message).
NASTY: list[Any] = [
    None,
    True,
    0,
    -1,
    2**64,
    1.5,
    1e308,
    "",
    "soon",
    "dave\ud800",
    [],
    [5],
    [None],
    ["a", 5],
    {},
    {"a": 5},
    {"a": None},
    [[[[]]]],
]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("field", sorted(json.loads(job().to_json())))
def test_any_value_of_any_field_gives_a_job_or_a_clear_rejection(field: str) -> None:
    template = json.loads(job().to_json())
    bodies = [json.dumps({**template, field: value}).encode() for value in NASTY]
    text = json.dumps(template)
    bodies += [
        text.replace(f'"{field}": ', f'"{field}": {nested(1000)}, "x": ', 1).encode(),
        json.dumps({k: v for k, v in template.items() if k != field}).encode(),
    ]
    for body in bodies:
        try:
            parsed = Job.from_json(body)
        except (PayloadError, InvalidValue):
            continue
        # Accepted: then it is a job that survives its own round trip.
        assert Job.from_json(parsed.to_json()) == parsed


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (lambda d: {**d, "created": "soon"}, "created must be a number"),
        (lambda d: {**d, "created": None}, "created must be a number"),
        (lambda d: {**d, "secrets": [5]}, r"secrets\[0\] must be a string"),
        (lambda d: {**d, "command": ["make", 5]}, r"command\[1\] must be a string"),
    ],
)
def test_issue_15_job_messages_are_rejected_clearly(body: Any, reason: str) -> None:
    data = body(json.loads(job().to_json()))
    with pytest.raises(PayloadError, match=reason):
        Job.from_json(json.dumps(data).encode())


def test_deep_and_undecodable_job_messages_are_rejected_clearly() -> None:
    with pytest.raises(PayloadError, match="nested too deeply"):
        Job.from_json(f'{{"id": {nested(1000)}}}'.encode())
    with pytest.raises(PayloadError, match="not JSON"):
        Job.from_json(b'{"id": "\xc3\x28"}')
    with pytest.raises(PayloadError, match="not valid Unicode"):
        Job.from_json(job().to_json().replace(b'"main"', b'"ma\\udc80in"'))


@pytest.mark.parametrize("field", ["repo", "pr", "keep_sha", "reason"])
def test_any_cancel_message_gives_a_cancel_or_a_clear_rejection(field: str) -> None:
    template = json.loads(Cancel("octo/demo", 7, "f" * 40, "new push").to_json())
    for value in NASTY:
        with contextlib.suppress(PayloadError, InvalidValue):
            Cancel.from_json(json.dumps({**template, field: value}).encode())
    with pytest.raises(PayloadError, match="nested too deeply"):
        Cancel.from_json(f'{{"repo": {nested(1000)}}}'.encode())
