"""The secret file: several secrets, re-read on change, a half-written file ignored."""

from pathlib import Path

import pytest

from tasks.config import ConfigError
from webhook.secretfile import SecretFile


def test_one_secret_per_line_with_blank_lines_and_spaces_ignored(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("  first \n\nsecond\n")
    assert SecretFile(path).secrets() == [b"first", b"second"]


def test_rewritten_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("old\n")
    secrets = SecretFile(path)
    assert secrets.secrets() == [b"old"]
    path.write_text("old\nnew\n")
    assert secrets.secrets() == [b"old", b"new"]


def test_emptied_or_removed_file_keeps_the_last_good_secrets(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("kept\n")
    secrets = SecretFile(path)
    path.write_text("")
    assert secrets.secrets() == [b"kept"]
    path.unlink()
    assert secrets.secrets() == [b"kept"]
    path.write_text("back\n")
    assert secrets.secrets() == [b"back"]


@pytest.mark.parametrize("content", [None, "", "\n \n"])
def test_unusable_file_at_start_is_a_configuration_error(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError):
        SecretFile(path)
