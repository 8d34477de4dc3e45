"""The images-server's `/metrics`: requests by method and answer, bytes stored and served,
scraped over HTTP as Prometheus would."""

import re

import requests

from tests.fixtures_images import ImagesServerFixture


def samples(server: ImagesServerFixture) -> dict[str, float]:
    answer = requests.get(f"{server.url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = re.findall(r"^(ouro_images_\S+) (\S+)$", answer.text, flags=re.MULTILINE)
    return {name: float(number) for name, number in found}


def test_requests_and_bytes_are_counted(images_server: ImagesServerFixture) -> None:
    store = images_server.store()
    try:
        store.put("images/a.txt", b"x" * 1000)
        assert store.get("images/a.txt") == b"x" * 1000
    finally:
        store.close()
    missing = requests.get(f"{images_server.url}/images/none", timeout=10)
    assert missing.status_code == 404
    unauthorized = requests.put(f"{images_server.url}/images/b", data=b"1", timeout=10)
    assert unauthorized.status_code == 401
    found = samples(images_server)
    assert found['ouro_images_requests_total{code="201",method="PUT"}'] == 1
    assert found['ouro_images_requests_total{code="200",method="GET"}'] == 1
    assert found['ouro_images_requests_total{code="404",method="GET"}'] == 1
    assert found['ouro_images_requests_total{code="401",method="PUT"}'] == 1
    assert found['ouro_images_bytes_total{direction="received"}'] == 1000
    assert found['ouro_images_bytes_total{direction="sent"}'] == 1000
