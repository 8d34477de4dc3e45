"""Event interpretation over a corpus of realistic payloads (tests/tasks/payloads/)."""

import copy
from typing import Any

import pytest

from ouro.jsonutil import PayloadError
from ouro.validate import InvalidValue
from tasks.cancel import Cancel
from tasks.commands import parse_command
from tasks.decision import MANUAL_TESTING, Decision, PostStatus
from tasks.forge import Status
from tasks.interpret import interpret
from tasks.job import new_job_id
from tests.tasks.bot_fakes import FakeGitHub, counter_ids, load_map, payload, pull_info

REPO = "example-org/product"
CLONE = "https://github.com/example-org/product.git"
SHA = "8d3c1a0b7e5f4c2d9a6b3e1f0c7d5a4b2e9f8c6d"


def run(event: str, data: dict[str, Any], gh: FakeGitHub | None = None) -> Decision:
    return interpret(event, data, load_map(), gh or FakeGitHub(), counter_ids())


def summary(decision: Decision) -> list[tuple[str, str, int | None, str, bool]]:
    return [
        (s.job.context, s.job.sha, s.job.pr, s.job.base_ref or "", s.force) for s in decision.starts
    ]


def test_opened_by_member_starts_every_context_of_the_base() -> None:
    gh = FakeGitHub()
    decision = run("pull_request", payload("pull_request.opened"), gh)
    assert summary(decision) == [
        ("unit-tests", SHA, 42, "main", False),
        ("fedora-41/networking", SHA, 42, "main", False),
    ]
    unit, net = (s.job for s in decision.starts)
    assert (unit.id, unit.command, unit.capability, unit.priority) == (
        "unit-tests-1",
        [".ci/run"],
        None,
        5,
    )
    assert (net.queue, net.priority, net.secrets, net.clone_url) == (
        "tasks.kvm",
        7,
        ["images-upload"],
        CLONE,
    )
    assert unit.image == "localhost/ouro-tasks:latest"
    assert decision.statuses == ()
    assert decision.cancels == ()
    # author_association MEMBER is enough: no API call.
    assert gh.membership_calls == []


def test_reopened_starts_like_opened() -> None:
    assert summary(run("pull_request", payload("pull_request.reopened"))) == summary(
        run("pull_request", payload("pull_request.opened"))
    )


def test_synchronize_cancels_older_heads_and_tests_the_new_one() -> None:
    decision = run("pull_request", payload("pull_request.synchronize"))
    assert decision.cancels == (Cancel(REPO, 42, keep_sha="a" * 40, reason="new push"),)
    assert [s[:2] for s in summary(decision)] == [
        ("unit-tests", "a" * 40),
        ("fedora-41/networking", "a" * 40),
    ]


def test_closed_cancels_everything_and_starts_nothing() -> None:
    decision = run("pull_request", payload("pull_request.closed"))
    assert decision.cancels == (Cancel(REPO, 42, keep_sha=None, reason="pull request closed"),)
    assert decision.starts == ()
    assert decision.statuses == ()


@pytest.mark.parametrize(
    "name",
    [
        "pull_request.labeled",
        "pull_request.edited-title",
        "pull_request.opened-draft",
        "pull_request.opened-no-test",
        "pull_request.opened-unmapped-base",
        "issue_comment.on-issue",
        "push.tag",
        "push.deleted",
        "push.unmapped-branch",
    ],
)
def test_events_that_start_nothing(name: str) -> None:
    event = name.split(".", maxsplit=1)[0]
    decision = run(event, payload(name))
    assert decision == Decision(reason=decision.reason)
    assert decision.reason


def test_draft_waits_until_ready_for_review() -> None:
    assert run("pull_request", payload("pull_request.opened-draft")).starts == ()
    decision = run("pull_request", payload("pull_request.ready_for_review"))
    assert [s[0] for s in summary(decision)] == ["unit-tests", "fedora-41/networking"]


def test_no_test_marker_is_case_insensitive() -> None:
    data = payload("pull_request.opened")
    data["pull_request"]["title"] = "Fix typo [NO-TEST]"
    assert run("pull_request", data).starts == ()


def test_base_change_retests_against_the_new_base_even_if_tested() -> None:
    decision = run("pull_request", payload("pull_request.edited-base"))
    assert summary(decision) == [("unit-tests", SHA, 42, "rhel-9.4", True)]
    assert decision.starts[0].job.command == ["make", "check"]


