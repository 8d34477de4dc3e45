"""`ouro bot image-scan` as an operator (or the bot's daily schedule) runs it: against the
mock GitHub and a real images-server, in a process of its own."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from tasks import tasklines
from tests.fixtures_images import ImagesServerFixture
from tests.fixtures_mock_github import MockGitHubFixture

REPO = "acme/product"
OLD = "a" * 64
FRESH = "b" * 64
MAP = f"""
defaults: {{image: localhost/ouro-job:latest}}
repos:
  {REPO}:
    main:
      vm: {{capability: vm}}
images:
  {REPO}:
    debian: {{refresh_days: 7}}
    fedora: {{refresh_days: 7}}
"""


def built(days_ago: float) -> bytes:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    return json.dumps({"built_at": when.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()


def scan(env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ouro"), "bot", "image-scan"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.splitlines()


def test_a_stale_image_gets_one_issue_and_a_fresh_one_none(
    mock_github: MockGitHubFixture, images_server: ImagesServerFixture, tmp_path: Path
) -> None:
    mock_github.control.create_repo(
        REPO,
        files={
            "images/debian": f"debian-{OLD}.qcow2\n",
            "images/fedora": f"fedora-{FRESH}.qcow2\n",
        },
        user="acme",
    )
    store = images_server.store()
    try:
        store.put(f"images/debian-{OLD}.manifest.json", built(days_ago=30))
        store.put(f"images/fedora-{FRESH}.manifest.json", built(days_ago=1))
    finally:
        store.close()
    (tmp_path / "testmap.yaml").write_text(MAP)
    env = {
        "PATH": os.environ["PATH"],
        "OURO_TESTMAP": str(tmp_path / "testmap.yaml"),
        "GITHUB_API_URL": mock_github.url,
        "GITHUB_TOKEN_FILE": str(mock_github.token_file),
        "IMAGES_SERVER_URL": images_server.url,
    }
    first = scan(env)
    assert first[0].startswith(f"{REPO} debian: opened #1, 30.0 days old")
    assert first[1].startswith(f"{REPO} fedora: fresh, 1.0 days old")
    issue = requests.get(f"{mock_github.url}/repos/{REPO}/issues/1", timeout=10).json()
    assert issue["title"] == "Refresh the VM image debian"
    assert tasklines.wanted(issue["body"]) == ["debian"]
    # The next day's scan finds its request still open and asks nothing more.
    assert scan(env)[0].startswith(f"{REPO} debian: requested #1")
    issues = requests.get(f"{mock_github.url}/repos/{REPO}/issues", timeout=10).json()
    assert len(issues) == 1
