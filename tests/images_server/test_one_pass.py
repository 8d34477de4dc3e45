"""The one-pass paths: uploads spliced and hashed behind the writes (checksum as a header or
a chunked body's trailer), `put_file`/`get_to` straight over a socket, `sendfile` ranges."""

import hashlib
import os
import socket
import urllib.parse
from pathlib import Path

import pytest
import requests

from ouro.store import StoreError, StoreRefused
from ouro.store.http import HttpStore
from tests.fixtures_images import ImagesServerFixture
from tests.images_server.test_server import auth, raw
from tests.waiting import wait_until

MiB = 1024 * 1024


def send(server: ImagesServerFixture, head: str, body: bytes) -> bytes:
    """A raw PUT (head without the final empty line); the answer's first line."""
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head.encode() + b"\r\n" + body)
        return connection.makefile("rb").readline()


def trailed(server: ImagesServerFixture, name: str) -> str:
    return (
        f"PUT /images/{name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
        "Transfer-Encoding: chunked\r\nTrailer: X-Content-SHA256\r\n"
    )


def chunks(*parts: bytes) -> bytes:
    return b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in parts)


def test_trailer_checksum(images_server: ImagesServerFixture) -> None:
    parts = [os.urandom(3 * MiB + 7), os.urandom(100), os.urandom(MiB)]
    digest = hashlib.sha256(b"".join(parts)).hexdigest()
    body = chunks(*parts) + f"0\r\nX-Content-SHA256: {digest}\r\n\r\n".encode()
    assert send(images_server, trailed(images_server, "t"), body).startswith(b"HTTP/1.1 201")
    assert (images_server.dir / "images" / "t").read_bytes() == b"".join(parts)
    answer = requests.head(f"{images_server.url}/images/t", timeout=10)
    assert answer.headers["X-Content-SHA256"] == digest


@pytest.mark.parametrize(
    ("trailer", "status"),
    [
        (f"X-Content-SHA256: {hashlib.sha256(b'other').hexdigest()}\r\n", b"422"),
        ("", b"400"),  # announced, never sent
        ("X-Content-SHA256: not-hex\r\n", b"400"),
    ],
)
def test_trailer_mismatch_stores_nothing(
    images_server: ImagesServerFixture, trailer: str, status: bytes
) -> None:
    body = chunks(os.urandom(2 * MiB)) + f"0\r\n{trailer}\r\n".encode()
    assert send(images_server, trailed(images_server, "bad"), body).split()[1] == status
    assert not (images_server.dir / "images" / "bad").exists()
    assert list((images_server.dir / ".tmp").iterdir()) == []


def test_large_header_checksum_mismatch(images_server: ImagesServerFixture) -> None:
    # Spliced into the file and hashed behind: the mismatch is still found before the rename.
    data = os.urandom(5 * MiB)
    wrong = auth(images_server) | {"X-Content-SHA256": hashlib.sha256(data[1:]).hexdigest()}
    assert raw(images_server, "PUT", "/images/big", data, wrong)[0] == 422
    assert not (images_server.dir / "images" / "big").exists()
    right = auth(images_server) | {"X-Content-SHA256": hashlib.sha256(data).hexdigest()}
    assert raw(images_server, "PUT", "/images/big", data, right)[0] == 201
    assert (images_server.dir / "images" / "big").read_bytes() == data


def test_cut_off_trailed_upload_leaves_nothing(images_server: ImagesServerFixture) -> None:
    host, port = urllib.parse.urlsplit(images_server.url).netloc.split(":")
    temporary = images_server.dir / ".tmp"
    with socket.create_connection((host, int(port))) as connection:
        head = trailed(images_server, "cut") + "\r\n"
        connection.sendall(head.encode() + f"{8 * MiB:x}\r\n".encode() + os.urandom(MiB))
        wait_until(lambda: any(temporary.iterdir()), "the upload has started")
    wait_until(lambda: not any(temporary.iterdir()), "the temporary file is removed")
    assert not (images_server.dir / "images" / "cut").exists()


def test_put_file_and_get_to(images_server: ImagesServerFixture, tmp_path: Path) -> None:
    source = tmp_path / "image.qcow2"
    source.write_bytes(os.urandom(3 * MiB + 11))
    store = images_server.store()
    try:
        store.put_file("images/one.qcow2", source)
        stored = images_server.dir / "images" / "one.qcow2"
        assert stored.read_bytes() == source.read_bytes()
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        assert os.getxattr(stored, "user.ouro.sha256").decode() == digest
        store.get_to("images/one.qcow2", tmp_path / "down")
        assert (tmp_path / "down").read_bytes() == source.read_bytes()
        empty = tmp_path / "empty"
        empty.write_bytes(b"")
        store.put_file("images/empty", empty)
        store.get_to("images/empty", tmp_path / "empty-down")
        assert (tmp_path / "empty-down").read_bytes() == b""
    finally:
        store.close()


def test_get_to_refuses_a_damaged_file(images_server: ImagesServerFixture, tmp_path: Path) -> None:
    source = tmp_path / "image"
    source.write_bytes(os.urandom(2 * MiB))
    store = HttpStore(images_server.url, images_server.token, backoff=())
    try:
        store.put_file("images/damaged", source)
        stored = images_server.dir / "images" / "damaged"
        with stored.open("r+b") as file:  # the same inode: its xattr stays
            file.seek(MiB)
            file.write(b"x")
        target = tmp_path / "out" / "damaged"
        target.parent.mkdir()
        with pytest.raises(StoreError, match="checksum mismatch"):
            store.get_to("images/damaged", target)
        assert list(target.parent.iterdir()) == []
    finally:
        store.close()


def test_put_file_with_a_wrong_token_is_refused(
    images_server: ImagesServerFixture, tmp_path: Path
) -> None:
    source = tmp_path / "image"
    source.write_bytes(os.urandom(16 * MiB))
    store = HttpStore(images_server.url, "wrong", backoff=())
    try:
        with pytest.raises(StoreRefused, match="401"):
            store.put_file("images/refused", source)
    finally:
        store.close()
    assert not (images_server.dir / "images" / "refused").exists()


def test_sendfile_range_of_a_large_file(images_server: ImagesServerFixture) -> None:
    data = os.urandom(4 * MiB)
    assert raw(images_server, "PUT", "/images/r", data, auth(images_server))[0] == 201
    first, last = MiB - 3, 3 * MiB + 5
    status, headers, body = raw(
        images_server, "GET", "/images/r", headers={"Range": f"bytes={first}-{last}"}
    )
    assert status == 206
    assert headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
    assert body == data[first : last + 1]
    status, _, body = raw(images_server, "GET", "/images/r", headers={"Range": "bytes=-7"})
    assert (status, body) == (206, data[-7:])


def test_only_plain_http_without_a_proxy_goes_straight_over_a_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Over TLS the kernel would splice the encrypted bytes; a proxy must see the request.
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert HttpStore("http://images.test:8080", None)._direct()
    assert not HttpStore("https://images.test", None)._direct()
    monkeypatch.setenv("http_proxy", "http://proxy.test:3128")
    assert not HttpStore("http://images.test:8080", None)._direct()
