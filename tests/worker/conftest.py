"""Fixtures of the worker's tests: a git server, job and config factories, a job image."""

import os
import subprocess
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.job import Job
from tasks.worker.config import WorkerConfig
from tests.tools import missing, require_tool
from tests.worker.gitserver import GitServer, Repo

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "containers" / "containers.conf"
TEST_IMAGE = "localhost/ouro-test-job:latest"
BUSYBOX = Path("/bin/busybox")

# A repository whose `.ci/run` prints, writes attachments, and reads its secret.
CI_RUN = """#!/bin/sh
echo "hello from $OURO_CONTEXT"
mkdir -p "$TEST_ATTACHMENTS/deep/er"
echo top > "$TEST_ATTACHMENTS/top.txt"
echo nested > "$TEST_ATTACHMENTS/deep/er/nested.txt"
if [ -f "$OURO_SECRETS/token" ]; then echo "secret is $(cat "$OURO_SECRETS/token")"; fi
exit "${EXIT_CODE:-0}"
"""


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitServer]:
    server = GitServer(tmp_path / "git")
    yield server
    server.close()


@pytest.fixture
def repo(git_server: GitServer, tmp_path: Path) -> Repo:
    work = tmp_path / "clones"
    work.mkdir()
    return git_server.create("owner/project", {".ci/run": CI_RUN, "README": "hi\n"}, work)


JobFactory = Callable[..., Job]


@pytest.fixture
def make_job(repo: Repo) -> JobFactory:
    def make(**overrides: Any) -> Job:
        values: dict[str, Any] = {
            "id": f"job-{uuid.uuid4().hex[:12]}",
            "repo": repo.name,
            "sha": repo.commit({"change": uuid.uuid4().hex}, "change"),
            "context": "unit-tests",
            "command": [".ci/run"],
            "image": TEST_IMAGE,
            "clone_url": repo.url,
            "timeout": 60,
        }
        values.update(overrides)
        return Job(**values)

    return make


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "token").write_text("s3cr3t-T0KEN-value\n")
    return folder


@pytest.fixture
def direct_config(tmp_path: Path, secrets_dir: Path) -> WorkerConfig:
    work = tmp_path / "work"
    work.mkdir()
    # No pause before handing back a job that failed transiently; tests of it set their own.
    return WorkerConfig(
        name="w1", mode="direct", secrets_dir=secrets_dir, work_dir=work, requeue_delay=0
    )


def _podman_works(env: dict[str, str]) -> bool:
    try:
        result = subprocess.run(
            ["podman", "run", "--rm", TEST_IMAGE, "true"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@pytest.fixture(scope="session")
def podman_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment under which podman runs the test job image (built here, from the
    host's static busybox); container tests fail with the reason when podman cannot."""
    require_tool("podman", "podman")
    if not BUSYBOX.is_file():
        missing("no /bin/busybox to build the job image: apt-get install busybox-static")
    rootfs = tmp_path_factory.mktemp("job-image")
    archive = rootfs / "rootfs.tar"
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    with tarfile.open(archive, "w") as tar:
        for folder in ("bin", "tmp", "source", "attachments", "run/secrets"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in applets:
            if applet != "busybox":
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
    for conf in (None, CONTAINERS_CONF):
        env = dict(os.environ)
        if conf is not None:
            env["CONTAINERS_CONF"] = str(conf)
        imported = subprocess.run(
            ["podman", "import", "--change", "ENV=PATH=/bin", str(archive), TEST_IMAGE],
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        if imported.returncode == 0 and _podman_works(env):
            return env
    # Not a missing tool but a broken one: nothing to skip to, whoever asks.
    pytest.fail("podman cannot run containers here, even with containers/containers.conf")
