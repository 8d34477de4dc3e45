"""The secret file: several secrets, re-read on change, a half-written file ignored."""

from pathlib import Path

import pytest

from ouro.config import ConfigError
from ouro.secretfile import SecretFile


def test_one_secret_per_line_with_blank_lines_and_spaces_ignored(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("  first \n\nsecond\n")
    assert SecretFile(path, "webhook secret").secrets() == [b"first", b"second"]


def test_rewritten_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("old\n")
    secrets = SecretFile(path, "webhook secret")
    assert secrets.secrets() == [b"old"]
    path.write_text("old\nnew\n")
    assert secrets.secrets() == [b"old", b"new"]


def test_emptied_or_removed_file_keeps_the_last_good_secrets(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("kept\n")
    secrets = SecretFile(path, "webhook secret")
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
    with pytest.raises(ConfigError, match="upload token"):
        SecretFile(path, "upload token")


def test_accepts_any_current_secret_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("first\nsecond\n")
    tokens = SecretFile(path, "upload token")
    assert tokens.accepts("first")
    assert tokens.accepts("second")
    for wrong in ("", "firs", "first ", "firstsecond", "third"):
        assert not tokens.accepts(wrong)
    path.write_text("third\n")
    assert tokens.accepts("third")
    assert not tokens.accepts("first")
