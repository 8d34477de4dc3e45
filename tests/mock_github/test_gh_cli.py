"""The real `gh api` and `git` against the mock over HTTPS, as GitHub Enterprise clients.

gh speaks HTTPS to every host but github.com, and takes `GH_HOST=HOST:PORT` (REST root
`https://HOST:PORT/api/v3/`) with `GH_ENTERPRISE_TOKEN`; Go reads `SSL_CERT_FILE`.
"""

import json
import os
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import requests

from tests.fixtures_mock_github import MockGitHubFixture
from tests.mock_github.test_git import git

REPO = "acme/widget"

# The fixture is in this folder's conftest.py, for test_graphql.py's gh tests too.
needs_gh = pytest.mark.usefixtures("gh_installed")


def gh_env(mock: MockGitHubFixture, tmp_path: Path, token: str | None) -> dict[str, str]:
    """gh's environment for the mock as a GitHub Enterprise host, with `token` if given."""
    assert mock.ca_file is not None
    # A fresh environment: a GH_TOKEN or gh configuration of the person running the tests
    # must not leak in.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GH_HOST": f"localhost:{mock.server.port}",
        "SSL_CERT_FILE": str(mock.ca_file),
        "GH_CONFIG_DIR": str(tmp_path / "gh-config"),
        "GH_NO_UPDATE_NOTIFIER": "1",
        "GH_PROMPT_DISABLED": "1",
    }
    if token is not None:
        env["GH_ENTERPRISE_TOKEN"] = token
    return env


def gh(
    mock: MockGitHubFixture, tmp_path: Path, *args: str, token: str | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["gh", "api", *args],
        env=gh_env(mock, tmp_path, token),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_gh
def test_gh_api_reads_and_writes(mock_github_tls: MockGitHubFixture, tmp_path: Path) -> None:
    mock = mock_github_tls
    mock.control.create_repo(REPO, files={"README.md": "hello\n"})
    pr = mock.control.open_pr(REPO, "fix", files={"README.md": "changed\n"}, user="alice")
    sha = pr["head"]["sha"]

    result = gh(mock, tmp_path, f"repos/{REPO}", token=mock.token)
    assert result.returncode == 0, result.stderr
    repo = json.loads(result.stdout)
    assert repo["full_name"] == REPO
    # Links name the host gh used, under the Enterprise API root, so gh can follow them.
    assert repo["url"] == f"https://localhost:{mock.server.port}/api/v3/repos/{REPO}"

    result = gh(mock, tmp_path, f"repos/{REPO}/pulls/{pr['number']}", token=mock.token)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert (got["user"]["login"], got["head"]["sha"]) == ("alice", sha)

    args = ("-X", "POST", f"repos/{REPO}/statuses/{sha}", "-f", "state=success")
    result = gh(mock, tmp_path, *args, "-f", "context=ci/test", token=mock.token)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "success"
    statuses = requests.get(
        f"{mock.url}/repos/{REPO}/commits/{sha}/statuses", verify=str(mock.ca_file), timeout=10
    ).json()
    assert [(s["context"], s["state"], s["creator"]["login"]) for s in statuses] == [
        ("ci/test", "success", "ouro-bot")
    ]


@needs_gh
def test_gh_api_errors(mock_github_tls: MockGitHubFixture, tmp_path: Path) -> None:
    mock = mock_github_tls
    mock.control.create_repo(REPO, files={"README.md": "hello\n"})

    result = gh(mock, tmp_path, f"repos/{REPO}/nope", token=mock.token)
    assert result.returncode != 0
    assert json.loads(result.stdout)["message"] == "Not Found"
    assert "HTTP 404" in result.stderr

    # Without a token gh still asks (reads need none); the mock refuses the write.
    result = gh(mock, tmp_path, f"repos/{REPO}/commits/main", "--jq", ".sha", token=None)
    assert result.returncode == 0, result.stderr
    args = ("-X", "POST", f"repos/{REPO}/statuses/{result.stdout.strip()}", "-f", "state=success")
    result = gh(mock, tmp_path, *args, token=None)
    assert result.returncode != 0
    assert json.loads(result.stdout)["message"] == "Requires authentication"
    assert "HTTP 401" in result.stderr


def test_git_clone_over_https(mock_github_tls: MockGitHubFixture, tmp_path: Path) -> None:
    mock = mock_github_tls
    repo = mock.control.create_repo(REPO, files={"README.md": "hello\n"})
    assert repo["clone_url"].startswith("https://")
    clone = tmp_path / "clone"
    git("clone", "--quiet", repo["clone_url"], str(clone), cwd=tmp_path, ca_file=mock.ca_file)
    assert (clone / "README.md").read_text() == "hello\n"


def test_bad_tls_clients_do_not_block_the_server(mock_github_tls: MockGitHubFixture) -> None:
    mock = mock_github_tls
    address = ("127.0.0.1", mock.server.port)
    with socket.create_connection(address, timeout=10):  # connects, sends nothing
        with socket.create_connection(address, timeout=10) as plain:
            plain.sendall(b"GET /_mock/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                answer = plain.recv(4096)
            except ConnectionResetError:  # closed with our request unread
                answer = b""
            assert not answer.startswith(b"HTTP/")
        # While the silent client holds its connection open, others are still answered.
        response = requests.get(f"{mock.url}/_mock/healthz", verify=str(mock.ca_file), timeout=10)
        assert response.status_code == 200
    untrusting = ssl.create_default_context()  # the mock's CA is unknown to it
    with (
        socket.create_connection(address, timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        untrusting.wrap_socket(raw, server_hostname="localhost")
    response = requests.get(f"{mock.url}/_mock/healthz", verify=str(mock.ca_file), timeout=10)
    assert response.status_code == 200
