"""Fixtures for the store: a real images-server in-process, and S3 on moto's server.

Other components' tests use `images_server` for a store their code uploads to; it
sets `IMAGES_SERVER_URL` and `IMAGES_TOKEN_FILE` (and `OURO_STORE=http`) for the test,
and `.env` holds the same for subprocesses.
"""

import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from images_server.server import ImagesServer, make_server
from ouro.store.http import HttpStore


@dataclass
class ImagesServerFixture:
    server: ImagesServer
    url: str
    token: str
    token_file: Path
    # The store directory on disk, for tests that look behind the HTTP interface.
    dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def configure(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)

    def store(self) -> HttpStore:
        """A client with the token, retrying quickly; the caller closes it."""
        return HttpStore(self.url, self.token, backoff=(0.1, 0.2))


@pytest.fixture
def images_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImagesServerFixture]:
    token = secrets.token_hex(16)
    token_file = tmp_path / "images-token"
    token_file.write_text(token + "\n")
    monkeypatch.setenv("IMAGES_TOKEN_FILE", str(token_file))
    server = make_server(0, tmp_path / "images-store")
    # A short poll interval: shutdown() at teardown waits for one.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="images-server", daemon=True
    )
    thread.start()
    fixture = ImagesServerFixture(
        server=server,
        url=server.url,
        token=token,
        token_file=token_file,
        dir=server.root,
        env={
            "OURO_STORE": "http",
            "IMAGES_SERVER_URL": server.url,
            "IMAGES_TOKEN_FILE": str(token_file),
        },
    )
    fixture.configure(monkeypatch)
    yield fixture
    server.shutdown()
    server.server_close()
    thread.join()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class MotoS3:
    endpoint: str
    key_file: Path
    secret_file: Path


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """moto's S3 as a real HTTP server on loopback (the same requests boto3 sends to AWS)."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 (slow import, few tests need it)

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    folder = tmp_path_factory.mktemp("s3-credentials")
    key_file, secret_file = folder / "access-key", folder / "secret-key"
    key_file.write_text("testing-key\n")
    secret_file.write_text("testing-secret\n")
    yield MotoS3(f"http://127.0.0.1:{port}", key_file, secret_file)
    server.stop()


@pytest.fixture
def s3_bucket(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, with `OURO_STORE=s3` and the S3 settings pointing at it."""
    bucket = "ouro-" + secrets.token_hex(6)
    monkeypatch.setenv("OURO_STORE", "s3")
    monkeypatch.setenv("S3_ENDPOINT_URL", moto_s3.endpoint)
    monkeypatch.setenv("S3_BUCKET", bucket)
    monkeypatch.setenv("S3_ACCESS_KEY_FILE", str(moto_s3.key_file))
    monkeypatch.setenv("S3_SECRET_KEY_FILE", str(moto_s3.secret_file))
    from ouro.store.s3 import S3Store  # noqa: PLC0415 (boto3 is optional)

    store = S3Store.from_config()
    store.create_bucket()
    store.close()
    return bucket
