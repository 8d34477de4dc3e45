"""The daily scan for stale VM images: which images are due (and the jitter that spreads
them), the issue it opens, what it does beside open issues and PRs, and the build time
read from a manifest in a real images-server."""

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from tasks import imagescan, tasklines
from tasks import testmap as tm
from tasks.forge import ForgeNotFound, ForgeRateLimited, HookDelivery, IssueInfo, PullInfo
from tasks.imagescan import DAY, Outcome
from tasks.testmap import ImageSpec
from tests.fixtures_images import ImagesServerFixture

REPO = "example-org/product"
OTHER = "example-org/other"
NOW = 1_750_000_000.0
SHA = "a" * 64
HEAD = "c" * 40


def ref(name: str, sha: str = SHA) -> str:
    return f"{name}-{sha}.qcow2"


# --- due() and the jitter -----------------------------------------------------------


def test_due_fresh_stale_and_missing() -> None:
    images = {n: ImageSpec(n, 10) for n in ("fresh", "stale", "missing", "unlisted")}
    built = {"fresh": NOW - 2 * DAY, "stale": NOW - 10 * DAY, "missing": None}
    assert imagescan.due(REPO, images, built, NOW) == ["stale", "missing", "unlisted"]


def test_due_between_80_and_100_percent_of_the_period() -> None:
    images = {"debian": ImageSpec("debian", 30)}
    assert imagescan.due(REPO, images, {"debian": NOW - 23.9 * DAY}, NOW) == []
    assert imagescan.due(REPO, images, {"debian": NOW - 30 * DAY}, NOW) == ["debian"]
    # Built "in the future" (a clock ahead of ours): not due.
    assert imagescan.due(REPO, images, {"debian": NOW + DAY}, NOW) == []


def test_jitter_is_bounded_and_deterministic() -> None:
    names = [f"image-{i}" for i in range(500)]
    for period in (1, 7, 30, 3650):
        jitters = [imagescan.jitter_days(REPO, name, period) for name in names]
        assert all(0 <= j < 0.2 * period for j in jitters)
        assert jitters == [imagescan.jitter_days(REPO, name, period) for name in names]
        # Spread over the whole range, not bunched at one end.
        assert min(jitters) < 0.02 * period
        assert max(jitters) > 0.18 * period
    # Depends on the repository too, and is pinned: a changed rule moves every due date.
    assert imagescan.jitter_days(REPO, "debian", 7) != imagescan.jitter_days(OTHER, "debian", 7)
    assert math.isclose(imagescan.jitter_days(REPO, "debian", 7), PINNED_DEBIAN_7)


PINNED_DEBIAN_7 = 1.3369545815911155


def test_images_built_on_one_day_come_due_on_several() -> None:
    period = 30
    images = {f"image-{i}": ImageSpec(f"image-{i}", period) for i in range(100)}
    built: dict[str, float | None] = dict.fromkeys(images, NOW)
    first_due: dict[str, int] = {}
    for day in range(period + 2):
        for name in imagescan.due(REPO, images, built, NOW + day * DAY):
            first_due.setdefault(name, day)
    assert set(first_due) == set(images)
    days = list(first_due.values())
    assert all(24 <= day <= period for day in days)
    assert len(set(days)) >= 5
    assert max(days.count(day) for day in set(days)) <= 40


# --- issue_text() -------------------------------------------------------------------


def test_issue_text_round_trips_through_the_task_line_grammar() -> None:
    title, body = imagescan.issue_text(REPO, "debian-12", 9.25, 7)
    assert title == "Refresh the VM image debian-12"
    assert tasklines.wanted(body) == ["debian-12"]
    assert "9.2 days" in body
    assert "7 days" in body
    ticked = tasklines.mark(body, "debian-12", done=True, note="log: https://x/")
    assert tasklines.wanted(ticked) == []
    # The title is the same whatever the age: the scan finds its issue again.
    unknown_title, unknown_body = imagescan.issue_text(REPO, "debian-12", None, 7)
    assert unknown_title == title
    assert tasklines.wanted(unknown_body) == ["debian-12"]
    assert "unknown" in unknown_body


# --- scan() with fakes of the forge port --------------------------------------------


