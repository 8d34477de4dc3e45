"""Image refresh requests and runs against another revision, as interpretation decides them
(tasks/refresh.py, tasks/revisions.py, tasks/commands.py), and how the bot applies them."""

import copy
from collections.abc import Sequence
from typing import Any

import pytest

from ouro import amqp
from tasks import testmap
from tasks.bot import Bot
from tasks.botstate import BotState
from tasks.decision import MANUAL_TESTING, Decision, PostComment
from tasks.forge import Status
from tasks.interpret import interpret
from tasks.job import Job
from tests.tasks.bot_fakes import FakeGitHub, counter_ids, payload, pull_info

PRODUCT = "example-org/product"
INFRA = "example-org/infra"
SHA = "8d3c1a0b7e5f4c2d9a6b3e1f0c7d5a4b2e9f8c6d"
INFRA_SHA = "1" * 40
PRODUCT_MAIN = "2" * 40

MAP = testmap.parse(
    f"""
defaults: {{image: localhost/ouro-job:latest}}
trusted: {{users: [carol]}}
repos:
  {PRODUCT}:
    main:
      unit-tests: {{}}
      vm: {{capability: vm, command: [.ci/vm-test]}}
  {INFRA}:
    main:
      lint: {{}}
images:
  {PRODUCT}:
    fedora-41: {{refresh_days: 7}}
    debian-12: {{}}
infra:
  repo: {INFRA}
  tries:
    {PRODUCT}: [vm]
"""
)


def opened(body: str, *, login: str = "carol", association: str = "CONTRIBUTOR") -> Any:
    data = copy.deepcopy(payload("pull_request.opened"))
    data["pull_request"]["body"] = body
    data["pull_request"]["user"]["login"] = login
    data["pull_request"]["author_association"] = association
    return data


def github() -> FakeGitHub:
    gh = FakeGitHub()
    gh.branches[PRODUCT] = ("main", {"main": PRODUCT_MAIN})
    gh.pulls[INFRA, 12] = pull_info(
        12, INFRA_SHA, repo=INFRA, clone_url=f"https://github.com/{INFRA}.git"
    )
    gh.pulls[PRODUCT, 42] = pull_info(42, SHA, head_repo=PRODUCT, head_ref="images", author="carol")
    return gh


def decide(event: str, data: Any, gh: FakeGitHub | None = None) -> Decision:
    return interpret(event, data, MAP, gh or github(), counter_ids())


def refreshes(decision: Decision) -> list[Job]:
    return [s.job for s in decision.starts if s.job.refresh is not None]


def test_a_trusted_task_line_queues_one_refresh_job_on_the_head() -> None:
    decision = decide("pull_request", opened("- [ ] image-refresh fedora-41\n"))
    [job] = refreshes(decision)
    assert job.context == "image-refresh/fedora-41"
    assert job.command == ["ouro", "vm", "refresh", "fedora-41"]
    assert job.capability == "vm"
    assert job.secrets == ["images-upload"]
    assert (job.repo, job.sha, job.pr) == (PRODUCT, SHA, 42)
    assert job.push_branch == payload("pull_request.opened")["pull_request"]["head"]["ref"]
    # The tests of the head start as well; the refresh is never started twice at once.
    assert {s.job.context for s in decision.starts} == {
        "unit-tests",
        "vm",
        "image-refresh/fedora-41",
    }
    assert [s.exclusive for s in decision.starts if s.job.refresh] == [True]


def test_two_tasks_one_ticked_one_failed_one_unknown() -> None:
    body = (
        "- [ ] image-refresh fedora-41\n- [ ] image-refresh debian-12\n"
        "- [x] image-refresh fedora-41\n- [ ] image-refresh gentoo\n"
        "- [ ] image-refresh rhel FAIL: log: x\n"
    )
    decision = decide("pull_request", opened(body))
    assert [j.refresh for j in refreshes(decision)] == ["fedora-41", "debian-12"]
    [comment] = decision.comments
    assert comment.number == 42
    assert comment.text.startswith("image-refresh gentoo: gentoo is not an image of")


