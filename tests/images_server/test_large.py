"""A 2 GiB upload through a real `ouro images-server` process, watching its memory."""

import hashlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures_images import free_port

MiB = 1024 * 1024
BLOCK = MiB
ROOT = Path(__file__).resolve().parents[2]
# The checkout's code, even where the editable install predates the images-server folder.
PYTHONPATH = os.pathsep.join([str(ROOT), str(ROOT / "images-server")])


@dataclass
class ServerProcess:
    process: "subprocess.Popen[bytes]"
    port: int
    token: str
    dir: Path

    def memory(self, field: str) -> int:
        """`VmRSS` (now) or `VmHWM` (peak) of the server, in bytes."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} in /proc/{self.process.pid}/status")


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    token_file = tmp_path / "token"
    token_file.write_text("large-upload-token\n")
    port = free_port()
    store = tmp_path / "store"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "images_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(store),
        ],
        env=os.environ | {"IMAGES_TOKEN_FILE": str(token_file), "PYTHONPATH": PYTHONPATH},
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except ConnectionRefusedError:
                assert process.poll() is None, "the server exited"
                time.sleep(0.05)
        yield ServerProcess(process, port, "large-upload-token", store)
    finally:
        process.terminate()
        process.wait(30)


def upload(server: ServerProcess, name: str, count: int, *, chunked: bool) -> str:
    digest = hashlib.sha256()
    # The same seed twice: once to know the checksum, once to send.
    seed = os.urandom(16)
    for block in seeded_blocks(seed, count):
        digest.update(block)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    try:
        connection.putrequest("PUT", f"/images/{name}")
        connection.putheader("Authorization", f"Bearer {server.token}")
        connection.putheader("X-Content-SHA256", digest.hexdigest())
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        else:
            connection.putheader("Content-Length", str(count * BLOCK))
        connection.endheaders()
        for block in seeded_blocks(seed, count):
            connection.send(b"%x\r\n%b\r\n" % (len(block), block) if chunked else block)
        if chunked:
            connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        assert response.status == 201, response.read()
        assert response.getheader("X-Content-SHA256") == digest.hexdigest()
        response.read()
    finally:
        connection.close()
    return digest.hexdigest()


def seeded_blocks(seed: bytes, count: int) -> Iterator[bytes]:
    block = bytearray(hashlib.shake_256(seed).digest(BLOCK))
    for number in range(count):
        block[:8] = number.to_bytes(8, "big")
        yield bytes(block)


def test_2gib_upload_memory_stays_flat(server_process: ServerProcess) -> None:
    before = server_process.memory("VmRSS")
    upload(server_process, "big.img", 2048, chunked=False)
    upload(server_process, "big-chunked.img", 1024, chunked=True)
    growth = server_process.memory("VmHWM") - before
    assert growth < 64 * MiB, f"the server's RSS grew by {growth / MiB:.0f} MiB"
    stored = server_process.dir / "images" / "big.img"
    assert stored.stat().st_size == 2048 * MiB
    assert (server_process.dir / "images" / "big-chunked.img").stat().st_size == 1024 * MiB
    assert list((server_process.dir / ".tmp").iterdir()) == []
