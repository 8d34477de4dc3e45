"""App mode of the forge adapter (tasks/github.py `Credentials`): the App's key as a secret
file, its installation given or looked up, and installation tokens renewed before they
expire, against the mock GitHub's Apps."""

import time
from pathlib import Path

import pytest

from ouro.config import ConfigError
from tasks.forge import Status
from tasks.github import Credentials, GitHubStatuses, open_statuses
from tests.fixtures_mock_github import MockGitHubFixture

REPO = "acme/widget"


def app_mode(
    mock_github: MockGitHubFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *,
    lifetime: float | None = None,
    installation: bool = False,
) -> int:
    """Register and install `ouro-ci`, and set the environment of App mode; its
    installation id (set as GITHUB_APP_INSTALLATION_ID only if `installation`)."""
    c = mock_github.control
    c.create_repo(REPO, files={"a.txt": "1\n"})
    app = c.register_app("ouro-ci", "acme", token_lifetime=lifetime)
    installed = int(c.install_app("ouro-ci", "acme")["id"])
    key = tmp_path / "app.pem"
    key.write_text(app["pem"])
    for name in ("GITHUB_TOKEN", "GITHUB_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN_FILE", str(tmp_path / "no-token"))
    monkeypatch.setenv("GITHUB_API_URL", mock_github.url)
    monkeypatch.setenv("GITHUB_WRITE_INTERVAL", "0")
    monkeypatch.setenv("GITHUB_APP_ID", str(app["id"]))
    monkeypatch.setenv("GITHUB_APP_KEY_FILE", str(key))
    if installation:
        monkeypatch.setenv("GITHUB_APP_INSTALLATION_ID", str(installed))
    else:
        monkeypatch.delenv("GITHUB_APP_INSTALLATION_ID", raising=False)
    return installed


def test_statuses_are_posted_as_the_apps_bot(
    mock_github: MockGitHubFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    installed = app_mode(mock_github, monkeypatch, tmp_path)
    credentials = Credentials()  # the installation looked up: the App's only one
    assert credentials.app is not None
    assert credentials.app.installation_id == installed
    sha = mock_github.control.push(REPO, {"b.txt": "2\n"})
    # Commit statuses (App mode itself reports check runs: tests/tasks/test_github_checks.py).
    GitHubStatuses(credentials.client()).post(REPO, sha, Status("ci/app", "success", "ok"))
    statuses = mock_github.server.state.statuses(mock_github.server.state.repo(REPO), sha)
    assert [(s.context, s.creator) for s in statuses] == [("ci/app", "ouro-ci[bot]")]


def test_the_installation_token_is_renewed_before_it_expires(
    mock_github: MockGitHubFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # PyGithub renews 20 s before expiry: a token of 22 s is renewed after 2 s.
    app_mode(mock_github, monkeypatch, tmp_path, lifetime=22, installation=True)
    credentials = Credentials()
    first = credentials.git_token()
    assert first is not None
    assert first.startswith("ghs_")
    assert credentials.git_token() == first
    statuses = open_statuses(credentials=credentials)
    sha = mock_github.control.push(REPO, {"b.txt": "2\n"})
    statuses.post(REPO, sha, Status("ci/app", "pending", "Not yet tested"))
    time.sleep(2.5)
    # Both the REST client and git's token come from the same, renewed, installation token.
    statuses.post(REPO, sha, Status("ci/app", "success", "ok"))
    second = credentials.git_token()
    assert second not in (None, first)
    assert len(mock_github.server.state.installation_tokens) == 2


def test_token_mode_has_no_app(
    mock_github: MockGitHubFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app_mode(mock_github, monkeypatch, tmp_path)
    monkeypatch.setenv("GITHUB_TOKEN_FILE", str(mock_github.token_file))
    credentials = Credentials()
    assert (credentials.token, credentials.app) == (mock_github.token, None)
    assert credentials.git_token() is None


def test_app_settings_are_checked(
    mock_github: MockGitHubFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app_mode(mock_github, monkeypatch, tmp_path)
    monkeypatch.setenv("GITHUB_APP_ID", "ouro-ci")
    with pytest.raises(ConfigError, match="GITHUB_APP_ID must be the App's number"):
        Credentials()
    monkeypatch.setenv("GITHUB_APP_ID", "1")
    monkeypatch.setenv("GITHUB_APP_KEY_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="cannot read GITHUB_APP_KEY_FILE"):
        Credentials()
    (tmp_path / "bad.pem").write_text("not a key\n")
    monkeypatch.setenv("GITHUB_APP_KEY_FILE", str(tmp_path / "bad.pem"))
    with pytest.raises(ConfigError, match="GITHUB_APP_KEY_FILE is no usable private key"):
        Credentials()
    monkeypatch.setenv("GITHUB_APP_KEY_FILE", str(tmp_path / "app.pem"))
    monkeypatch.setenv("GITHUB_APP_INSTALLATION_ID", "first")
    with pytest.raises(ConfigError, match="GITHUB_APP_INSTALLATION_ID must be a number"):
        Credentials()


def test_an_app_of_two_installations_needs_the_id(
    mock_github: MockGitHubFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app_mode(mock_github, monkeypatch, tmp_path)
    monkeypatch.setenv("GITHUB_APP_ID", str(mock_github.server.state.app("ouro-ci").id))
    mock_github.control.install_app("ouro-ci", "bob")
    with pytest.raises(ConfigError, match="2 installations: set GITHUB_APP_INSTALLATION_ID"):
        Credentials()
