"""The store interface, the same tests for both backends over real HTTP.

`http`: the images-server in-process; `s3`: moto's S3 server on loopback.
"""

import contextlib
import hashlib
import json
import os
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
import requests

from ouro.store import InvalidPath, NotFound, Store, StoreError, StoreRefused, open_store
from ouro.store.http import HttpStore
from ouro.store.live import ChunkedLiveLog
from ouro.store.s3 import S3Store, store_error
from tests.fixtures_images import ImagesServerFixture, MotoS3, free_port


@pytest.fixture(params=["http", "s3"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    # The fixtures set OURO_STORE and the backend's settings; open_store picks by them.
    if request.param == "http":
        server: ImagesServerFixture = request.getfixturevalue("images_server")
        monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
        server.configure(monkeypatch)
    else:
        request.getfixturevalue("s3_bucket")
    opened = open_store()
    yield opened
    opened.close()


def test_bytes_round_trip(store: Store) -> None:
    store.put("images/small.img", b"\x00\x01 hello")
    assert store.get("images/small.img") == b"\x00\x01 hello"
    # Replacing is atomic and complete.
    store.put("images/small.img", b"second")
    assert store.get("images/small.img") == b"second"


def test_file_round_trip_with_checksums(store: Store, tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    source = local / "disk.qcow2"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    store.put_file("images/disk.qcow2", source)
    target = local / "downloaded.qcow2"
    store.get_to("images/disk.qcow2", target)
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )
    # No temporary file is left next to the target.
    assert sorted(p.name for p in local.iterdir()) == ["disk.qcow2", "downloaded.qcow2"]


def test_stream_with_checksum(store: Store, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    source = tmp_path / "blob"
    source.write_bytes(data)
    with source.open("rb") as file:
        store.put("logs/job-1/blob", file, sha256=hashlib.sha256(data).hexdigest())
    assert store.get("logs/job-1/blob") == data


def test_pipe_is_streamed(store: Store) -> None:
    read_end, write_end = os.pipe()
    data = os.urandom(3 * 1024 * 1024)

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    with os.fdopen(read_end, "rb") as pipe:
        store.put("images/from-pipe", pipe)
    feeder.join()
    assert store.get("images/from-pipe") == data


def test_wrong_checksum_stores_nothing(store: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        store.put("images/bad", b"content", sha256="0" * 64)
    source = tmp_path / "file"
    source.write_bytes(b"content")
    with source.open("rb") as file, pytest.raises(StoreError):
        store.put("images/bad", file, sha256="1" * 64)
    with pytest.raises(NotFound):
        store.get("images/bad")


def test_missing(store: Store, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        store.get("images/nothing")
    with pytest.raises(NotFound):
        store.get_to("images/nothing", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert store.list("logs/no-such-job/") == []


def test_list_entries_delete(store: Store) -> None:
    store.put("logs/job-2/a.txt", b"a")
    store.put("logs/job-2/deep/b/c.png", b"bb")
    store.put("logs/job-3/a.txt", b"other job")
    assert store.list("logs/job-2/") == ["logs/job-2/a.txt", "logs/job-2/deep/b/c.png"]
    sizes = {entry.path: entry.size for entry in store.entries("logs/job-2/")}
    assert sizes == {"logs/job-2/a.txt": 1, "logs/job-2/deep/b/c.png": 2}
    store.delete("logs/job-2/a.txt")
    store.delete("logs/job-2/a.txt")  # absent: no error
    assert store.list("logs/job-2/") == ["logs/job-2/deep/b/c.png"]
    store.delete("logs/job-2/")
    assert store.list("logs/job-2/") == []
    assert store.list("logs/job-3/") == ["logs/job-3/a.txt"]


def test_url_is_public_with_content_types(store: Store) -> None:
    store.put("logs/job-4/log", "naïve ✓\n".encode())
    store.put("logs/job-4/report.html", b"<p>hi</p>")
    store.put("images/disk.qcow2", b"QFI")
    with requests.get(store.url("logs/job-4/log"), timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.text == "naïve ✓\n"
    with requests.get(store.url("logs/job-4/report.html"), timeout=10) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    with requests.get(store.url("images/disk.qcow2"), timeout=10) as response:
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.content == b"QFI"


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "/etc/passwd",
        "images/../logs/x",
        "images/",
        "logs/job",
        "images/a\x00b",
        "images/a\\..\\b",
        "tmp/x",
        "logs//x",
        "images/./x",
    ],
)
def test_invalid_paths_refused(store: Store, path: str) -> None:
    with pytest.raises(InvalidPath):
        store.put(path, b"x")


def test_concurrent_uploads(store: Store) -> None:
    blobs = {f"images/parallel-{i}": os.urandom(512 * 1024 + i) for i in range(8)}
    errors: list[BaseException] = []

    def upload(path: str, data: bytes) -> None:
        try:
            store.put(path, data)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=upload, args=item) for item in blobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for path, data in blobs.items():
        assert store.get(path) == data


def _connections_to(port: int) -> int:
    """This process's TCP connections to `port` that are open (Linux: /proc)."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        # The in-process server's threads open and close sockets meanwhile.
        with contextlib.suppress(FileNotFoundError):
            ours.add(os.readlink(f"/proc/self/fd/{fd}"))
    count = 0
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port, state, inode = int(fields[2].split(":")[1], 16), fields[3], fields[9]
        if remote_port == port and state == "01" and f"socket:[{inode}]" in ours:
            count += 1
    return count


def test_threads_that_ended_leave_no_connection_open(images_server: ImagesServerFixture) -> None:
    # A worker's store serves a live-log thread per job, each with a session of its own.
    store = images_server.store()
    port = urllib.parse.urlsplit(images_server.url).port or 80
    for n in range(10):
        thread = threading.Thread(target=store.put, args=(f"logs/job-{n}/output.txt", b"log"))
        thread.start()
        thread.join()
    store.get("logs/job-9/output.txt")
    assert _connections_to(port) == 1
    store.close()
    assert _connections_to(port) == 0


def test_live_log(store: Store) -> None:
    live = ChunkedLiveLog(store, "logs/job-5/", interval=3600)
    page = store.get("logs/job-5/index.html")
    assert b"<title>Log of job-5</title>" in page
    live.write(b"line 1\n")
    live.flush()
    live.write(b"line 2\n")
    live.write("line 3 ✓\n".encode())
    live.flush()
    live.flush()  # nothing buffered: no empty chunk
    assert store.list("logs/job-5/chunks/") == [
        "logs/job-5/chunks/000001",
        "logs/job-5/chunks/000002",
    ]
    assert store.get("logs/job-5/chunks/000002") == "line 2\nline 3 ✓\n".encode()
    with pytest.raises(NotFound):
        store.get("logs/job-5/log")
    store.put("logs/job-5/screenshots/a b.png", b"PNG")
    live.write(b"the end\n")
    live.close()
    live.close()  # twice is harmless
    assert store.get("logs/job-5/log") == "line 1\nline 2\nline 3 ✓\nthe end\n".encode()
    assert json.loads(store.get("logs/job-5/attachments.json")) == ["screenshots/a b.png"]
    # Finalised: the chunks are gone, the page stays.
    assert store.list("logs/job-5/") == [
        "logs/job-5/attachments.json",
        "logs/job-5/index.html",
        "logs/job-5/log",
        "logs/job-5/screenshots/a b.png",
    ]
    with pytest.raises(ValueError, match="closed"):
        live.write(b"late")


def test_live_log_flushes_by_itself(store: Store) -> None:
    live = store.live_log("logs/job-6/")
    live.write(b"x" * (2 * 1024 * 1024))  # more than the eager limit: uploads soon
    try:
        for _ in range(200):
            if store.list("logs/job-6/chunks/"):
                break
            threading.Event().wait(0.05)
        assert store.list("logs/job-6/chunks/") == ["logs/job-6/chunks/000001"]
    finally:
        live.close()
    assert len(store.get("logs/job-6/log")) == 2 * 1024 * 1024


def test_live_log_rejects_other_folders(store: Store) -> None:
    for job_dir in ("images/x/", "logs/", "logs/a/b/", "logs/a"):
        with pytest.raises(StoreError):
            store.live_log(job_dir)


def test_unreachable_server_is_a_store_error(tmp_path: Path) -> None:
    store = HttpStore(f"http://127.0.0.1:{free_port()}", "token", backoff=(0.01, 0.01))
    try:
        with pytest.raises(StoreError, match="GET images/x"):
            store.get("images/x")
        source = tmp_path / "f"
        source.write_bytes(b"x")
        with pytest.raises(StoreError):
            store.put_file("images/x", source)
    finally:
        store.close()


def test_s3_missing_bucket_is_a_store_error(s3_bucket: str, tmp_path: Path) -> None:
    store = open_store()
    assert isinstance(store, S3Store)
    store.bucket = "no-such-bucket"
    source = tmp_path / "f"
    source.write_bytes(b"x")
    try:
        for action in (
            lambda: store.put_file("images/x", source),
            lambda: store.put("images/x", b"x"),
            lambda: store.list("images/"),
        ):
            with pytest.raises(StoreError):
                action()
    finally:
        store.close()


def test_http_wrong_token_is_refused(images_server: ImagesServerFixture, tmp_path: Path) -> None:
    # As after the upload token was revoked: no retry can help, and the caller must know.
    store = HttpStore(images_server.url, "revoked-token", backoff=(60.0,))
    source = tmp_path / "f"
    source.write_bytes(b"x")
    try:
        for action in (
            lambda: store.put("logs/job-8/log", b"x"),
            lambda: store.put_file("images/x", source),
            lambda: store.delete("logs/job-8/"),
            lambda: store.live_log("logs/job-8/"),
        ):
            with pytest.raises(StoreRefused, match="HTTP 401"):
                action()
        # Reads need no token, and a missing file is still NotFound, not a refusal.
        with pytest.raises(NotFound):
            store.get("images/x")
    finally:
        store.close()


@pytest.fixture
def s3_checking_credentials(moto_s3: MotoS3, s3_bucket: str) -> Iterator[tuple[str, str]]:
    """moto checks credentials and permissions, as AWS does, until the test ends; yields the
    key of a user it knows, who has no permission on the bucket."""
    iam = boto3.client(
        "iam",
        endpoint_url=moto_s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing-key",
        aws_secret_access_key="testing-secret",
    )
    user = "ouro-" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    iam.close()
    reset = f"{moto_s3.endpoint}/moto-api/reset-auth"
    previous = requests.post(reset, data=b"0", timeout=10).json()
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        restored = str(previous["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]).encode()
        requests.post(reset, data=restored, timeout=10).raise_for_status()


def use_s3_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_id: str, secret: str
) -> Store:
    (tmp_path / "key").write_text(key_id)
    (tmp_path / "secret").write_text(secret)
    monkeypatch.setenv("S3_ACCESS_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("S3_SECRET_KEY_FILE", str(tmp_path / "secret"))
    return open_store()


@pytest.mark.parametrize("credentials", ["unknown key", "wrong secret", "no permission"])
def test_s3_refused_credentials_are_a_refusal(
    s3_checking_credentials: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    credentials: str,
) -> None:
    key_id, secret = s3_checking_credentials
    if credentials == "unknown key":
        key_id = "AKIA" + "0" * 16
    elif credentials == "wrong secret":
        secret = "not-" + secret
    store = use_s3_credentials(tmp_path, monkeypatch, key_id, secret)
    source = tmp_path / "f"
    source.write_bytes(b"x")
    try:
        for action in (
            lambda: store.put("logs/job-9/log", b"x"),
            # Through the transfer manager, which raises its own error.
            lambda: store.put_file("images/x", source),
            lambda: store.get("images/x"),
            lambda: store.list("logs/job-9/"),
            lambda: store.live_log("logs/job-9/"),
        ):
            with pytest.raises(StoreRefused):
                action()
    finally:
        store.close()


@pytest.mark.parametrize(
    ("code", "expected"),
    [("SlowDown", StoreError), ("InternalError", StoreError), ("NoSuchKey", NotFound)],
)
def test_s3_errors_other_than_refusals(code: str, expected: type[StoreError]) -> None:
    error = botocore.exceptions.ClientError({"Error": {"Code": code}}, "PutObject")
    assert type(store_error("PUT images/x", error)) is expected
