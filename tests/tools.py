"""What a test needs from the machine: a missing tool fails the test with the command that
installs it (`make check` installs them all on Debian/Ubuntu, `.ci/setup`), so that a
missing tool is never mistaken for a pass. Someone who wants the rest of the suite
without installing them says so: `OURO_SKIP_MISSING_TOOLS=1` turns these failures into
skips with the same reason."""

import os
import shutil
from pathlib import Path

import pytest

SKIP_MISSING = "OURO_SKIP_MISSING_TOOLS"


def missing(reason: str) -> None:
    """End the test: a failure, or a skip if the person running it asked for one."""
    if os.environ.get(SKIP_MISSING) == "1":
        pytest.skip(f"{reason} ({SKIP_MISSING}=1)")
    pytest.fail(f"{reason}; or set {SKIP_MISSING}=1 to skip such tests", pytrace=False)


def require_tool(name: str, package: str, *, sbin: bool = False) -> None:
    """`name` on PATH (or in /usr/sbin when `sbin`), else `missing` with its package."""
    found = shutil.which(name) or (sbin and Path("/usr/sbin", name).exists())
    if not found:
        missing(f"{name} is not installed: apt-get install {package} (or make setup)")


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        missing(f"{why} needs root: run the tests as root (sudo make check)")
