"""GitHub Apps in the mock: JWTs checked as GitHub does, installations, installation tokens
that act as the App's bot over REST and git, and that expire."""

import time
from pathlib import Path

import github
import jwt
import pytest
import requests

from mock_github.control import ControlError, MockGitHubControl
from mock_github.state.apps import new_key_pair
from tests.fixtures_mock_github import MockGitHubFixture
from tests.mock_github.test_cli import mock_process
from tests.mock_github.test_git import git

REPO = "acme/widget"


def setup_app(
    mock_github: MockGitHubFixture, lifetime: float | None = None
) -> tuple[int, str, int]:
    """(app id, private key, installation id) of `ouro-ci`, installed on acme's widget."""
    c = mock_github.control
    c.create_repo(REPO, files={"a.txt": "1\n"})
    app = c.register_app("ouro-ci", "acme", token_lifetime=lifetime)
    installation = c.install_app("ouro-ci", "acme", ["widget"])
    return int(app["id"]), str(app["pem"]), int(installation["id"])


def integration(mock_github: MockGitHubFixture, app_id: int, key: str) -> github.GithubIntegration:
    return github.GithubIntegration(
        base_url=mock_github.url,
        auth=github.Auth.AppAuth(app_id, key),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def as_installation(
    mock_github: MockGitHubFixture, app_id: int, key: str, installation: int
) -> github.Github:
    auth = github.Auth.AppAuth(app_id, key).get_installation_auth(installation)
    return github.Github(
        base_url=mock_github.url,
        auth=auth,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def signed(key: str, app_id: int | str, *, iat: float, exp: float) -> str:
    return jwt.encode({"iss": str(app_id), "iat": int(iat), "exp": int(exp)}, key, "RS256")


def test_pygithub_finds_the_app_and_its_installation(mock_github: MockGitHubFixture) -> None:
    app_id, key, installation = setup_app(mock_github)
    gi = integration(mock_github, app_id, key)
    assert gi.get_app().slug == "ouro-ci"
    assert [i.id for i in gi.get_installations()] == [installation]
    assert gi.get_repo_installation("acme", "widget").id == installation
    with pytest.raises(github.UnknownObjectException):
        gi.get_repo_installation("acme", "other")
    gi.close()


def test_an_installation_token_acts_as_the_bot(mock_github: MockGitHubFixture) -> None:
    app_id, key, installation = setup_app(mock_github)
    gh = as_installation(mock_github, app_id, key, installation)
    commit = gh.get_repo(REPO).get_commit("main")
    status = commit.create_status("success", description="ok", context="ci/app")
    assert status.creator.login == "ouro-ci[bot]"
    assert status.creator.type == "Bot"
    gh.close()


def test_pygithub_renews_the_token_before_it_expires(mock_github: MockGitHubFixture) -> None:
    # PyGithub asks for a new token 20 s before expiry: one of 22 s is stale after 2 s.
    app_id, key, installation = setup_app(mock_github, lifetime=22)
    gh = as_installation(mock_github, app_id, key, installation)
    tokens = mock_github.server.state.installation_tokens
    gh.get_repo(REPO).get_commit("main").create_status("pending", context="one")
    assert len(tokens) == 1
    gh.get_repo(REPO).get_commit("main").create_status("pending", context="two")
    assert len(tokens) == 1  # still fresh: the same token
    time.sleep(2.5)
    gh.get_repo(REPO).get_commit("main").create_status("success", context="one")
    assert len(tokens) == 2
    assert mock_github.control.app("ouro-ci")["tokens_issued"] == 2
    gh.close()


def test_an_expired_token_is_refused(mock_github: MockGitHubFixture, tmp_path: Path) -> None:
    app_id, key, installation = setup_app(mock_github, lifetime=1.5)
    token = as_installation_token(mock_github.url, app_id, key, installation)
    headers = {"Authorization": f"token {token}"}
    user = requests.get(f"{mock_github.url}/users/ouro-ci[bot]", headers=headers, timeout=10)
    assert user.status_code == 200
    # git pushes with it too, as the bot.
    clone = tmp_path / "clone"
    url = f"{mock_github.url}/{REPO}.git".replace("http://", f"http://x-access-token:{token}@")
    git("clone", "--quiet", url, str(clone), cwd=tmp_path)
    (clone / "a.txt").write_text("2\n")
    git("commit", "--quiet", "-am", "two", cwd=clone)
    git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
    time.sleep(1.6)
    refused = requests.get(f"{mock_github.url}/users/dave", headers=headers, timeout=10)
    assert (refused.status_code, refused.json()["message"]) == (401, "Bad credentials")
    git("commit", "--quiet", "--allow-empty", "-m", "three", cwd=clone)
    with pytest.raises(AssertionError, match=r"401|Authentication failed|terminal prompts"):
        git("push", "--quiet", "origin", "HEAD:main", cwd=clone)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"iat": -60, "exp": -1}, "'Expiration time' claim ('exp') must be a numeric value"),
        ({"iat": -60, "exp": 900}, "'Expiration time' claim ('exp') is too far in the future"),
        ({"iat": 300, "exp": 540}, "'Issued at' claim ('iat') must be an Integer"),
    ],
)
def test_jwt_times_are_checked(
    mock_github: MockGitHubFixture, claims: dict[str, int], message: str
) -> None:
    app_id, key, _ = setup_app(mock_github)
    now = time.time()
    token = signed(key, app_id, iat=now + claims["iat"], exp=now + claims["exp"])
    answer = requests.get(
        f"{mock_github.url}/app", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["message"].startswith(message)


def test_a_jwt_of_another_key_or_app_or_a_token_is_refused(
    mock_github: MockGitHubFixture,
) -> None:
    app_id, key, _ = setup_app(mock_github)
    other, _ = new_key_pair()
    now = time.time()
    cases = {
        signed(other, app_id, iat=now - 60, exp=now + 300): "A JSON web token could not be decoded",
        signed(key, 999999, iat=now - 60, exp=now + 300): "Integration not found",
        mock_github.token: "A JSON web token could not be decoded",
    }
    for credential, message in cases.items():
        answer = requests.get(
            f"{mock_github.url}/app", headers={"Authorization": f"Bearer {credential}"}, timeout=10
        )
        assert answer.status_code == 401
        assert answer.json()["message"].startswith(message)
    good = signed(key, app_id, iat=now - 60, exp=now + 600)
    answer = requests.get(
        f"{mock_github.url}/app", headers={"Authorization": f"Bearer {good}"}, timeout=10
    )
    assert answer.status_code == 200
    # A JWT is no user's token: writes elsewhere need one.
    answer = requests.post(
        f"{mock_github.url}/repos/{REPO}/statuses/main",
        json={"state": "success"},
        headers={"Authorization": f"Bearer {good}"},
        timeout=10,
    )
    assert (answer.status_code, answer.json()["message"]) == (401, "Requires authentication")


def test_an_app_with_its_own_key_and_bad_registrations(mock_github: MockGitHubFixture) -> None:
    c = mock_github.control
    c.create_repo(REPO, files={"a.txt": "1\n"})
    c.create_repo("bob/tool", files={"a.txt": "1\n"})
    private, public = new_key_pair()
    app = c.register_app("mine", "acme", public_key=public)
    assert "pem" not in app
    installation = c.install_app("mine", "acme")
    gi = integration(mock_github, int(app["id"]), private)
    assert gi.get_repo_installation("acme", "widget").id == installation["id"]
    gi.close()
    with pytest.raises(ControlError, match="Validation Failed"):
        c.register_app("mine", "acme")
    with pytest.raises(ControlError, match="Validation Failed"):
        c.register_app("bad", "acme", public_key="nonsense")
    with pytest.raises(ControlError, match="Validation Failed"):
        c.install_app("mine", "acme", ["bob/tool"])
    with pytest.raises(ControlError, match="Not Found"):
        c.install_app("nobody", "acme")
    with pytest.raises(ControlError, match="Validation Failed"):
        c.set_token_lifetime("mine", 0)


def test_a_restart_keeps_the_app_its_installation_and_its_tokens(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with mock_process(data) as url:
        c = MockGitHubControl(url)
        c.create_repo(REPO, files={"a.txt": "1\n"})
        sha = c.push(REPO, {"b.txt": "2\n"})
        app = c.register_app("ouro-ci", "acme", token_lifetime=600)
        installation = int(c.install_app("ouro-ci", "acme", ["widget"])["id"])
        c.close()
        key = str(app["pem"])
        token = as_installation_token(url, int(app["id"]), key, installation)
    with mock_process(data) as url:
        headers = {"Authorization": f"token {token}"}
        answer = requests.post(
            f"{url}/repos/{REPO}/statuses/{sha}", json={"state": "success"}, headers=headers,
            timeout=10,
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        assert answer.json()["creator"]["login"] == "ouro-ci[bot]"
        gi = github.GithubIntegration(base_url=url, auth=github.Auth.AppAuth(int(app["id"]), key))
        assert gi.get_repo_installation("acme", "widget").id == installation
        assert gi.get_app().slug == "ouro-ci"
        gi.close()


def as_installation_token(url: str, app_id: int, key: str, installation: int) -> str:
    """A new installation token, asked for with the App's JWT."""
    bearer = signed(key, app_id, iat=time.time() - 60, exp=time.time() + 300)
    answer = requests.post(
        f"{url}/app/installations/{installation}/access_tokens",
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )
    assert answer.status_code == 201
    return str(answer.json()["token"])


def test_an_installation_token_writes_only_to_its_repositories(
    mock_github: MockGitHubFixture, tmp_path: Path
) -> None:
    app_id, key, installation = setup_app(mock_github)  # installed on acme/widget only
    other = mock_github.control.create_repo("acme/other", files={"a.txt": "1\n"})
    token = as_installation_token(mock_github.url, app_id, key, installation)
    headers = {"Authorization": f"token {token}"}
    for repo, code in ((REPO, 201), ("acme/other", 403)):
        answer = requests.post(
            f"{mock_github.url}/repos/{repo}/issues", json={"title": "t"}, headers=headers,
            timeout=10,
        )  # fmt: skip
        assert answer.status_code == code, answer.text
    assert answer.json()["message"] == "Resource not accessible by integration"
    # Reading a public repository is anyone's right.
    read = requests.get(f"{mock_github.url}/repos/acme/other", headers=headers, timeout=10)
    assert read.status_code == 200
    clone = tmp_path / "other"
    url = str(other["clone_url"]).replace("http://", f"http://x-access-token:{token}@")
    git("clone", "--quiet", url, str(clone), cwd=tmp_path)
    git("commit", "--quiet", "--allow-empty", "-m", "two", cwd=clone)
    with pytest.raises(AssertionError, match="403"):
        git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
