"""The images-server's HTTP contract, spoken to over real sockets."""

import hashlib
import http.client
import json
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from images_server.conditional import parse_range as _parse_range
from tests.fixtures_images import ImagesServerFixture
from tests.waiting import wait_until


def raw(
    server: ImagesServerFixture,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request with the path exactly as given (requests/urllib3 would normalise `..`)."""
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        all_headers = {"Content-Length": str(len(body or b""))} if method == "PUT" else {}
        all_headers |= headers or {}
        for name, value in all_headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def auth(server: ImagesServerFixture) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def test_put_get_head_delete(images_server: ImagesServerFixture) -> None:
    data = os.urandom(100_000)
    digest = hashlib.sha256(data).hexdigest()
    headers = auth(images_server) | {"X-Content-SHA256": digest}
    status, answer, _ = raw(images_server, "PUT", "/images/a.qcow2", data, headers)
    assert status == 201
    assert answer["X-Content-SHA256"] == digest
    assert (images_server.dir / "images" / "a.qcow2").read_bytes() == data

    status, answer, body = raw(images_server, "GET", "/images/a.qcow2")
    assert (status, body) == (200, data)
    assert answer["X-Content-SHA256"] == digest
    assert answer["Content-Length"] == str(len(data))
    assert answer["Accept-Ranges"] == "bytes"
    assert answer["ETag"].startswith('"')
    assert answer["Last-Modified"].endswith("GMT")

    status, head, body = raw(images_server, "HEAD", "/images/a.qcow2")
    assert (status, body) == (200, b"")
    assert head["Content-Length"] == str(len(data))
    assert head["ETag"] == answer["ETag"]

    status, _, _ = raw(images_server, "DELETE", "/images/a.qcow2", headers=auth(images_server))
    assert status == 204
    assert raw(images_server, "GET", "/images/a.qcow2")[0] == 404
    assert raw(images_server, "DELETE", "/images/a.qcow2", headers=auth(images_server))[0] == 404


def test_conditional_requests(images_server: ImagesServerFixture) -> None:
    raw(images_server, "PUT", "/logs/j1/log", b"text\n", auth(images_server))
    _, headers, _ = raw(images_server, "GET", "/logs/j1/log")
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert raw(images_server, "GET", "/logs/j1/log", headers={"If-None-Match": etag})[0] == 304
    assert raw(images_server, "GET", "/logs/j1/log", headers={"If-None-Match": '"x"'})[0] == 200
    assert (
        raw(images_server, "GET", "/logs/j1/log", headers={"If-Modified-Since": modified})[0] == 304
    )
    # A replaced file has a new ETag.
    raw(images_server, "PUT", "/logs/j1/log", b"text, more\n", auth(images_server))
    status, headers, _ = raw(images_server, "GET", "/logs/j1/log", headers={"If-None-Match": etag})
    assert status == 200
    assert headers["ETag"] != etag


def test_ranges(images_server: ImagesServerFixture) -> None:
    data = bytes(range(256)) * 40
    raw(images_server, "PUT", "/images/r", data, auth(images_server))

    def get(spec: str, **extra: str) -> tuple[int, dict[str, str], bytes]:
        return raw(images_server, "GET", "/images/r", headers={"Range": spec} | extra)

    status, headers, body = get("bytes=10-19")
    assert (status, body) == (206, data[10:20])
    assert headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert get("bytes=10000-")[2] == data[10000:]
    assert get("bytes=-5")[2] == data[-5:]
    assert get("bytes=10200-99999")[2] == data[10200:]
    status, headers, _ = get("bytes=20000-")
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{len(data)}"
    # Several ranges, or a stale If-Range: the whole file is a valid answer.
    assert get("bytes=0-1,5-6")[:3:2] == (200, data)
    assert get("bytes=0-1", **{"If-Range": '"stale"'})[:3:2] == (200, data)
    # HEAD with a range announces the part's length.
    status, headers, _ = raw(images_server, "HEAD", "/images/r", headers={"Range": "bytes=0-99"})
    assert (status, headers["Content-Length"]) == (206, "100")
    # Through requests too, as workers resuming a download would.
    with requests.get(
        f"{images_server.url}/images/r", headers={"Range": "bytes=1-3"}, timeout=10
    ) as r:
        assert (r.status_code, r.content) == (206, data[1:4])


def test_parse_range() -> None:
    assert _parse_range("bytes=0-0", 10) == (0, 0)
    assert _parse_range("bytes=5-", 10) == (5, 9)
    assert _parse_range("bytes=-20", 10) == (0, 9)
    assert _parse_range("items=0-1", 10) is None
    assert _parse_range("bytes=5-2", 10) is None
    assert _parse_range("bytes=a-b", 10) is None


def test_token_refused(images_server: ImagesServerFixture) -> None:
    wrong = {"Authorization": "Bearer not-the-token"}
    for headers in ({}, wrong, {"Authorization": images_server.token}):
        status, answer, _ = raw(images_server, "PUT", "/images/x", b"data", headers)
        assert status == 401
        assert answer["WWW-Authenticate"].startswith("Bearer")
        assert raw(images_server, "DELETE", "/images/x", headers=headers)[0] == 401
    assert not (images_server.dir / "images" / "x").exists()


def test_token_rotation(images_server: ImagesServerFixture) -> None:
    images_server.token_file.write_text("new-token\nsecond-token\n")
    assert raw(images_server, "PUT", "/images/x", b"1", auth(images_server))[0] == 401
    for token in ("new-token", "second-token"):
        headers = {"Authorization": f"Bearer {token}"}
        assert raw(images_server, "PUT", "/images/x", b"1", headers)[0] == 201


ESCAPES = [
    "/images/../images-token",
    "/images/%2e%2e/%2e%2e/images-token",
    "/images/..%2f..%2fimages-token",
    "/logs/job/../../../images-token",
    "/logs/job/%2e%2e%2f%2e%2e%2f..%2fimages-token",
    "//images-token",
    "/%2fetc/passwd",
    "/logs/job/%2fetc%2fpasswd",
    "/images/a%00b",
    "/images/..%5c..%5cimages-token",
    "/.tmp/x",
    "/images-token",
    "/etc/passwd",
    "/images/./x",
    "/images/%ff",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_path_escapes_refused(images_server: ImagesServerFixture, path: str) -> None:
    for method, body in (("GET", None), ("HEAD", None), ("PUT", b"owned"), ("DELETE", None)):
        status, _, answer = raw(images_server, method, path, body, auth(images_server))
        assert status == 400, (method, path, answer)
    assert images_server.token_file.read_text().strip() == images_server.token


def test_symlinks_out_of_the_store_refused(
    images_server: ImagesServerFixture, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    (images_server.dir / "logs" / "linked").symlink_to(outside)
    (images_server.dir / "images" / "secret").symlink_to(outside / "secret")
    assert raw(images_server, "GET", "/logs/linked/secret")[0] == 403
    assert raw(images_server, "GET", "/images/secret")[0] == 403
    assert raw(images_server, "PUT", "/logs/linked/new", b"x", auth(images_server))[0] == 403
    assert raw(images_server, "PUT", "/images/secret", b"x", auth(images_server))[0] == 403
    assert raw(images_server, "DELETE", "/logs/linked/", headers=auth(images_server))[0] == 403
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "secret"
    # Listings do not follow them either.
    listing = requests.get(f"{images_server.url}/logs/?format=json", timeout=10).json()
    assert listing["entries"] == []


def test_checksum_mismatch_stores_nothing(images_server: ImagesServerFixture) -> None:
    headers = auth(images_server) | {"X-Content-SHA256": hashlib.sha256(b"other").hexdigest()}
    status, _, body = raw(images_server, "PUT", "/images/x", b"data", headers)
    assert status == 422, body
    bad = auth(images_server) | {"X-Content-SHA256": "not-hex"}
    assert raw(images_server, "PUT", "/images/x", b"data", bad)[0] == 400
    assert not (images_server.dir / "images" / "x").exists()
    assert list((images_server.dir / ".tmp").iterdir()) == []


def test_chunked_upload(images_server: ImagesServerFixture) -> None:
    blocks = [os.urandom(70_000) for _ in range(5)]
    data = b"".join(blocks)
    headers = auth(images_server) | {"X-Content-SHA256": hashlib.sha256(data).hexdigest()}
    with requests.put(
        f"{images_server.url}/images/chunked", data=iter(blocks), headers=headers, timeout=30
    ) as response:
        assert response.status_code == 201
        assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert (images_server.dir / "images" / "chunked").read_bytes() == data


def test_put_needs_a_length(images_server: ImagesServerFixture) -> None:
    host, port = urllib.parse.urlsplit(images_server.url).netloc.split(":")
    with socket.create_connection((host, int(port))) as connection:
        token = images_server.token
        request = f"PUT /images/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
        connection.sendall(request.encode())
        assert connection.recv(100).startswith(b"HTTP/1.1 411")


@pytest.mark.parametrize("chunked", [False, True])
def test_cut_off_upload_leaves_nothing(images_server: ImagesServerFixture, chunked: bool) -> None:
    host, port = urllib.parse.urlsplit(images_server.url).netloc.split(":")
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {10 * 1024 * 1024}"
    head = (
        f"PUT /images/cut HTTP/1.1\r\nHost: x\r\n{framing}\r\n"
        f"Authorization: Bearer {images_server.token}\r\n\r\n"
    ).encode()
    part = os.urandom(1024 * 1024)
    body = f"{len(part):x}\r\n".encode() + part + b"\r\n" if chunked else part
    temporary = images_server.dir / ".tmp"
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(head + body)
        wait_until(lambda: any(temporary.iterdir()), "the upload has started")
    wait_until(lambda: not any(temporary.iterdir()), "the temporary file is removed")
    assert not (images_server.dir / "images" / "cut").exists()
    # The server still serves.
    assert raw(images_server, "PUT", "/images/cut", b"ok", auth(images_server))[0] == 201


def test_slow_unverified_upload_then_next_request(images_server: ImagesServerFixture) -> None:
    # Bodies without a checksum move socket → file in the kernel: pauses mid-body, a body
    # ending off a block boundary, and the next request on the connection must all work.
    data = os.urandom(3 * 1024 * 1024 + 5)
    host, port = urllib.parse.urlsplit(images_server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("PUT", "/images/slow")
        connection.putheader("Content-Length", str(len(data)))
        connection.putheader("Authorization", f"Bearer {images_server.token}")
        connection.endheaders(data[:100])
        for start in range(100, len(data), 1024 * 1024):
            time.sleep(0.1)
            connection.send(data[start : start + 1024 * 1024])
        response = connection.getresponse()
        assert (response.status, response.read()) == (201, b"")
        connection.request("GET", "/images/slow")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, data)
    finally:
        connection.close()


def test_readers_see_old_or_new_file(images_server: ImagesServerFixture) -> None:
    old, new = b"o" * 4_000_000, b"n" * 4_000_000
    raw(images_server, "PUT", "/images/swap", old, auth(images_server))
    stop = threading.Event()
    seen: set[bytes] = set()

    def read() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                seen.add(session.get(f"{images_server.url}/images/swap", timeout=10).content)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(5):
            raw(images_server, "PUT", "/images/swap", new, auth(images_server))
            raw(images_server, "PUT", "/images/swap", old, auth(images_server))
    finally:
        stop.set()
        reader.join()
    assert seen <= {old, new}


def test_listings(images_server: ImagesServerFixture) -> None:
    for path in ("/logs/j2/log", "/logs/j2/shots/<b>.png", "/logs/j3/log"):
        raw(images_server, "PUT", urllib.parse.quote(path), b"12", auth(images_server))

    def listing(path: str, **params: str) -> Iterator[dict[str, object]]:
        url = f"{images_server.url}{path}"
        with requests.get(url, params={"format": "json"} | params, timeout=10) as response:
            assert response.headers["Content-Type"] == "application/json"
            yield from response.json()["entries"]

    assert [e["name"] for e in listing("/")] == ["images/", "logs/"]
    assert [e["name"] for e in listing("/logs/")] == ["j2/", "j3/"]
    assert [(e["name"], e["type"]) for e in listing("/logs/j2/")] == [
        ("log", "file"),
        ("shots/", "dir"),
    ]
    assert [(e["name"], e["size"]) for e in listing("/logs/j2/", recursive="1")] == [
        ("log", 2),
        ("shots/<b>.png", 2),
    ]
    accept_json = {"Accept": "application/json"}
    with requests.get(f"{images_server.url}/logs/j2/", headers=accept_json, timeout=10) as r:
        assert json.loads(r.content)["path"] == "logs/j2/"
    with requests.get(f"{images_server.url}/logs/j2/shots/", timeout=10) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert 'href="%3Cb%3E.png"' in response.text
        assert "&lt;b&gt;.png" in response.text
    # A folder without its slash redirects, so that relative links work.
    status, headers, _ = raw(images_server, "GET", "/logs/j2")
    assert (status, headers["Location"]) == (301, "/logs/j2/")
    assert raw(images_server, "GET", "/logs/nothing/")[0] == 404
    assert raw(images_server, "GET", "/logs/j2/log/")[0] == 404


def test_content_types(images_server: ImagesServerFixture) -> None:
    for path in (
        "/logs/j/log",
        "/logs/j/chunks/000001",
        "/logs/j/x.log",
        "/logs/j/a.json",
        "/logs/j/p.png",
        "/logs/j/index.html",
        "/images/f.qcow2",
        "/logs/j/x.log.gz",
    ):
        raw(images_server, "PUT", path, b"x", auth(images_server))
    expected = {
        "/logs/j/log": "text/plain; charset=utf-8",
        "/logs/j/chunks/000001": "text/plain; charset=utf-8",
        "/logs/j/x.log": "text/plain; charset=utf-8",
        "/logs/j/a.json": "application/json; charset=utf-8",
        "/logs/j/p.png": "image/png",
        "/logs/j/index.html": "text/html; charset=utf-8",
        "/images/f.qcow2": "application/octet-stream",
        "/logs/j/x.log.gz": "application/octet-stream",
    }
    for path, kind in expected.items():
        status, headers, _ = raw(images_server, "HEAD", path)
        assert (status, headers["Content-Type"]) == (200, kind), path
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_attachments_are_sandboxed_but_not_the_log_page(
    images_server: ImagesServerFixture,
) -> None:
    sandboxed = (
        "/logs/j/evil.html",
        "/logs/j/sub/index.html",
        "/logs/j/log",
        "/logs/j/chunks/000001",
        "/logs/j/attachments.json",
    )
    for path in (*sandboxed, "/logs/j/index.html", "/images/page.html"):
        assert raw(images_server, "PUT", path, b"<script>1</script>", auth(images_server))[0] == 201
    for method in ("GET", "HEAD"):
        for path in sandboxed:
            status, headers, _ = raw(images_server, method, path)
            assert (status, headers.get("Content-Security-Policy")) == (200, "sandbox"), path
            assert headers["X-Content-Type-Options"] == "nosniff"
        for path in ("/logs/j/index.html", "/images/page.html"):
            status, headers, _ = raw(images_server, method, path)
            assert status == 200
            assert "Content-Security-Policy" not in headers, path
    # A 304 updates the headers of what the browser cached: it must carry the policy too.
    _, headers, _ = raw(images_server, "GET", "/logs/j/evil.html")
    status, answer, _ = raw(
        images_server, "GET", "/logs/j/evil.html", headers={"If-None-Match": headers["ETag"]}
    )
    assert (status, answer["Content-Security-Policy"]) == (304, "sandbox")


def test_conflicts(images_server: ImagesServerFixture) -> None:
    raw(images_server, "PUT", "/logs/j/file", b"x", auth(images_server))
    assert raw(images_server, "PUT", "/logs/j/file/inner", b"x", auth(images_server))[0] == 409
    assert raw(images_server, "PUT", "/logs/j", b"x", auth(images_server))[0] == 400
    raw(images_server, "PUT", "/logs/j/dir/inner", b"x", auth(images_server))
    assert raw(images_server, "PUT", "/logs/j/dir", b"x", auth(images_server))[0] == 409
    assert raw(images_server, "DELETE", "/logs/", headers=auth(images_server))[0] == 400
    assert raw(images_server, "DELETE", "/logs/j/", headers=auth(images_server))[0] == 204
    assert not (images_server.dir / "logs" / "j").exists()