@dataclass
class FakeForge:
    """Reader and Conversation over a few dicts; records every write."""

    files: dict[tuple[str, str, str], str] = field(default_factory=dict)
    issues: dict[str, list[IssueInfo]] = field(default_factory=dict)
    created: list[tuple[str, str, str]] = field(default_factory=list)
    bodies_set: list[tuple[str, int, str]] = field(default_factory=list)
    read_repos: list[str] = field(default_factory=list)
    fail: dict[str, Exception] = field(default_factory=dict)

    def pull(self, repo: str, number: int) -> PullInfo:
        raise NotImplementedError

    def open_pulls(self, repo: str) -> list[PullInfo]:
        raise NotImplementedError

    def is_member(self, org: str, login: str) -> bool:
        raise NotImplementedError

    def hook_deliveries(self, repo: str) -> list[HookDelivery]:
        raise NotImplementedError

    def redeliver(self, repo: str, delivery: HookDelivery) -> None:
        raise NotImplementedError

    def default_branch(self, repo: str) -> str:
        self.read_repos.append(repo)
        if repo in self.fail:
            raise self.fail[repo]
        return "main"

    def branch_head(self, repo: str, branch: str) -> str:
        assert branch == "main"
        return HEAD

    def file_text(self, repo: str, ref: str, path: str) -> str | None:
        assert ref == HEAD
        return self.files.get((repo, ref, path))

    def body(self, repo: str, number: int) -> str:
        return next(i.body for i in self.issues[repo] if i.number == number)

    def set_body(self, repo: str, number: int, body: str) -> None:
        self.bodies_set.append((repo, number, body))

    def comment(self, repo: str, number: int, text: str) -> None:
        raise NotImplementedError

    def open_issues(self, repo: str) -> list[IssueInfo]:
        return list(self.issues.get(repo, []))

    def create_issue(self, repo: str, title: str, body: str) -> int:
        number = 100 + len(self.created)
        self.created.append((repo, title, body))
        self.issues.setdefault(repo, []).append(IssueInfo(number, title, body, is_pull=False))
        return number

    def create_pull(self, repo: str, head: str, base: str, title: str, body: str) -> int:
        number = 100 + len(self.created)
        self.created.append((repo, title, body))
        self.issues.setdefault(repo, []).append(IssueInfo(number, title, body, is_pull=True))
        return number


MAP = tm.TestMap(
    repos={},
    images={REPO: {"debian": ImageSpec("debian", 7), "alpine": ImageSpec("alpine", 30)}},
)
BUILT = {ref("debian"): NOW - 8 * DAY, ref("alpine", "b" * 64): NOW - 3 * DAY}


def forge_with_references() -> FakeForge:
    return FakeForge(
        files={
            (REPO, HEAD, "images/debian"): ref("debian") + "\n",
            (REPO, HEAD, "images/alpine"): ref("alpine", "b" * 64) + "\n",
            (OTHER, HEAD, "images/debian"): ref("debian") + "\n",
        }
    )


def run_scan(forge: FakeForge, testmap: tm.TestMap = MAP, **options: list[str]) -> list[Outcome]:
    return imagescan.scan(testmap, forge, forge, BUILT.get, NOW, **options)


def test_scan_opens_an_issue_for_a_stale_image() -> None:
    forge = forge_with_references()
    asked: list[str] = []

    def built_at(reference: str) -> float | None:
        asked.append(reference)
        return BUILT.get(reference)

    outcomes = imagescan.scan(MAP, forge, forge, built_at, NOW)
    assert outcomes == [
        Outcome(REPO, "debian", "opened", 8.0, 100),
        Outcome(REPO, "alpine", "fresh", 3.0),
    ]
    assert asked == [ref("debian"), ref("alpine", "b" * 64)]
    [(repo, title, body)] = forge.created
    assert (repo, title) == (REPO, "Refresh the VM image debian")
    assert tasklines.wanted(body) == ["debian"]
    assert "8.0 days" in body


def test_scan_does_not_open_a_second_issue_while_one_is_wanted() -> None:
    forge = forge_with_references()
    run_scan(forge)
    assert [o.action for o in run_scan(forge)] == ["requested", "fresh"]
    assert len(forge.created) == 1
    assert forge.bodies_set == []


def test_scan_counts_a_wanted_line_on_a_pull_request() -> None:
    forge = forge_with_references()
    line = "Bump it.\n\n* [ ] image-refresh debian\n"
    forge.issues[REPO] = [IssueInfo(7, "Newer packages", line, is_pull=True)]
    assert run_scan(forge)[0] == Outcome(REPO, "debian", "requested", 8.0, 7)
    assert forge.created == []
    assert forge.bodies_set == []


@pytest.mark.parametrize(
    ("done", "note"), [(True, "log: https://logs.example/x"), (False, "FAIL: build failed")]
)
def test_scan_rearms_its_issue_when_the_line_is_ticked_or_failed(done: bool, note: str) -> None:
    forge = forge_with_references()
    run_scan(forge)
    [issue] = forge.issues[REPO]
    ended = tasklines.mark(issue.body, "debian", done=done, note=note)
    assert tasklines.wanted(ended) == []
    forge.issues[REPO] = [IssueInfo(issue.number, issue.title, ended, is_pull=False)]
    assert run_scan(forge)[0] == Outcome(REPO, "debian", "updated", 8.0, issue.number)
    [(repo, number, body)] = forge.bodies_set
    assert (repo, number) == (REPO, issue.number)
    assert tasklines.wanted(body) == ["debian"]
    assert len(forge.created) == 1


