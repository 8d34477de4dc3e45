"""Job tokens (`IMAGES_JOB_TOKEN_FILE`): a job that names the upload secret may store images
and nothing else — not a log, not an attachment, no delete — and an operator's token still
may do everything."""

import hashlib
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from images_server.server import ImagesServer, make_server


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, str]]:
    """(URL, full token, job token)."""
    full, job = secrets.token_hex(16), secrets.token_hex(16)
    (tmp_path / "token").write_text(full + "\n")
    (tmp_path / "job-token").write_text(job + "\n")
    monkeypatch.setenv("IMAGES_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("IMAGES_JOB_TOKEN_FILE", str(tmp_path / "job-token"))
    images: ImagesServer = make_server(0, tmp_path / "store")
    thread = threading.Thread(target=images.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield images.url, full, job
    images.shutdown()
    images.server_close()
    thread.join()


def put(url: str, path: str, token: str, body: bytes = b"data") -> int:
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Content-SHA256": hashlib.sha256(body).hexdigest(),
    }
    return requests.put(f"{url}/{path}", data=body, headers=headers, timeout=10).status_code


def test_a_job_token_uploads_images_only(server: tuple[str, str, str]) -> None:
    url, _, job = server
    assert put(url, "images/sample-abc.qcow2", job) in (200, 201)
    assert requests.get(f"{url}/images/sample-abc.qcow2", timeout=10).content == b"data"
    assert put(url, "logs/some-job/log", job) == 403
    assert put(url, "logs/some-job/index.html", job) == 403
    delete = requests.delete(
        f"{url}/images/sample-abc.qcow2", headers={"Authorization": f"Bearer {job}"}, timeout=10
    )
    assert delete.status_code == 403
    assert requests.get(f"{url}/images/sample-abc.qcow2", timeout=10).status_code == 200


def test_the_operator_token_still_does_everything(server: tuple[str, str, str]) -> None:
    url, full, _ = server
    assert put(url, "logs/some-job/log", full) in (200, 201)
    assert put(url, "images/x.qcow2", full) in (200, 201)
    delete = requests.delete(
        f"{url}/images/x.qcow2", headers={"Authorization": f"Bearer {full}"}, timeout=10
    )
    assert delete.status_code == 204


def test_an_unknown_token_is_refused_as_before(server: tuple[str, str, str]) -> None:
    url, _, _ = server
    assert put(url, "images/y.qcow2", "not-a-token") == 401
