"""Signed webhooks as GitHub sends them, recorded and redeliverable through the API."""

import json
from typing import Any

import requests

from tests.fixtures_mock_github import HookRecorder, MockGitHubFixture, Received
from webhook.signature import verify

REPO = "acme/widget"
SECRET = b"It's a Secret to Everybody"


def payload(received: Received) -> dict[str, Any]:
    verify([SECRET], received.body, received.headers.get("X-Hub-Signature-256"))
    data: dict[str, Any] = json.loads(received.body)
    return data


def events(receiver: HookRecorder) -> list[tuple[str, str | None]]:
    return [
        (r.headers["X-GitHub-Event"], json.loads(r.body).get("action")) for r in receiver.received
    ]


def test_signed_pull_request_webhooks(
    mock_github: MockGitHubFixture, hook_recorder: HookRecorder
) -> None:
    control = mock_github.control
    mock_github.set_webhook(hook_recorder.url, SECRET)
    control.create_repo(REPO, files={"a.txt": "1\n"})
    control.add_org_member("acme", "dave", public=False)
    pr = control.open_pr(REPO, "fix", files={"a.txt": "2\n"}, title="Fix", user="dave")
    number = pr["number"]
    new_sha = control.push(REPO, {"a.txt": "3\n"}, branch="fix", user="dave")
    control.label(REPO, number, ["bug"])
    control.update_pr(REPO, number, title="Fix it")
    control.comment(REPO, number, "/retest", user="carol")
    control.close_pr(REPO, number)

    assert events(hook_recorder) == [
        ("ping", None),
        ("push", None),  # the branch for the PR
        ("pull_request", "opened"),
        ("push", None),
        ("pull_request", "synchronize"),
        ("pull_request", "labeled"),
        ("pull_request", "edited"),
        ("issue_comment", "created"),
        ("pull_request", "closed"),
    ]
    guids = set()
    for received in hook_recorder.received:
        headers = received.headers
        assert headers["User-Agent"] == "GitHub-Hookshot/mock"
        assert headers["Content-Type"] == "application/json"
        guids.add(headers["X-GitHub-Delivery"])
        payload(received)  # every delivery is signed with the secret
    assert len(guids) == len(hook_recorder.received)

    opened = payload(hook_recorder.received[2])
    pull = opened["pull_request"]
    assert opened["action"] == "opened"
    assert opened["number"] == number
    assert pull["number"] == number
    assert pull["head"]["ref"] == "fix"
    assert pull["head"]["sha"] == pr["head"]["sha"]
    assert pull["head"]["repo"]["full_name"] == REPO
    assert pull["head"]["repo"]["clone_url"] == f"{mock_github.url}/{REPO}.git"
    assert pull["base"]["ref"] == "main"
    assert len(pull["base"]["sha"]) == 40
    assert pull["base"]["repo"]["full_name"] == REPO
    assert pull["user"]["login"] == "dave"
    assert pull["author_association"] == "CONTRIBUTOR"  # dave is a private member
    assert opened["repository"]["full_name"] == REPO
    assert opened["repository"]["clone_url"] == f"{mock_github.url}/{REPO}.git"
    assert opened["sender"]["login"] == "dave"
    assert opened["organization"]["login"] == "acme"

    synchronize = payload(hook_recorder.received[4])
    assert synchronize["before"] == pr["head"]["sha"]
    assert synchronize["after"] == new_sha
    assert synchronize["pull_request"]["head"]["sha"] == new_sha

    push = payload(hook_recorder.received[3])
    assert push["ref"] == "refs/heads/fix"
    assert push["after"] == new_sha
    assert push["commits"][-1]["modified"] == ["a.txt"]
    assert push["repository"]["full_name"] == REPO

    labeled = payload(hook_recorder.received[5])
    assert labeled["label"]["name"] == "bug"
    edited = payload(hook_recorder.received[6])
    assert edited["changes"] == {"title": {"from": "Fix"}}

    comment = payload(hook_recorder.received[7])
    assert comment["issue"]["number"] == number
    assert "pull_request" in comment["issue"]
    assert comment["comment"]["body"] == "/retest"
    assert comment["comment"]["user"]["login"] == "carol"
    assert comment["comment"]["author_association"] == "NONE"
    assert comment["sender"]["login"] == "carol"

    closed = payload(hook_recorder.received[8])
    assert closed["pull_request"]["state"] == "closed"
    assert closed["pull_request"]["merged"] is False


