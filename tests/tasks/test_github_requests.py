"""What the bot costs in GitHub requests (docs/tasks-bot.md, "GitHub requests"), against
the mock GitHub over HTTP: the adapter counts every answer by cause, route and status
(`tasks.github_requests`), and the mock's own `X-RateLimit-Used` agrees. A `pull_request`
opened or synchronize event reads the statuses once and writes one status per context; a
rescan of unchanged open pull requests is answered 304 throughout and costs nothing."""

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import REGISTRY

from ouro import amqp
from tasks import github_conditional, github_requests, imagescan, testmap
from tasks.bot import Bot
from tasks.botstate import BotState
from tasks.forge import ForgeUnavailable
from tasks.github import Credentials, open_statuses
from tasks.github_conversation import open_conversation
from tasks.github_reader import open_reader
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture
from tests.rabbitmq import free_port
from tests.tasks.test_bot import FakePublisher, message

REPO = "acme/widget"
CONTEXTS = ("unit-tests", "fedora-41/networking")
TESTMAP = f"""
defaults:
  image: localhost/ouro-tasks:latest
repos:
  {REPO}:
    main:
      unit-tests: {{}}
      fedora-41/networking: {{capability: kvm}}
"""
STATUSES = "/repos/{owner}/{repo}/commits/{ref}/statuses"
POST_STATUS = "/repos/{owner}/{repo}/statuses/{sha}"
PULLS = "/repos/{owner}/{repo}/pulls"


def counted(cause: str) -> Counter[tuple[str, str, str]]:
    """(method, endpoint, status) → requests counted so far under `cause`."""
    found: Counter[tuple[str, str, str]] = Counter()
    for metric in REGISTRY.collect():
        if metric.name != "ouro_github_requests":
            continue
        for sample in metric.samples:
            labels = sample.labels
            if sample.name.endswith("_total") and labels["cause"] == cause:
                key = (labels["method"], labels["endpoint"], labels["status"])
                found[key] += int(sample.value)
    return found


def since(before: Counter[Any], after: Counter[Any]) -> dict[Any, int]:
    return {k: v - before[k] for k, v in after.items() if v != before[k]}


def used(mock: MockGitHubFixture) -> int:
    """The token's spent budget as the mock counts it (`GET /rate_limit` is free)."""
    answer = requests.get(
        f"{mock.url}/rate_limit", headers={"Authorization": f"token {mock.token}"}, timeout=10
    )
    return int(answer.headers["X-RateLimit-Used"])


