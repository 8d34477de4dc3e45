"""Every webhook the mock emits is GitHub's, per `@octokit/webhooks-schemas`.

The kinds come from `records.EMITTED` (an `Event` outside it cannot be made), so a new
kind fails `test_every_event_matches_its_schema` until the scenario triggers it. Each
delivery carries GitHub's headers, both signatures included.
"""

import hashlib
import hmac
import json
import subprocess
from pathlib import Path
from typing import Any

import requests
from jsonschema import Draft7Validator

from mock_github.records import EMITTED
from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture, Received
from tests.mock_github.npm_schemas import WEBHOOKS, webhook_schemas
from tests.mock_github.openapi_check import explain
from webhook.signature import verify

REPO = "acme/widget"
SECRET = "It's a Secret to Everybody"


def schema_problems(event: str, payload: dict[str, Any]) -> list[str]:
    """Why `payload` is not a valid `event` delivery (its action picks the schema)."""
    schemas = webhook_schemas()
    name = f"{event}${payload.get('action') or 'event'}"
    if name not in schemas["definitions"]:
        return [f"{name}: no such schema"]
    validator = Draft7Validator({**schemas["definitions"][name], **schemas})
    return sorted(line for error in validator.iter_errors(payload) for line in explain(error))


def header_problems(received: Received) -> list[str]:
    headers = {k.lower(): v for k, v in received.headers.items()}
    found = [
        f"no {name}"
        for name in ("x-github-event", "x-github-delivery", "x-github-hook-id")
        if not headers.get(name)
    ]
    sha1 = "sha1=" + hmac.new(SECRET.encode(), received.body, hashlib.sha1).hexdigest()
    if headers.get("x-hub-signature") != sha1:
        found.append(f"X-Hub-Signature {headers.get('x-hub-signature')!r}, expected {sha1}")
    verify([SECRET.encode()], received.body, headers.get("x-hub-signature-256"))
    return found


def git_delete_branch(mock_github: MockGitHubFixture, tmp: Path, branch: str) -> None:
    url = mock_github.url.replace("://", f"://ouro-bot:{mock_github.token}@")
    subprocess.run(["git", "init", "-q", str(tmp)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp), "push", "-q", f"{url}/{REPO}.git", f":refs/heads/{branch}"],
        check=True,
        capture_output=True,
    )


def trigger_everything(mock_github: MockGitHubFixture, receiver_url: str, tmp: Path) -> None:
    c = mock_github.control
    c.add_org_member("acme", "dave", public=True)
    c.create_repo(REPO, files={"a.txt": "1\n"})
    c.add_hook(REPO, receiver_url, SECRET)  # ping; every event
    pr = c.open_pr(REPO, "fix", files={"a.txt": "2\n"}, user="dave")  # push, create, opened
    n = pr["number"]
    c.push(REPO, {"a.txt": "3\n"}, branch="fix", user="dave")  # push, synchronize
    c.label(REPO, n, ["bug"])
    api = requests.Session()
    api.headers["Authorization"] = f"token {mock_github.token}"
    r = f"{mock_github.url}/repos/{REPO}"
    api.delete(f"{r}/issues/{n}/labels/bug", timeout=30).raise_for_status()
    c.update_pr(REPO, n, title="Fix it")
    c.close_pr(REPO, n)
    c.update_pr(REPO, n, state="open")
    sha = c.push(REPO, {"b.txt": "b\n"}, branch="fix")
    api.post(f"{r}/statuses/{sha}", json={"state": "success", "context": "ci"}, timeout=30)
    run = api.post(
        f"{r}/check-runs", json={"name": "ci", "head_sha": sha, "status": "in_progress"}, timeout=30
    ).json()  # check_run.created
    done = {"conclusion": "failure", "output": {"title": "1 failed", "summary": "a_test"}}
    api.patch(f"{r}/check-runs/{run['id']}", json=done, timeout=30).raise_for_status()
    c.rerun_check(REPO, run["id"], sender="dave")  # check_run.rerequested
    review = {"event": "REQUEST_CHANGES", "body": "Please add a test"}
    api.post(f"{r}/pulls/{n}/reviews", json=review, timeout=30).raise_for_status()  # submitted
    c.rerun_check_suite(REPO, run["check_suite"]["id"], sender="dave")
    c.register_app("ouro-ci", "acme")
    c.install_app("ouro-ci", "acme")
    c.merge_pr(REPO, n)  # a push to main: check_suite requested for the App
    issue = c.open_issue(REPO, "It breaks", "Steps", user="dave")
    i = issue["number"]
    api.patch(f"{r}/issues/{i}", json={"title": "It breaks badly"}, timeout=30).raise_for_status()
    c.label(REPO, i, ["bug"])
    api.delete(f"{r}/issues/{i}/labels/bug", timeout=30).raise_for_status()
    api.patch(f"{r}/issues/{i}", json={"state": "closed"}, timeout=30).raise_for_status()
    api.patch(f"{r}/issues/{i}", json={"state": "open"}, timeout=30).raise_for_status()
    comment = c.comment(REPO, i, "Me too", user="dave")
    url = f"{r}/issues/comments/{comment['id']}"
    api.patch(url, json={"body": "Me too, on 1.2"}, timeout=30).raise_for_status()
    api.delete(url, timeout=30).raise_for_status()
    api.close()
    git_delete_branch(mock_github, tmp, "fix")  # push, delete


def test_every_event_matches_its_schema(
    mock_github: MockGitHubFixture, hook_recorder: HookRecorder, tmp_path: Path
) -> None:
    trigger_everything(mock_github, hook_recorder.url, tmp_path / "pusher")
    failures = []
    seen = set()
    for received in hook_recorder.received:
        payload = json.loads(received.body)
        event = received.headers["X-GitHub-Event"]
        seen.add((event, payload.get("action")))
        where = f"{event}.{payload.get('action')}"
        failures += [f"{where}: {p}" for p in header_problems(received)]
        failures += [f"{where}: {p}" for p in schema_problems(event, payload)]
    assert failures == [], f"@octokit/webhooks-schemas {WEBHOOKS.version}:\n" + "\n".join(failures)
    assert EMITTED - seen == set(), "kinds the scenario does not trigger"


def test_a_payload_without_its_repository_fails() -> None:
    payload = {"zen": "Keep it logically awesome.", "hook_id": 1}
    assert "$: 'hook' is a required property" in schema_problems("ping", payload)


def test_only_the_new_hook_is_pinged(
    mock_github: MockGitHubFixture, hook_recorder: HookRecorder
) -> None:
    c = mock_github.control
    mock_github.set_webhook(hook_recorder.url, SECRET)
    c.create_repo(REPO, files={"a.txt": "1\n"})
    c.add_hook(REPO, hook_recorder.url + "second", SECRET)
    pings = [(r.path, r.headers["X-GitHub-Event"]) for r in hook_recorder.received]
    assert pings == [("/", "ping"), ("/second", "ping")]


def test_deleting_a_file_by_push(mock_github: MockGitHubFixture) -> None:
    c = mock_github.control
    c.create_repo(REPO, files={"a.txt": "1\n", "b.txt": "2\n"})
    sha = c.push(REPO, {"b.txt": None})
    commit = requests.get(f"{mock_github.url}/repos/{REPO}/commits/{sha}", timeout=30).json()
    assert [(f["filename"], f["status"]) for f in commit["files"]] == [("b.txt", "removed")]