def test_fork_pr_by_first_time_contributor_needs_manual_testing() -> None:
    gh = FakeGitHub()
    decision = run("pull_request", payload("pull_request.opened-fork-first-time"), gh)
    assert decision.starts == ()
    assert decision.statuses == (
        PostStatus(REPO, "b" * 40, Status("unit-tests", "pending", MANUAL_TESTING)),
        PostStatus(REPO, "b" * 40, Status("fedora-41/networking", "pending", MANUAL_TESTING)),
    )
    # The repository's org and the map's trusted org were asked, in a stable order.
    assert gh.membership_calls == [("example-org", "mallory"), ("trusted-org", "mallory")]


def test_fork_pr_clones_the_base_repository() -> None:
    gh = FakeGitHub(members={("trusted-org", "mallory")})
    decision = run("pull_request", payload("pull_request.opened-fork-first-time"), gh)
    assert {s.job.clone_url for s in decision.starts} == {CLONE}


def test_private_member_shows_as_contributor_and_is_trusted_through_the_api() -> None:
    gh = FakeGitHub(members={("example-org", "bob")})
    decision = run("pull_request", payload("pull_request.opened-private-member"), gh)
    assert [s[0] for s in summary(decision)] == ["unit-tests", "fedora-41/networking"]
    assert gh.membership_calls == [("example-org", "bob")]


def test_contributor_who_is_no_member_is_not_trusted() -> None:
    decision = run("pull_request", payload("pull_request.opened-private-member"))
    assert decision.starts == ()
    assert {p.status.description for p in decision.statuses} == {MANUAL_TESTING}


def test_allowlisted_bot_and_user() -> None:
    gh = FakeGitHub()
    decision = run("pull_request", payload("pull_request.opened-bot"), gh)
    assert len(decision.starts) == 2
    data = payload("pull_request.opened-fork-first-time")
    data["pull_request"]["user"]["login"] = "Carol"
    assert len(run("pull_request", data, gh).starts) == 2
    assert gh.membership_calls == []


def comment(body: str, login: str = "alice", association: str = "MEMBER") -> dict[str, Any]:
    data = payload("issue_comment.test")
    data["comment"]["body"] = body
    data["comment"]["user"]["login"] = login
    data["comment"]["author_association"] = association
    return data


def fork_pr_github(**changes: Any) -> FakeGitHub:
    gh = FakeGitHub()
    gh.pulls[REPO, 45] = pull_info(**changes)
    return gh


@pytest.mark.parametrize(
    ("body", "contexts"),
    [
        ("/test", ["unit-tests", "fedora-41/networking"]),
        ("/test   unit-tests ,  fedora-41/networking  ", ["unit-tests", "fedora-41/networking"]),
        ("\t/TEST fedora-41/networking\r", ["fedora-41/networking"]),
        ("Looks fine.\r\n\r\n/test unit-tests\r\nThanks!", ["unit-tests"]),
        ("/test unit-tests unit-tests", ["unit-tests"]),
        ("/test unit-tests no-such-context", ["unit-tests"]),
        ("/test no-such-context", []),
        ("/test ../../etc/passwd $(id)", []),
        ("I will /test this later", []),
        ("/tests", []),
        ("> /test\nquoted, so not a command", []),
        ("", []),
    ],
)
def test_test_command(body: str, contexts: list[str]) -> None:
    gh = fork_pr_github()
    decision = run("issue_comment", comment(body), gh)
    assert [s[0] for s in summary(decision)] == contexts
    assert all(s.force for s in decision.starts)
    assert all(s.job.sha == "b" * 40 and s.job.pr == 45 for s in decision.starts)


def test_unknown_contexts_are_named_in_the_reason() -> None:
    decision = run("issue_comment", comment("/test nope"), fork_pr_github())
    assert "'nope'" in decision.reason


def test_retest_runs_failed_and_errored_contexts_only() -> None:
    gh = fork_pr_github()
    gh.post(REPO, "b" * 40, Status("unit-tests", "failure", "Tests failed"))
    gh.post(REPO, "b" * 40, Status("fedora-41/networking", "success", "Success"))
    assert [s[0] for s in summary(run("issue_comment", comment("/retest"), gh))] == ["unit-tests"]
    gh.post(REPO, "b" * 40, Status("fedora-41/networking", "error", "Cancelled"))
    gh.post(REPO, "b" * 40, Status("unit-tests", "pending", "In progress"))
    decision = run("issue_comment", comment("/retest"), gh)
    assert [s[0] for s in summary(decision)] == ["fedora-41/networking"]
    gh.posted.clear()
    assert run("issue_comment", comment("/retest"), gh).starts == ()