def test_scan_leaves_a_pull_request_with_its_title_alone() -> None:
    forge = forge_with_references()
    done = "- [x] image-refresh debian log: https://logs.example/x\n"
    forge.issues[REPO] = [IssueInfo(3, "Refresh the VM image debian", done, is_pull=True)]
    assert run_scan(forge)[0].action == "opened"
    assert forge.bodies_set == []


@pytest.mark.parametrize(
    "text",
    [
        ref("alpine"),  # another image's reference
        f"debian-{'a' * 63}.qcow2",
        f"debian-{'A' * 64}.qcow2",
        f"images/{ref('debian')}",
        f"{ref('debian')} # pinned",
        f"{ref('debian')}\n{ref('debian')}\n",
        "",
        "x" * 5000,
    ],
)
def test_scan_takes_a_malformed_reference_as_missing(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    forge = forge_with_references()
    forge.files[REPO, HEAD, "images/debian"] = text
    asked: list[str] = []

    def built_at(reference: str) -> float | None:
        asked.append(reference)
        return BUILT.get(reference)

    with caplog.at_level(logging.INFO, logger="tasks.imagescan"):
        outcomes = imagescan.scan(MAP, forge, forge, built_at, NOW)
    assert outcomes[0] == Outcome(REPO, "debian", "opened", None, 100)
    assert asked == [ref("alpine", "b" * 64)]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "images/debian" in warning.getMessage()
    assert all(len(r.getMessage()) < 400 for r in caplog.records)
    assert "unknown" in forge.created[0][2]


def test_scan_takes_a_missing_reference_or_manifest_as_due() -> None:
    forge = forge_with_references()
    del forge.files[REPO, HEAD, "images/debian"]
    forge.files[REPO, HEAD, "images/alpine"] = ref("alpine", "d" * 64)
    assert [(o.action, o.age_days) for o in run_scan(forge)] == [
        ("opened", None),
        ("opened", None),
    ]


def test_scan_skips_repositories_the_map_does_not_list(caplog: pytest.LogCaptureFixture) -> None:
    forge = forge_with_references()
    assert {o.repo for o in run_scan(forge)} == {REPO}
    assert forge.read_repos == [REPO]
    forge = forge_with_references()
    with caplog.at_level(logging.WARNING, logger="tasks.imagescan"):
        outcomes = run_scan(forge, repos=[OTHER, REPO])
    assert {o.repo for o in outcomes} == {REPO}
    assert forge.read_repos == [REPO]
    assert f"{OTHER}: no images in the test map" in caplog.text
    assert all(repo == REPO for repo, _, _ in forge.created)


def test_scan_goes_on_after_a_repository_fails() -> None:
    testmap = tm.TestMap(repos={}, images={OTHER: {"debian": ImageSpec("debian", 7)}, **MAP.images})
    forge = forge_with_references()
    forge.fail[OTHER] = ForgeNotFound(OTHER)
    outcomes = run_scan(forge, testmap)
    assert outcomes[0] == Outcome(OTHER, "debian", "failed", detail=OTHER)
    assert [o.action for o in outcomes[1:]] == ["opened", "fresh"]
    forge.fail[OTHER] = ForgeRateLimited(60)
    with pytest.raises(ForgeRateLimited):
        run_scan(forge, testmap)


# --- the build time, from a manifest in a real images-server -------------------------


def manifest(built_at: str) -> bytes:
    return json.dumps({"format": "ouro-vm-image/1", "built_at": built_at}).encode()


def test_manifest_built_at() -> None:
    june = imagescan.manifest_built_at(manifest("2025-06-01T12:00:00Z"), "m")
    assert june == datetime(2025, 6, 1, 12, tzinfo=UTC).timestamp()
    for bad in (b"{", b"[]", b"{}", manifest("2025-06-01 12:00"), b'{"built_at": 5}'):
        assert imagescan.manifest_built_at(bad, "m") is None


def test_built_at_from_store(images_server: ImagesServerFixture) -> None:
    store = images_server.store()
    try:
        store.put(f"images/debian-{SHA}.manifest.json", manifest("2025-06-01T12:00:00Z"))
        store.put(f"images/alpine-{'b' * 64}.manifest.json", b"not json")
        built_at = imagescan.built_at_from_store(store)
        assert built_at(ref("debian")) == datetime(2025, 6, 1, 12, tzinfo=UTC).timestamp()
        assert built_at(ref("debian", "e" * 64)) is None
        assert built_at(ref("alpine", "b" * 64)) is None
        with pytest.raises(ValueError, match="not an image reference"):
            built_at("../etc/passwd")
        # The whole scan over the store: debian built on 1 June is 8 days old on the 9th.
        forge = forge_with_references()
        ninth = datetime(2025, 6, 9, 12, tzinfo=UTC).timestamp()
        outcomes = imagescan.scan(MAP, forge, forge, built_at, ninth)
        assert [(o.name, o.action, o.age_days) for o in outcomes] == [
            ("debian", "opened", 8.0),
            ("alpine", "opened", None),
        ]
    finally:
        store.close()
