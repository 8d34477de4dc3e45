"""`FileHasher`, the SHA-256 thread behind uploads and downloads: by `pread` (a file someone
else may change) and mapped (a temporary file of ours), on pieces that do not fall on page
or window boundaries."""

import hashlib
import os
from pathlib import Path

import pytest

from ouro.store import MAP_WINDOW, FileHasher, StoreError


def written_behind(path: Path, pieces: list[bytes], *, mapped: bool) -> str:
    """Writes `pieces` one after another, each made available to the hasher once written,
    the way the server and `get_to` do; the digest."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with FileHasher(fd, mapped=mapped) as hasher:
            for piece in pieces:
                os.write(fd, piece)
                hasher.advance(len(piece))
            return hasher.hexdigest()
    finally:
        os.close(fd)


@pytest.mark.parametrize("mapped", [False, True], ids=["pread", "mapped"])
def test_digest_of_uneven_pieces_across_windows(tmp_path: Path, mapped: bool) -> None:
    # An odd head (what the socket's reader held), pieces across page and window boundaries.
    sizes = [1, 4095, 4097, 123_457, MAP_WINDOW - 7, MAP_WINDOW + 13, 1 << 20, 3]
    pieces = [os.urandom(size) for size in sizes]
    digest = written_behind(tmp_path / "file", pieces, mapped=mapped)
    assert digest == hashlib.sha256(b"".join(pieces)).hexdigest()


@pytest.mark.parametrize("mapped", [False, True], ids=["pread", "mapped"])
def test_a_complete_file_and_an_empty_one(tmp_path: Path, mapped: bool) -> None:
    data = os.urandom(2 * MAP_WINDOW + 5)
    (tmp_path / "full").write_bytes(data)
    (tmp_path / "empty").write_bytes(b"")
    for name, content in (("full", data), ("empty", b"")):
        fd = os.open(tmp_path / name, os.O_RDONLY)
        try:
            with FileHasher(fd, len(content), mapped=mapped) as hasher:
                assert hasher.hexdigest() == hashlib.sha256(content).hexdigest()
        finally:
            os.close(fd)


def test_mapped_hashing_leaves_no_mapping(tmp_path: Path) -> None:
    path = tmp_path / "mapped-file"
    written_behind(path, [os.urandom(MAP_WINDOW + 1)] * 2, mapped=True)
    assert str(path) not in Path("/proc/self/maps").read_text()


@pytest.mark.parametrize(
    ("mapped", "error"), [(False, StoreError), (True, ValueError)], ids=["pread", "mapped"]
)
def test_bytes_announced_but_missing_are_an_error(
    tmp_path: Path, mapped: bool, error: type[Exception]
) -> None:
    # More announced than the file holds: an error for the caller, never a wrong digest
    # (nor, mapped, a page past the end).
    (tmp_path / "short").write_bytes(b"x" * 100)
    fd = os.open(tmp_path / "short", os.O_RDONLY)
    try:
        with FileHasher(fd, 5000, mapped=mapped) as hasher, pytest.raises(error):
            hasher.hexdigest()
    finally:
        os.close(fd)