@pytest.mark.parametrize("body", ["/test", "/retest", "/test unit-tests"])
def test_commands_from_untrusted_people_are_ignored(body: str) -> None:
    gh = fork_pr_github()
    gh.post(REPO, "b" * 40, Status("unit-tests", "failure", "Tests failed"))
    decision = run("issue_comment", comment(body, "mallory", "FIRST_TIME_CONTRIBUTOR"), gh)
    assert decision.starts == ()
    assert "untrusted" in decision.reason
    # Refused before any PR lookup.
    assert gh.pull_calls == []


def test_command_from_private_member_is_trusted() -> None:
    gh = fork_pr_github()
    gh.members.add(("trusted-org", "dave"))
    decision = run("issue_comment", comment("/test", "dave", "CONTRIBUTOR"), gh)
    assert len(decision.starts) == 2


def test_command_on_closed_pr_or_edited_comment_does_nothing() -> None:
    assert run("issue_comment", comment("/test"), fork_pr_github(state="closed")).starts == ()
    data = comment("/test")
    data["action"] = "edited"
    assert run("issue_comment", data, fork_pr_github()).starts == ()


def test_command_on_a_draft_runs_since_a_person_asked() -> None:
    assert len(run("issue_comment", comment("/test"), fork_pr_github(draft=True)).starts) == 2


def test_command_uses_the_current_base_of_the_pr() -> None:
    decision = run("issue_comment", comment("/test"), fork_pr_github(base_ref="rhel-9.4"))
    assert summary(decision) == [("unit-tests", "b" * 40, 45, "rhel-9.4", True)]


def test_push_to_a_mapped_branch_tests_the_new_head_without_pr() -> None:
    decision = run("push", payload("push.main"))
    assert summary(decision) == [
        ("unit-tests", "e" * 40, None, "main", False),
        ("fedora-41/networking", "e" * 40, None, "main", False),
    ]


@pytest.mark.parametrize(
    ("event", "name"),
    [("star", "star.created"), ("ping", "ping.org"), ("status", "push.main")],
)
def test_other_events_are_dropped(event: str, name: str) -> None:
    decision = run(event, payload(name))
    assert decision == Decision(reason=f"{event} events are not used")


def remove(data: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[key]
    del data[last]


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("pull_request.opened", "action"),
        ("pull_request.opened", "pull_request"),
        ("pull_request.opened", "pull_request.head.sha"),
        ("pull_request.opened", "pull_request.base"),
        ("pull_request.opened", "pull_request.user.login"),
        ("pull_request.opened", "pull_request.author_association"),
        ("pull_request.opened", "repository.full_name"),
        ("pull_request.opened", "repository.clone_url"),
        ("issue_comment.test", "comment.body"),
        ("issue_comment.test", "issue.number"),
        ("push.main", "after"),
        ("push.main", "ref"),
    ],
)
def test_truncated_payload_names_the_missing_field(name: str, path: str) -> None:
    data = copy.deepcopy(payload(name))
    remove(data, path)
    with pytest.raises(PayloadError, match=path.replace(".", r"\.")):
        run(name.split(".", maxsplit=1)[0], data, fork_pr_github())


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("pull_request.number", "42", PayloadError),
        ("pull_request.number", True, PayloadError),
        ("pull_request.number", -1, InvalidValue),
        ("pull_request.head.sha", "HEAD", InvalidValue),
        ("pull_request.head.sha", "8D3C1A0B7E5F4C2D9A6B3E1F0C7D5A4B2E9F8C6D", InvalidValue),
        ("pull_request.draft", "no", PayloadError),
        ("repository.full_name", "../../etc", InvalidValue),
        ("repository.full_name", None, PayloadError),
        ("repository.clone_url", "file:///etc/passwd", InvalidValue),
        ("repository.clone_url", "https://x/$(id)\n", InvalidValue),
        ("pull_request", [], PayloadError),
    ],
)
def test_invalid_values_are_refused(path: str, value: object, error: type[Exception]) -> None:
    data = payload("pull_request.opened")
    *parents, last = path.split(".")
    target = data
    for key in parents:
        target = target[key]
    target[last] = value
    with pytest.raises(error):
        run("pull_request", data)


def test_parse_command() -> None:
    assert parse_command("/retest") == ("retest", [])
    assert parse_command("x\n  /test a,b  c ") == ("test", ["a", "b", "c"])
    assert parse_command("/test " + "a " * 500)[1] == ["a"] * 50  # type: ignore[index]
    assert parse_command("/testing") is None


def test_job_ids_are_unique_and_safe() -> None:
    ids = {new_job_id("fedora-41/networking", SHA) for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("fedora-41-networking-8d3c1a0b7e5f-") for i in ids)
