"""git over smart HTTP: clone, fetch a PR's head, and token-protected push."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from mock_github.server import MockGitHub
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture

REPO = "acme/widget"


def git(*args: str, cwd: Path | None = None, ca_file: Path | None = None) -> str:
    """`ca_file`: the CA to trust for an HTTPS mock."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd or Path.cwd()),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    if ca_file is not None:
        env["GIT_SSL_CAINFO"] = str(ca_file)
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"git {args[0]} failed: {result.stderr}")
    return result.stdout.strip()


def test_clone_and_fetch_pull_head(mock_github: MockGitHubFixture, tmp_path: Path) -> None:
    control = mock_github.control
    repo = control.create_repo(
        REPO, files={"README.md": "hello\n", ".ci/run": "#!/bin/sh\necho ok\n"}
    )
    pr = control.open_pr(REPO, "fix", files={"README.md": "changed\n"}, user="alice")
    clone = tmp_path / "clone"
    git("clone", "--quiet", repo["clone_url"], str(clone), cwd=tmp_path)
    assert (clone / "README.md").read_text() == "hello\n"
    assert os.access(clone / ".ci" / "run", os.X_OK)  # a script stays runnable

    git("fetch", "--quiet", "origin", f"refs/pull/{pr['number']}/head", cwd=clone)
    assert git("rev-parse", "FETCH_HEAD", cwd=clone) == pr["head"]["sha"]
    assert git("show", "FETCH_HEAD:README.md", cwd=clone) == "changed"

    # Clone URLs without .git work too, as on GitHub.
    git("clone", "--quiet", f"{mock_github.url}/{REPO}", str(tmp_path / "again"), cwd=tmp_path)


def test_push_needs_a_token_and_updates_the_pr(
    mock_github: MockGitHubFixture, hook_recorder: HookRecorder, tmp_path: Path
) -> None:
    control = mock_github.control
    repo = control.create_repo(REPO, files={"a.txt": "1\n"})
    pr = control.open_pr(REPO, "fix", files={"a.txt": "2\n"})
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--branch", "fix", repo["clone_url"], str(clone), cwd=tmp_path)
    (clone / "a.txt").write_text("3\n")
    git("commit", "--quiet", "-am", "three", cwd=clone)
    new_sha = git("rev-parse", "HEAD", cwd=clone)

    with pytest.raises(AssertionError, match=r"401|Authentication failed|terminal prompts"):
        git("push", "--quiet", "origin", "fix", cwd=clone)

    mock_github.set_webhook(hook_recorder.url, "s")
    url = repo["clone_url"].replace("http://", f"http://x-access-token:{mock_github.token}@")
    git("push", "--quiet", url, "fix", cwd=clone)
    events = [
        (r.headers["X-GitHub-Event"], json.loads(r.body).get("action"))
        for r in hook_recorder.received
    ]
    assert events == [("ping", None), ("push", None), ("pull_request", "synchronize")]
    git("fetch", "--quiet", "origin", f"refs/pull/{pr['number']}/head", cwd=clone)
    assert git("rev-parse", "FETCH_HEAD", cwd=clone) == new_sha

    # refs/pull/* are the mock's to move, as on GitHub.
    with pytest.raises(AssertionError):
        git("push", "--quiet", url, f"HEAD:refs/pull/{pr['number']}/head", cwd=clone)


def test_pull_request_from_a_fork(mock_github: MockGitHubFixture, tmp_path: Path) -> None:
    control = mock_github.control
    base = control.create_repo(REPO, files={"a.txt": "1\n"})
    control.create_repo("mallory/widget", files={"a.txt": "1\n"}, user="mallory")
    pr = control.open_pr(
        REPO, "evil", files={"a.txt": "evil\n"}, user="mallory", head_repo="mallory/widget"
    )
    assert pr["head"]["repo"]["full_name"] == "mallory/widget"
    assert pr["base"]["repo"]["full_name"] == REPO
    assert pr["author_association"] == "FIRST_TIME_CONTRIBUTOR"
    clone = tmp_path / "clone"
    git("clone", "--quiet", base["clone_url"], str(clone), cwd=tmp_path)
    git("fetch", "--quiet", "origin", f"refs/pull/{pr['number']}/head", cwd=clone)
    assert git("show", "FETCH_HEAD:a.txt", cwd=clone) == "evil"

    # A push to the fork's branch updates the PR in the base repository.
    new_sha = control.push("mallory/widget", {"a.txt": "worse\n"}, branch="evil", user="mallory")
    git("fetch", "--quiet", "origin", f"refs/pull/{pr['number']}/head", cwd=clone)
    assert git("rev-parse", "FETCH_HEAD", cwd=clone) == new_sha


def test_restart_serves_the_repositories_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = MockGitHub(data)
    with first.state.lock:
        first.state.create_repo(REPO, files={"a.txt": "1\n"}, default_branch="trunk")
    first.close()
    again = MockGitHub(data)
    try:
        with again.state.lock:
            repo = again.state.repo(REPO)
            assert repo.default_branch == "trunk"
            assert repo.git.read_blob("trunk", "a.txt") is not None
    finally:
        again.close()
