"""`GET /status.json` of a real images-server: records read from its disk (a malformed one
left out, a changed one read again), and the broker's absence said rather than hidden."""

import json
import time

import pytest
import requests

from images_server import status
from ouro.jsonutil import PayloadError
from ouro.store.jobrecord import JobRecord
from tests.fixtures_images import ImagesServerFixture
from tests.rabbitmq import free_port


def record(job: str, **changes: object) -> JobRecord:
    values: dict[str, object] = {
        "id": job, "repo": "acme/widget", "sha": "a" * 40, "context": "unit-tests",
        "worker": "w1", "queue": "tasks.kvm", "log_url": f"http://store/logs/{job}/index.html",
        "created": 100.0, "started": 110.0, "pr": 3,
    }  # fmt: skip
    return JobRecord(**{**values, **changes})  # type: ignore[arg-type]


def test_status_lists_records_and_says_the_broker_is_unreachable(
    images_server: ImagesServerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMQP_URL", f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")
    monkeypatch.setattr(status, "FRESH", 0.0)
    store = images_server.store()
    try:
        store.put("logs/one/job.json", record("one").to_json())
        store.put("logs/two/job.json", record("two", state="success", finished=120.0).to_json())
        store.put("logs/bad/job.json", b'{"id": "bad"}')
        answer = requests.get(images_server.url + "/status.json", timeout=30).json()
        assert [job["id"] for job in answer["running"]] == ["one"]
        assert [(job["id"], job["state"]) for job in answer["results"]] == [("two", "success")]
        assert answer["queues"] == []
        assert "cannot connect to the broker" in answer["broker_error"]

        time.sleep(0.01)  # a new modification time, as a record written later has
        ended = record("one", state="failure", description="Failed [w1]", finished=130.0)
        store.put("logs/one/job.json", ended.to_json())
        answer = requests.get(images_server.url + "/status.json", timeout=30).json()
    finally:
        store.close()
    assert answer["running"] == []
    assert [job["id"] for job in answer["results"]] == ["one", "two"]
    page = requests.get(images_server.url + "/status", timeout=30)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "status.json" in page.text


def test_record_round_trips_and_refuses_what_no_worker_wrote() -> None:
    written = record("one", state="error", finished=5.5, pr=None)
    assert JobRecord.from_json(written.to_json()) == written
    broken = json.loads(written.to_json())
    broken["started"] = "soon"
    with pytest.raises(PayloadError, match="started must be a number"):
        JobRecord.from_json(json.dumps(broken).encode())
