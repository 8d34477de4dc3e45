"""Content-addressed images on a real images-server, through the host cache."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from images_server.server import Handler
from ouro.store import file_sha256
from tests.fixtures_images import ImagesServerFixture
from tests.vm.conftest import ROOT, BuiltImage, vm_env
from vm import remote
from vm.cache import ImageCache
from vm.errors import VmError
from vm.imagefiles import ImageFiles, ImageRef, read_reference
from vm.manifest import FORMAT

MiB = 1 << 20


def fake_image(folder: Path, size: int) -> ImageFiles:
    """Four files shaped like a build's: enough for the store and the cache."""
    folder.mkdir(parents=True, exist_ok=True)
    files = ImageFiles(folder / "image.qcow2")
    files.qcow2.write_bytes(b"QFI\xfb" + os.urandom(size - 4))
    files.kernel.write_bytes(os.urandom(MiB))
    files.initrd.write_bytes(os.urandom(MiB // 2))
    entries = {
        kind: {"size": path.stat().st_size, "sha256": file_sha256(path)}
        for kind, path in (
            ("qcow2", files.qcow2),
            ("kernel", files.kernel),
            ("initrd", files.initrd),
        )
    }
    files.manifest.write_text(json.dumps({"format": FORMAT, "files": entries}))
    return files


# Seconds the images-server waits before answering a GET of these paths.
SLOW: dict[str, float] = {}


@pytest.fixture
def gets(images_server: ImagesServerFixture) -> Iterator[list[str]]:
    """The paths of the GET requests the images-server answers from now on."""
    seen: list[str] = []

    class Counting(Handler):
        def do_GET(self) -> None:
            path = self.path.removeprefix("/")
            seen.append(path)
            time.sleep(SLOW.get(path, 0))
            super().do_GET()

    images_server.server.RequestHandlerClass = Counting
    yield seen
    SLOW.clear()


def upload(images_server: ImagesServerFixture, files: ImageFiles, name: str) -> ImageRef:
    store = images_server.store()
    try:
        return remote.upload(store, files.qcow2, name)
    finally:
        store.close()


def fetch(cache: ImageCache, value: str) -> ImageFiles:
    with remote.resolve(value, cache) as files:
        return files


def test_upload_then_fetch_twice_downloads_once(
    images_server: ImagesServerFixture, gets: list[str], tmp_path: Path
) -> None:
    image = fake_image(tmp_path / "build", 3 * MiB)
    ref = upload(images_server, image, "debian-test")
    sha = file_sha256(image.qcow2)
    assert ref.file_name == f"debian-test-{sha}.qcow2"
    stored = sorted(path.name for path in (images_server.dir / "images").iterdir())
    assert stored == [
        f"debian-test-{sha}{suffix}"
        for suffix in (".initrd", ".manifest.json", ".qcow2", ".vmlinuz")
    ]
    ref_file = tmp_path / "repo" / "images" / "debian-test"
    remote.write_reference(ref_file, ref)
    assert ref_file.read_text() == ref.file_name + "\n"
    assert read_reference(str(ref_file)) == ref

    cache = ImageCache(tmp_path / "cache", 100 * MiB)
    files = fetch(cache, str(ref_file))
    assert files.qcow2 == tmp_path / "cache" / sha / "image.qcow2"
    for kind in ("qcow2", "kernel", "initrd"):
        assert getattr(files, kind).read_bytes() == getattr(image, kind).read_bytes()
    assert sorted(gets) == sorted(
        ref.store_path(kind) for kind in ("qcow2", "kernel", "initrd", "manifest")
    )
    gets.clear()
    assert fetch(cache, ref.file_name) == files
    assert gets == []


def test_a_corrupt_cached_file_is_fetched_again(
    images_server: ImagesServerFixture, gets: list[str], tmp_path: Path
) -> None:
    image = fake_image(tmp_path / "build", 2 * MiB)
    ref = upload(images_server, image, "corrupt")
    cache = ImageCache(tmp_path / "cache", 100 * MiB)
    files = fetch(cache, ref.file_name)
    with files.qcow2.open("r+b") as file:
        file.seek(MiB)
        file.write(b"bit rot")
    files.manifest.write_text("{")
    gets.clear()
    fetch(cache, ref.file_name)
    assert sorted(gets) == sorted([ref.store_path("qcow2"), ref.store_path("manifest")])
    assert file_sha256(files.qcow2) == ref.sha256


def test_eviction_keeps_the_cache_under_its_bound(
    images_server: ImagesServerFixture, tmp_path: Path
) -> None:
    refs = [
        upload(images_server, fake_image(tmp_path / str(n), 4 * MiB), f"img{n}") for n in range(3)
    ]
    # Room for two entries (5.5 MiB each), not three.
    cache = ImageCache(tmp_path / "cache", 12 * MiB)
    fetch(cache, refs[0].file_name)
    fetch(cache, refs[1].file_name)
    fetch(cache, refs[0].file_name)  # used again: now refs[1] is the least recently used
    fetch(cache, refs[2].file_name)
    assert {entry[1] for entry in cache.entries()} == {refs[0].sha256, refs[2].sha256}
    assert sum(entry[2] for entry in cache.entries()) <= 12 * MiB


def test_an_image_in_use_is_not_evicted(images_server: ImagesServerFixture, tmp_path: Path) -> None:
    refs = [
        upload(images_server, fake_image(tmp_path / str(n), 4 * MiB), f"use{n}") for n in range(2)
    ]
    cache = ImageCache(tmp_path / "cache", 6 * MiB)
    with remote.resolve(refs[0].file_name, cache) as in_use:
        fetch(cache, refs[1].file_name)
        assert in_use.qcow2.exists()
        assert len(cache.entries()) == 2
    # Released: the next eviction may take it.
    assert cache.evict(keep=refs[1].sha256) == [refs[0].sha256]


def test_two_processes_fetching_at_once_download_once(
    images_server: ImagesServerFixture, gets: list[str], tmp_path: Path
) -> None:
    ref = upload(images_server, fake_image(tmp_path / "build", 8 * MiB), "concurrent")
    # The image's download takes a second: long enough for the other process to want it too.
    SLOW[ref.store_path("qcow2")] = 1.0
    env = vm_env(**images_server.env)
    command = [
        sys.executable,
        "-m",
        "vm",
        "fetch",
        ref.file_name,
        "--cache",
        str(tmp_path / "cache"),
    ]
    processes = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0] == f"{tmp_path / 'cache' / ref.sha256 / 'image.qcow2'}\n"
    assert gets.count(ref.store_path("qcow2")) == 1
    assert len(gets) == 4
    logs = sorted(error for _, error in outputs)
    # One downloaded; the other waited on the entry's lock, then found it complete.
    assert [f"{ref.file_name} is cached" in log for log in logs].count(True) == 1
    assert [f"fetched {ref.file_name}" in log for log in logs].count(True) == 1


def test_a_tampered_download_is_refused(images_server: ImagesServerFixture, tmp_path: Path) -> None:
    ref = upload(images_server, fake_image(tmp_path / "build", MiB), "tampered")
    # A new file without the server's recorded checksum: only our own check can notice.
    stored = images_server.dir / ref.store_path("kernel")
    stored.unlink()
    stored.write_bytes(os.urandom(MiB))
    cache = ImageCache(tmp_path / "cache", 100 * MiB)
    with pytest.raises(VmError, match=r"vmlinuz: downloaded sha256 [0-9a-f]{64} does not match"):
        fetch(cache, ref.file_name)
    assert not (tmp_path / "cache" / ref.sha256 / "image.vmlinuz").exists()


def test_unknown_references(images_server: ImagesServerFixture, tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache", 100 * MiB)
    with pytest.raises(VmError, match=r"manifest.json is not in the store"):
        fetch(cache, f"nothing-{'0' * 64}.qcow2")
    with pytest.raises(VmError, match="no such image file, and not a reference"):
        fetch(cache, "debian-latest")


def test_run_by_reference(
    vm_image: BuiltImage, images_server: ImagesServerFixture, tmp_path: Path
) -> None:
    ref = upload(images_server, vm_image.files, "session")
    ref_file = tmp_path / "images" / "session"
    remote.write_reference(ref_file, ref)
    env = vm_env(**images_server.env)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vm",
            "run",
            str(ref_file),
            "--cache",
            str(tmp_path / "cache"),
            "--",
            "cat",
            "/etc/ouro-test",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "made by the recipe" in result.stdout.splitlines()
    assert f"fetched {ref.file_name}" in result.stderr