def test_an_untrusted_author_gets_manual_testing_and_no_refresh() -> None:
    decision = decide("pull_request", opened("- [ ] image-refresh fedora-41", login="mallory"))
    assert refreshes(decision) == []
    assert {(p.status.context, p.status.description) for p in decision.statuses} >= {
        ("image-refresh/fedora-41", MANUAL_TESTING)
    }


def test_a_draft_waits_and_a_push_does_not_ask_again() -> None:
    draft = opened("- [ ] image-refresh fedora-41")
    draft["pull_request"]["draft"] = True
    assert refreshes(decide("pull_request", draft)) == []
    pushed = opened("- [ ] image-refresh fedora-41")
    pushed["action"] = "synchronize"
    assert refreshes(decide("pull_request", pushed)) == []


def test_editing_the_description_asks_and_ticking_it_does_not() -> None:
    edited = opened("- [ ] image-refresh fedora-41")
    edited["action"] = "edited"
    edited["changes"] = {"body": {"from": "nothing yet"}}
    assert [j.refresh for j in refreshes(decide("pull_request", edited))] == ["fedora-41"]
    edited["pull_request"]["body"] = "- [x] image-refresh fedora-41 log: http://x/"
    assert decide("pull_request", edited).starts == ()
    retitled = opened("- [ ] image-refresh fedora-41")
    retitled["action"] = "edited"
    retitled["changes"] = {"title": {"from": "old"}}
    assert decide("pull_request", retitled).starts == ()


def test_a_fork_cannot_be_refreshed() -> None:
    data = opened("- [ ] image-refresh fedora-41")
    data["pull_request"]["head"]["repo"]["full_name"] = "someone/product"
    decision = decide("pull_request", data)
    assert refreshes(decision) == []
    assert "can only push to the repository's own branches" in decision.comments[0].text


def comment(body: str, *, login: str = "carol", on_issue: bool = False) -> Any:
    data = copy.deepcopy(payload("issue_comment.test"))
    data["comment"]["body"] = body
    data["comment"]["user"]["login"] = login
    data["comment"]["author_association"] = "CONTRIBUTOR"
    data["issue"]["number"] = 42
    if on_issue:
        data["issue"].pop("pull_request")
    return data


def test_the_image_refresh_command() -> None:
    [job] = refreshes(decide("issue_comment", comment("/image-refresh debian-12")))
    assert (job.refresh, job.push_branch, job.sha) == ("debian-12", "images", SHA)
    assert (
        decide("issue_comment", comment("/image-refresh debian-12", login="mallory")).starts == ()
    )
    assert decide("issue_comment", comment("/image-refresh $(id)")).starts == ()
    # On an issue: from the default branch's head, resolved now, to a branch of its own.
    [on_issue] = refreshes(
        decide("issue_comment", comment("/image-refresh debian-12", on_issue=True))
    )
    assert (on_issue.sha, on_issue.pr, on_issue.issue) == (PRODUCT_MAIN, None, 42)
    assert on_issue.base_ref == "main"
    assert on_issue.push_branch == f"image-refresh/debian-12-{PRODUCT_MAIN[:12]}"
    assert decide("issue_comment", comment("/test", on_issue=True)).starts == ()


def issue(body: str, *, action: str = "opened", login: str = "carol") -> Any:
    return {
        "action": action,
        "issue": {
            "number": 7,
            "body": body,
            "user": {"login": login},
            "author_association": "NONE",
        },
        "repository": {"full_name": PRODUCT, "clone_url": f"https://github.com/{PRODUCT}.git"},
    }


def test_an_issue_with_task_lines_refreshes_from_the_default_branch() -> None:
    body = "- [ ] image-refresh fedora-41\n- [x] image-refresh debian-12\n"
    [job] = refreshes(decide("issues", issue(body)))
    assert (job.refresh, job.issue, job.sha, job.pr) == ("fedora-41", 7, PRODUCT_MAIN, None)
    assert decide("issues", issue(body, login="mallory")).starts == ()
    assert decide("issues", issue(body, action="closed")).starts == ()
    edited = issue(body, action="edited")
    assert decide("issues", edited).starts == ()
    edited["changes"] = {"body": {"from": ""}}
    assert len(decide("issues", edited).starts) == 1
    assert decide("issues", issue("- [ ] image-refresh `reboot`")).starts == ()


