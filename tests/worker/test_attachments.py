"""Attachments: nested files uploaded beside the log; links and the log's own names skipped."""

from pathlib import Path

from tasks.worker.attachments import upload
from tests.worker.fakes import FakeStore


def test_nested_files_uploaded_links_and_reserved_names_skipped(tmp_path: Path) -> None:
    root = tmp_path / "att"
    (root / "a" / "b").mkdir(parents=True)
    (root / "top.txt").write_text("1")
    (root / "a" / "b" / "deep.log").write_text("2")
    (root / "log").write_text("would replace the log")
    (root / "chunks").mkdir()
    (root / "chunks" / "000001").write_text("would corrupt the live log")
    (root / "passwd").symlink_to("/etc/passwd")
    (root / "linked-dir").symlink_to("/etc", target_is_directory=True)
    store = FakeStore()
    assert upload(store, "logs/j/", root) == ["logs/j/a/b/deep.log", "logs/j/top.txt"]
    assert store.files == {"logs/j/a/b/deep.log": b"2", "logs/j/top.txt": b"1"}


def test_missing_folder_uploads_nothing(tmp_path: Path) -> None:
    assert upload(FakeStore(), "logs/j/", tmp_path / "none") == []
