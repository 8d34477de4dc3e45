"""A tool the suite needs that is not installed fails the tests that need it, with the
command that installs it; only someone who asks (OURO_SKIP_MISSING_TOOLS=1) gets skips."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The gh tests need only gh and the mock: the quickest real case of a missing tool.
GH_TEST = "tests/mock_github/test_gh_cli.py::test_gh_api_errors"


def run_without_gh(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    # PATH with Python's folder only: no gh (nor anything else of the host's).
    env = {k: v for k, v in os.environ.items() if k != "OURO_SKIP_MISSING_TOOLS"}
    env.update(PATH=str(Path(sys.executable).parent), **extra)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", GH_TEST,
         "--basetemp", str(tmp_path / "t")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_missing_tool_fails_its_tests_with_the_install_command(tmp_path: Path) -> None:
    result = run_without_gh(tmp_path)
    assert result.returncode == 1, result.stdout[-2000:]
    # Failed in its fixture: pytest counts an error, which fails the run as a failure does.
    assert "1 error" in result.stdout
    assert "gh is not installed: apt-get install gh (or make setup)" in result.stdout


def test_skipping_is_what_someone_asks_for(tmp_path: Path) -> None:
    result = run_without_gh(tmp_path, OURO_SKIP_MISSING_TOOLS="1")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 skipped" in result.stdout
    assert "gh is not installed: apt-get install gh" in result.stdout