def test_test_with_infra_revision_resolves_the_sha_when_queued() -> None:
    decision = decide("issue_comment", comment("/test vm@infra#12"))
    [start] = decision.starts
    job = start.job
    assert job.context == "vm@infra#12"
    assert (job.repo, job.sha, job.pr) == (PRODUCT, SHA, 42)
    assert job.command == [".ci/vm-test"]
    assert job.capability == "vm"
    assert (job.tooling_url, job.tooling_sha) == (f"https://github.com/{INFRA}.git", INFRA_SHA)
    assert job.source_url is None


def test_test_with_an_unknown_or_closed_infra_pull_says_why() -> None:
    gh = github()
    gh.pulls[INFRA, 13] = pull_info(13, INFRA_SHA, repo=INFRA, state="closed")
    decision = decide("issue_comment", comment("/test vm@infra#13 nope@infra#12"), gh)
    assert decision.starts == ()
    texts = [c.text for c in decision.comments]
    assert texts == [
        f"/test vm@infra#13: {INFRA}#13 is closed",
        "/test nope@infra#12: no context 'nope' on main",
    ]


def test_an_infra_pull_tries_the_product_with_its_own_tooling() -> None:
    data = opened("")
    data["repository"]["full_name"] = INFRA
    data["repository"]["clone_url"] = f"https://github.com/{INFRA}.git"
    decision = decide("pull_request", data)
    jobs = {s.job.context: s.job for s in decision.starts}
    assert set(jobs) == {"lint", f"vm@{PRODUCT}"}
    tried = jobs[f"vm@{PRODUCT}"]
    assert (tried.repo, tried.sha) == (INFRA, SHA)
    assert (tried.source_url, tried.source_sha) == (
        f"https://github.com/{PRODUCT}.git",
        PRODUCT_MAIN,
    )
    assert (tried.tooling_url, tried.tooling_sha) == (f"https://github.com/{INFRA}.git", SHA)
    assert tried.checkout_sha == PRODUCT_MAIN


def test_a_product_suffix_on_a_product_pull_is_refused() -> None:
    decision = decide("issue_comment", comment(f"/test vm@{PRODUCT}"))
    assert decision.starts == ()
    assert "is not the infrastructure repository" in decision.comments[0].text


@pytest.fixture
def state(tmp_path: Any) -> BotState:
    return BotState(tmp_path / "state.sqlite")


class Published:
    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def publish_all(self, messages: Sequence[amqp.Outgoing]) -> None:
        self.jobs += [Job.from_json(m.body) for m in messages if m.routing_key.startswith("tasks")]


def test_the_bot_refuses_a_second_refresh_while_one_runs(state: BotState) -> None:
    gh = github()
    published = Published()
    bot = Bot(MAP, statuses=gh, reader=gh, conversation=gh, publisher=published,
              state=state, wait=lambda _: False, new_id=counter_ids())  # fmt: skip
    request = decide("issue_comment", comment("/image-refresh debian-12"), gh)
    assert bot.apply(request) == 1
    # No "Not yet tested": the refresh's statuses are its worker's, In progress and the end.
    assert "image-refresh/debian-12" not in gh.latest(PRODUCT, SHA)
    assert bot.apply(request) == 0
    assert gh.comments[-1] == (
        PRODUCT,
        42,
        "image-refresh/debian-12 is already queued or running on 8d3c1a0b7e5f",
    )
    gh.post(PRODUCT, SHA, Status("image-refresh/debian-12", "pending", "In progress", "http://l"))
    assert bot.apply(request) == 0
    assert gh.comments[-1][2].endswith("(log: http://l)")
    # Once it has ended, asking again runs it again.
    gh.post(PRODUCT, SHA, Status("image-refresh/debian-12", "failure", "Tests failed"))
    assert bot.apply(request) == 1
    assert [j.refresh for j in published.jobs] == ["debian-12", "debian-12"]
    bot.apply(Decision(comments=(PostComment(PRODUCT, 42, "hello"),)))
    assert gh.comments[-1] == (PRODUCT, 42, "hello")