def test_merge_delivers_push_and_closed(
    mock_github: MockGitHubFixture, hook_recorder: HookRecorder
) -> None:
    control = mock_github.control
    control.create_repo(REPO, files={"a.txt": "1\n"})
    control.add_hook(REPO, hook_recorder.url, SECRET.decode(), events=["pull_request"])
    pr = control.open_pr(REPO, "feature", files={"b.txt": "new\n"})
    merged = control.merge_pr(REPO, pr["number"])
    assert merged["merged"] is True
    assert events(hook_recorder) == [
        ("ping", None),
        ("pull_request", "opened"),
        ("pull_request", "closed"),
    ]
    closed = payload(hook_recorder.received[-1])
    assert closed["pull_request"]["merged"] is True
    assert closed["pull_request"]["merge_commit_sha"] == merged["merge_commit_sha"]


def test_failed_delivery_is_listed_and_redelivered(
    mock_github: MockGitHubFixture, hook_recorder: HookRecorder
) -> None:
    control = mock_github.control
    control.create_repo(REPO, files={"a.txt": "1\n"})
    hook = control.add_hook(REPO, hook_recorder.url, SECRET.decode())
    hook_recorder.status = 503
    pr = control.open_pr(REPO, "fix", files={"a.txt": "2\n"})
    failed_guid = hook_recorder.received[-1].headers["X-GitHub-Delivery"]

    api = f"{mock_github.url}/repos/{REPO}/hooks/{hook['id']}/deliveries"
    auth = {"Authorization": f"Bearer {mock_github.token}"}
    with requests.Session() as http:
        listed = http.get(api, headers=auth, timeout=10).json()
        # Newest first: opened, create (of the branch) and push failed; ping (the receiver
        # was still fine).
        assert [(d["event"], d["status_code"]) for d in listed] == [
            ("pull_request", 503),
            ("create", 503),
            ("push", 503),
            ("ping", 200),
        ]
        failed = listed[0]
        assert failed["guid"] == failed_guid
        assert failed["action"] == "opened"
        assert failed["redelivery"] is False
        detail = http.get(f"{api}/{failed['id']}", headers=auth, timeout=10).json()
        assert detail["request"]["headers"]["X-GitHub-Event"] == "pull_request"
        assert detail["request"]["payload"]["number"] == pr["number"]
        assert detail["response"]["headers"] is not None

        hook_recorder.status = 200
        response = http.post(f"{api}/{failed['id']}/attempts", headers=auth, timeout=10)
        assert response.status_code == 202
        # Without a token the API refuses, as GitHub does.
        refused = http.post(f"{api}/{failed['id']}/attempts", timeout=10)
        assert refused.status_code == 401

        again = hook_recorder.received[-1]
        assert again.headers["X-GitHub-Delivery"] == failed_guid
        assert payload(again)["action"] == "opened"
        newest = http.get(api, headers=auth, timeout=10).json()[0]
        assert (newest["guid"], newest["redelivery"], newest["status_code"]) == (
            failed_guid,
            True,
            200,
        )


def test_unreachable_hook_is_a_failed_delivery(mock_github: MockGitHubFixture) -> None:
    control = mock_github.control
    control.create_repo(REPO, files={"a.txt": "1\n"})
    # Port 9 (discard) on localhost: nothing listens, the connection is refused.
    control.add_hook(REPO, "http://127.0.0.1:9/", "s")
    (ping,) = control.deliveries("ping")
    assert ping["status_code"] == 0
    assert ping["status"].startswith("failed to connect")
