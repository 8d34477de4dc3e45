"""The daily scan for stale VM images: an issue with an `image-refresh` task line for each
image of the test map that is older than its refresh period.

A product repository pins each image with a reference file `images/NAME` on its default
branch, one line `NAME-<sha256>.qcow2`; the image's manifest in the store
(`images/NAME-<sha256>.manifest.json`, written by `ouro vm build`) says when it was built.
The command that runs the scan (once a day) wires it as

    outcomes = scan(testmap, reader, conversation, built_at_from_store(store), time.time())

and prints one line per outcome. `due` and `issue_text` are pure; `scan` does its reads
and writes only through what it is given (the forge port, `built_at`); the store is
touched only by the function `built_at_from_store` returns.
"""

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ouro import jsonutil
from ouro.store import NotFound, Store
from tasks import github_requests, tasklines
from tasks.forge import Conversation, ForgeError, ForgeRateLimited, IssueInfo, Reader
from tasks.testmap import ImageSpec, TestMap

log = logging.getLogger(__name__)

DAY = 86400.0
# The most a due date moves earlier, as a share of the period.
JITTER = 0.2
# How `ouro vm build` writes `built_at` (vm/build.py): UTC, to the second.
BUILT_AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_REFERENCE = re.compile(r"(?P<stem>[A-Za-z0-9][A-Za-z0-9._-]{0,99}-[0-9a-f]{64})\.qcow2")

Action = Literal["opened", "updated", "requested", "fresh", "failed"]


@dataclass(frozen=True)
class Outcome:
    """What the scan did for one image, for the command's summary."""

    repo: str
    name: str
    # opened: a new issue; updated: the scan's own issue re-armed; requested: an open
    # issue or PR already asks for it; fresh: not due; failed: the forge failed (`detail`).
    action: Action
    age_days: float | None = None
    number: int | None = None
    detail: str = ""


def jitter_days(repo: str, name: str, period: int) -> float:
    """How many days before its period image `name` of `repo` comes due: a fraction in
    [0, JITTER) of the period, from the first 8 bytes of SHA-256(`repo` LF `name`). The
    same repository and name always give the same jitter, so images built on one day
    come due over several days, and each on the same day in every run of the scan."""
    digest = hashlib.sha256(f"{repo}\n{name}".encode()).digest()
    return JITTER * period * int.from_bytes(digest[:8], "big") / 2**64


def age_days(built: float | None, now: float) -> float | None:
    return None if built is None else (now - built) / DAY


def due(
    repo: str, images: dict[str, ImageSpec], built: dict[str, float | None], now: float
) -> list[str]:
    """The names of `images` (in their order) to refresh at `now` (epoch seconds).

    An image is due once its age (`now` minus its build time in `built`) reaches its
    `refresh_days` minus `jitter_days(repo, name, refresh_days)`: between 80% and 100% of
    its period. With no build time (None, or not in `built`: no valid reference, no
    manifest) it is due at once. Pure: the same arguments give the same answer.
    """
    names = []
    for name, spec in images.items():
        age = age_days(built.get(name), now)
        if age is None or age >= spec.refresh_days - jitter_days(repo, name, spec.refresh_days):
            names.append(name)
    return names


def title(name: str) -> str:
    """The scan's issue title for `name`: stable, so the next scan finds its own issue."""
    return f"Refresh the VM image {name}"


def issue_text(repo: str, name: str, age: float | None, period: int) -> tuple[str, str]:
    """(title, body) of the issue asking to refresh image `name` of `repo`, `age` days old
    (None: unknown). The body holds the task line `- [ ] image-refresh NAME`."""
    if age is None:
        why = (
            f"Its build time is unknown: `images/{name}` on the default branch is missing or "
            "is not a reference `NAME-<sha256>.qcow2`, or the store has no manifest for it."
        )
    else:
        why = f"It was built {age:.1f} days ago; its refresh period is {period} days."
    body = (
        f"The daily image scan found that the VM image `{name}` of {repo} is due for a "
        f"refresh. {why}\n\n"
        f"- [ ] {tasklines.TASK} {name}\n\n"
        "The line is ticked once a new image is built, or marked FAIL: with the reason. "
        f"On a pull request of this repository, the same line in its description (or a "
        f"comment `/{tasklines.TASK} {name}`) asks for the refresh there.\n"
    )
    return title(name), body


_SHAPE_WARNING = (
    "%s: images/%s on %s is not a reference %s-<sha256>.qcow2 (%.80r): taken as missing"
)


def reference(repo: str, ref: str, name: str, text: str | None) -> str | None:
    """The reference held by the file `images/NAME`, if its text has exactly the shape
    `NAME-<64 hex>.qcow2` (whitespace around it aside); None otherwise (logged if not
    simply missing)."""
    if text is None:
        log.info("%s: no images/%s on %s", repo, name, ref)
        return None
    line = text.strip()
    if re.fullmatch(re.escape(name) + r"-[0-9a-f]{64}\.qcow2", line) is None:
        log.warning(_SHAPE_WARNING, repo, name, ref, name, line)
        return None
    return line