@pytest.fixture
def github(
    mock_github: MockGitHubFixture,
    hook_recorder: HookRecorder,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> MockGitHubFixture:
    monkeypatch.setenv("GITHUB_API_URL", mock_github.url)
    monkeypatch.setenv("GITHUB_TOKEN_FILE", str(mock_github.token_file))
    monkeypatch.setenv("GITHUB_WRITE_INTERVAL", "0")
    mock_github.set_webhook(hook_recorder.url, None)
    c = mock_github.control
    c.create_repo(REPO, files={".ci/run": "#!/bin/sh\ntrue\n"})
    c.add_collaborator(REPO, "alice")
    return mock_github


def make_bot(tmp_path: Path, name: str = "state") -> Bot:
    (tmp_path / "testmap.yaml").write_text(TESTMAP)
    credentials = Credentials()
    return Bot(
        testmap.load(tmp_path / "testmap.yaml"),
        statuses=open_statuses(credentials=credentials),
        reader=open_reader(credentials=credentials),
        conversation=open_conversation(credentials=credentials),
        publisher=FakePublisher(),
        state=BotState(tmp_path / f"{name}.sqlite"),
        wait=lambda seconds: True,
    )


def last_payload(mock: MockGitHubFixture, event: str) -> dict[str, Any]:
    payload: dict[str, Any] = mock.control.deliveries(event)[-1]["request"]["payload"]
    return payload


def test_an_opened_or_pushed_pull_request_reads_statuses_once_and_writes_each(
    github: MockGitHubFixture, tmp_path: Path
) -> None:
    bot = make_bot(tmp_path)
    pr = github.control.open_pr(REPO, "fix", files={"a.c": "int a;\n"}, user="alice")
    github.control.push(REPO, {"a.c": "int b;\n"}, branch="fix", user="alice")
    expected = {("GET", STATUSES, "200"): 1, ("POST", POST_STATUS, "201"): len(CONTEXTS)}
    for action, delivery in (("opened", "d-opened"), ("synchronize", "d-sync")):
        payload = next(
            d["request"]["payload"]
            for d in github.control.deliveries("pull_request")
            if d["request"]["payload"]["action"] == action
        )
        assert payload["pull_request"]["number"] == pr["number"]
        before, budget = counted("pull_request"), used(github)
        result = bot.handle(message("pull_request", payload, delivery=delivery))
        assert result is amqp.Outcome.ACK
        assert since(before, counted("pull_request")) == expected, action
        assert used(github) - budget == 1 + len(CONTEXTS), action


def test_a_rescan_of_unchanged_pull_requests_costs_nothing(
    github: MockGitHubFixture, tmp_path: Path
) -> None:
    """The first scan queues 100 PRs' jobs. A bot that remembers them reads no statuses, and
    its listing is a 304. A bot with a wiped state reads every PR's statuses: the first time
    they changed (the first scan posted them), from then on they are 304s too."""
    c = github.control
    for i in range(100):
        c.push(REPO, {f"f{i}.txt": f"{i}\n"}, branch=f"b{i}", user="alice", start="main")
        c.open_pr(REPO, f"b{i}", base="main", user="alice")
    first = make_bot(tmp_path, "first")
    before = counted("scan")
    assert first.scan() == 2 * 100
    assert since(before, counted("scan")) == {
        ("GET", PULLS, "200"): 1,
        ("GET", STATUSES, "200"): 100,
        ("POST", POST_STATUS, "201"): 2 * 100,
    }
    rescans = (
        (first, {("GET", PULLS, "304"): 1}, 0),
        (
            make_bot(tmp_path, "wiped"),
            {("GET", PULLS, "304"): 1, ("GET", STATUSES, "200"): 100},
            100,
        ),
        (
            make_bot(tmp_path, "wiped-again"),
            {("GET", PULLS, "304"): 1, ("GET", STATUSES, "304"): 100},
            0,
        ),
        (first, {("GET", PULLS, "304"): 1}, 0),
    )
    for bot, requests_made, budget_spent in rescans:
        before, budget = counted("scan"), used(github)
        assert bot.scan() == 0
        assert since(before, counted("scan")) == requests_made
        assert used(github) - budget == budget_spent


def test_an_image_scan_of_unchanged_images_costs_nothing(
    github: MockGitHubFixture, tmp_path: Path
) -> None:
    """The daily scan in the bot's process: the first reads the repository, its branch, the
    image references and the open issues, and opens an issue; the next reads again what that
    issue changed (the repository's open issue count, the list); the third only gets 304s."""
    c = github.control
    old, fresh = f"debian-{'a' * 64}.qcow2", f"fedora-{'b' * 64}.qcow2"
    c.push(REPO, {"images/debian": old + "\n", "images/fedora": fresh + "\n"})
    (tmp_path / "testmap.yaml").write_text(
        TESTMAP + f"images:\n  {REPO}:\n    debian: {{refresh_days: 7}}\n"
        "    fedora: {refresh_days: 7}\n"
    )
    tmap = testmap.load(tmp_path / "testmap.yaml")
    now = time.time()
    built = {old: now - 30 * 86400, fresh: now - 86400}
    repo, branch = "/repos/{owner}/{repo}", "/repos/{owner}/{repo}/branches/{path}"
    contents, issues = "/repos/{owner}/{repo}/contents/{path}", "/repos/{owner}/{repo}/issues"
    expected = [
        (
            "opened",
            {
                ("GET", repo, "200"): 1,
                ("GET", branch, "200"): 1,
                ("GET", contents, "200"): 2,
                ("GET", issues, "200"): 1,
                ("POST", issues, "201"): 1,
            },
        ),
        (
            "requested",
            {
                ("GET", repo, "200"): 1,
                ("GET", branch, "304"): 1,
                ("GET", contents, "304"): 2,
                ("GET", issues, "200"): 1,
            },
        ),
        (
            "requested",
            {
                ("GET", repo, "304"): 1,
                ("GET", branch, "304"): 1,
                ("GET", contents, "304"): 2,
                ("GET", issues, "304"): 1,
            },
        ),
    ]
    for action, requests_made in expected:
        before, budget = counted("image-scan"), used(github)
        credentials = Credentials()  # as the bot's schedule does: new clients each time
        reader = open_reader(credentials=credentials)
        talk = open_conversation(credentials=credentials)
        outcomes = imagescan.scan(tmap, reader, talk, built.get, now)
        assert [(o.name, o.action) for o in outcomes] == [("debian", action), ("fedora", "fresh")]
        assert since(before, counted("image-scan")) == requests_made
        spent = sum(n for (_, _, status), n in requests_made.items() if status != "304")
        assert used(github) - budget == spent


def test_the_environment_still_names_the_ca_and_the_proxy(
    mock_github_tls: MockGitHubFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Read once per connection rather than per request (`requests`' trust_env is off), the
    CA bundle and proxy settings of the environment still apply."""
    mock = mock_github_tls
    assert mock.ca_file is not None
    mock.control.create_repo(REPO, files={"a.txt": "1\n"})
    monkeypatch.setenv("GITHUB_API_URL", mock.url)
    monkeypatch.setenv("GITHUB_TOKEN_FILE", str(mock.token_file))
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    with pytest.raises(ForgeUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        open_reader(sleep=lambda _: True).default_branch(REPO)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(mock.ca_file))
    assert open_reader().default_branch(REPO) == "main"
    # A proxy nobody listens on: the request goes there, and fails, unless NO_PROXY says not.
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("NO_PROXY")
    with pytest.raises(ForgeUnavailable, match=r"ProxyError|Unable to connect to proxy"):
        open_reader(sleep=lambda _: True).default_branch(REPO)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert open_reader().default_branch(REPO) == "main"


def test_routes_not_paths_label_the_count() -> None:
    endpoint = github_requests.endpoint
    assert endpoint("/repos/a/b/commits/" + "c" * 40 + "/statuses?per_page=100") == STATUSES
    assert endpoint("/repos/a/b/branches/release/2.0") == "/repos/{owner}/{repo}/branches/{path}"
    assert endpoint("/repos/a/b/contents/images/x") == "/repos/{owner}/{repo}/contents/{path}"
    assert (
        endpoint("/api/v3/repos/a/b/pulls/4", "/api/v3") == "/repos/{owner}/{repo}/pulls/{number}"
    )
    assert endpoint("/orgs/acme/members/dave") == "/orgs/{org}/members/{login}"
    assert endpoint("/repos/a/b/unknown") == github_requests.OTHER
    assert endpoint("/users/dave") == github_requests.OTHER


def test_kept_answers_are_bounded_least_recently_used_first_out() -> None:
    cache = github_conditional.ETagCache(entries=2)
    cache.put("a", 'W/"1"', ["a"], None)
    cache.put("b", 'W/"2"', ["b"], "/next")
    assert cache.get("a") == ('W/"1"', ["a"], None)  # now the most recently used
    cache.put("c", 'W/"3"', ["c"], None)
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
