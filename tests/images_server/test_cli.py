"""`ouro image …` against the real images-server, and prune's rules on both backends."""

import os
import time
from pathlib import Path

import pytest

from ouro.cli import main
from ouro.store import Store, open_store
from ouro.store.cli import DAY, prune
from tests.fixtures_images import ImagesServerFixture


def test_upload_list_download(
    images_server: ImagesServerFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "fedora-41-abc.qcow2"
    image.write_bytes(os.urandom(300_000))
    assert main(["image", "upload", str(image), "--ref", "fedora-41"]) == 0
    assert capsys.readouterr().out == f"{images_server.url}/images/fedora-41-abc.qcow2\n"
    assert main(["image", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fedora-41-abc.qcow2\t300000\t")
    assert out.endswith("← fedora-41\n")
    # Download by alias.
    target = tmp_path / "out.qcow2"
    assert main(["image", "download", "fedora-41", "-o", str(target)]) == 0
    assert target.read_bytes() == image.read_bytes()


def test_errors_are_one_line(
    images_server: ImagesServerFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(["image", "download", "missing", "-o", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err == "ouro image download: images/missing does not exist\n"
    wrong = tmp_path / "wrong-token"
    wrong.write_text("another-token\n")
    monkeypatch.setenv("IMAGES_TOKEN_FILE", str(wrong))
    image = tmp_path / "i"
    image.write_bytes(b"x")
    assert main(["image", "upload", str(image)]) == 1
    assert "HTTP 401" in capsys.readouterr().err


def test_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OURO_STORE", "ftp")
    assert main(["image", "list"]) == 2
    assert (
        capsys.readouterr().err == "Configuration error: OURO_STORE must be http or s3, not 'ftp'\n"
    )


def test_prune_on_the_server(images_server: ImagesServerFixture, tmp_path: Path) -> None:
    store = images_server.store()
    try:
        for name in ("old", "old-referenced", "old-kept", "new"):
            store.put(f"images/{name}", b"disk")
        store.put("images/refs/stable", b"old-referenced\n")
        store.put("logs/old-job/log", b"done")
        store.put("logs/new-job/log", b"done")
        aged = time.time() - 10 * DAY
        for path in (
            "images/old",
            "images/old-referenced",
            "images/old-kept",
            "images/refs/stable",
            "logs/old-job/log",
        ):
            os.utime(images_server.dir / path, (aged, aged))
        keep = tmp_path / "keep"
        keep.write_text("old-kept\n")
        assert main(["image", "prune", "--days", "7", "--keep", str(keep), "--dry-run"]) == 0
        assert len(store.list("images/")) == 5
        assert main(["image", "prune", "--days", "7", "--keep", str(keep), "--log-days", "7"]) == 0
        assert store.list("images/") == [
            "images/new",
            "images/old-kept",
            "images/old-referenced",
            "images/refs/stable",
        ]
        assert store.list("logs/") == ["logs/new-job/log"]
    finally:
        store.close()


def test_prune_on_s3(s3_bucket: str) -> None:
    store: Store = open_store()
    try:
        store.put("images/a", b"1")
        store.put("images/b", b"2")
        store.put("images/refs/current", b"b")
        store.put("logs/job/log", b"x")
        assert prune(store, days=7, log_days=7) == []
        later = time.time() + 8 * DAY
        assert prune(store, days=7, log_days=7, now=later) == ["images/a", "logs/job/"]
        assert store.list("images/") == ["images/b", "images/refs/current"]
        assert store.list("logs/") == []
    finally:
        store.close()