def scan(
    testmap: TestMap,
    reader: Reader,
    conversation: Conversation,
    built_at: Callable[[str], float | None],
    now: float,
    *,
    repos: Iterable[str] | None = None,
) -> list[Outcome]:
    """Ask for a refresh of every due image of `testmap.images` (or of its `repos` only;
    others are skipped with a warning), one outcome per image.

    Per repository: the references are read at the default branch's head, the build time
    of each through `built_at(reference)`; for a due image, nothing is done if an open
    issue or PR has its task line still wanted (unticked, not failed); else an open issue
    with the scan's title gets a fresh body (the line unticked again); else a new issue
    is opened. A forge failure ends that repository's scan (its images `failed`), except
    a rate limit, which ends the whole scan (`ForgeRateLimited` raised).
    """
    chosen = list(testmap.images) if repos is None else list(repos)
    outcomes: list[Outcome] = []
    with github_requests.counting("image-scan"):
        for repo in chosen:
            images = testmap.images.get(repo)
            if images is None:
                log.warning("%.140s: no images in the test map; skipped", repo)
                continue
            try:
                outcomes += _scan_repo(
                    repo, images, reader, conversation, built_at=built_at, now=now
                )
            except ForgeRateLimited:
                raise
            except ForgeError as error:
                log.warning("%s: image scan failed: %.200s", repo, error)
                detail = f"{error}"[:200]
                outcomes += [Outcome(repo, name, "failed", detail=detail) for name in images]
    return outcomes


def _scan_repo(
    repo: str,
    images: dict[str, ImageSpec],
    reader: Reader,
    conversation: Conversation,
    *,
    built_at: Callable[[str], float | None],
    now: float,
) -> list[Outcome]:
    branch = reader.default_branch(repo)
    head = reader.branch_head(repo, branch)
    built: dict[str, float | None] = {}
    for name in images:
        found = reference(repo, branch, name, reader.file_text(repo, head, f"images/{name}"))
        built[name] = None if found is None else built_at(found)
    stale = set(due(repo, images, built, now))
    open_issues = conversation.open_issues(repo) if stale else []
    outcomes = []
    for name, spec in images.items():
        age = age_days(built[name], now)
        if name not in stale:
            outcomes.append(Outcome(repo, name, "fresh", age))
            continue
        outcome = _request(repo, spec, age, open_issues, conversation)
        log.info("%s: image %s %s (#%s)", repo, name, outcome.action, outcome.number)
        outcomes.append(outcome)
    return outcomes


def _request(
    repo: str,
    spec: ImageSpec,
    age: float | None,
    open_issues: list[IssueInfo],
    conversation: Conversation,
) -> Outcome:
    name = spec.name
    for issue in open_issues:
        if name in tasklines.wanted(issue.body):
            return Outcome(repo, name, "requested", age, issue.number)
    heading, body = issue_text(repo, name, age, spec.refresh_days)
    own = [issue for issue in open_issues if not issue.is_pull and issue.title == heading]
    if own:
        number = min(issue.number for issue in own)
        conversation.set_body(repo, number, body)
        return Outcome(repo, name, "updated", age, number)
    number = conversation.create_issue(repo, heading, body)
    return Outcome(repo, name, "opened", age, number)


def manifest_built_at(data: bytes, where: str) -> float | None:
    """`built_at` of the manifest `data` in epoch seconds; None (logged) if it has none
    in the format `ouro vm build` writes."""
    try:
        text = jsonutil.get_str(jsonutil.parse_object(data, where), "built_at")
        built = datetime.strptime(text, BUILT_AT_FORMAT).replace(tzinfo=UTC)
    except ValueError as error:  # PayloadError is a ValueError
        log.warning("%s: no readable built_at (%.120s): taken as missing", where, error)
        return None
    return built.timestamp()


def built_at_from_store(store: Store) -> Callable[[str], float | None]:
    """`built_at` for `scan`: the build time of a reference `NAME-<sha256>.qcow2`, read
    from its manifest `images/NAME-<sha256>.manifest.json` in `store`; None when there is
    no such manifest (or it has no readable time). Other store errors are raised: a store
    that cannot be read must not make every image look due."""

    def built_at(reference: str) -> float | None:
        match = _REFERENCE.fullmatch(reference)
        if match is None:
            raise ValueError(f"not an image reference: {reference!r:.120}")
        path = f"images/{match['stem']}.manifest.json"
        try:
            data = store.get(path)
        except NotFound:
            log.info("no manifest %s in the store", path)
            return None
        return manifest_built_at(data, path)

    return built_at
