"""What interpreting an event decides, and the pieces every kind of request builds it from
(docs/tasks-bot.md): the `Decision` value, the `Lookups` interpretation may make, the job of
one test-map context, and the trust check. Pure, like everything `tasks.interpret` uses.
"""

from dataclasses import dataclass
from typing import Protocol

from ouro import validate
from tasks.cancel import Cancel
from tasks.forge import PullInfo, Status
from tasks.job import Job, NewId, new_job_id
from tasks.testmap import ContextSpec, TestMap
from tasks.trust import is_trusted

NOT_YET_TESTED = "Not yet tested"
MANUAL_TESTING = "Manual testing required"


class Lookups(Protocol):
    def is_member(self, org: str, login: str) -> bool: ...

    def pull(self, repo: str, number: int) -> PullInfo: ...

    def statuses(self, repo: str, sha: str) -> dict[str, Status]: ...

    def default_branch(self, repo: str) -> str: ...

    def branch_head(self, repo: str, branch: str) -> str: ...


@dataclass(frozen=True)
class PostStatus:
    repo: str
    sha: str
    status: Status


@dataclass(frozen=True)
class PostComment:
    repo: str
    number: int
    text: str


@dataclass(frozen=True)
class StartJob:
    job: Job
    # A person asked for this run (`/test`, `/retest`) or the base branch changed: start it
    # even though the sha already has a status for the context.
    force: bool = False
    # At most one at a time per (repo, sha, context): an image refresh. It starts unless
    # one is queued or running; then the bot says so in a comment instead.
    exclusive: bool = False


@dataclass(frozen=True)
class Decision:
    starts: tuple[StartJob, ...] = ()
    # Posted only where the context has no status on the sha yet: never hides a result.
    statuses: tuple[PostStatus, ...] = ()
    cancels: tuple[Cancel, ...] = ()
    comments: tuple[PostComment, ...] = ()
    # One line for the log: what was decided and why.
    reason: str = ""

    def __add__(self, other: "Decision") -> "Decision":
        reasons = [r for r in (self.reason, other.reason) if r]
        return Decision(
            starts=self.starts + other.starts,
            statuses=self.statuses + other.statuses,
            cancels=self.cancels + other.cancels,
            comments=self.comments + other.comments,
            reason="; ".join(reasons),
        )


@dataclass(frozen=True)
class Revisions:
    """Where a job's code comes from when it is not the reported commit itself."""

    source: tuple[str, str] | None = None  # (clone URL, sha) to check out instead
    tooling: tuple[str, str] | None = None  # (clone URL, sha) of the tooling to use
    context: str | None = None  # the reported context, e.g. `vm@infra#12`


def build_job(
    spec: ContextSpec,
    *,
    repo: str,
    sha: str,
    clone_url: str,
    pr: int | None,
    base_ref: str,
    new_id: NewId = new_job_id,
    revisions: Revisions | None = None,
) -> Job:
    """The job for one context. Only validated identifiers come from the event; the
    command, image and secrets come from the test map."""
    revisions = revisions or Revisions()
    context = revisions.context or spec.name
    source_url, source_sha = revisions.source or (None, None)
    tooling_url, tooling_sha = revisions.tooling or (None, None)
    return Job(
        id=new_id(context, sha),
        repo=repo,
        sha=sha,
        context=context,
        command=list(spec.command),
        image=spec.image,
        clone_url=clone_url,
        capability=spec.capability,
        pr=pr,
        base_ref=base_ref,
        secrets=list(spec.secrets),
        timeout=spec.timeout,
        priority=spec.priority,
        source_url=source_url,
        source_sha=source_sha,
        tooling_url=tooling_url,
        tooling_sha=tooling_sha,
    )


def pull_job(
    pull: PullInfo, spec: ContextSpec, new_id: NewId, revisions: Revisions | None = None
) -> Job:
    """The job of `spec` reported on the PR's head."""
    return build_job(
        spec,
        repo=pull.repo,
        sha=pull.head_sha,
        clone_url=pull.clone_url,
        pr=pull.number,
        base_ref=pull.base_ref,
        new_id=new_id,
        revisions=revisions,
    )


def trusted_author(pull: PullInfo, testmap: TestMap, lookups: Lookups) -> bool:
    # The login becomes a path segment of the membership call: checked before any use.
    validate.login(pull.author)
    orgs = {pull.repo.split("/")[0], *testmap.trusted.orgs}
    trusted = testmap.trusted
    return is_trusted(pull.author, pull.author_association, orgs, trusted, lookups.is_member)


def manual_testing(pull: PullInfo, contexts: list[str]) -> tuple[PostStatus, ...]:
    """ "Manual testing required" on the head for each context: untrusted code waits."""
    status = [Status(c, "pending", MANUAL_TESTING) for c in contexts]
    return tuple(PostStatus(pull.repo, pull.head_sha, s) for s in status)


def start_contexts(
    pull: PullInfo,
    specs: tuple[ContextSpec, ...],
    *,
    force: bool,
    new_id: NewId,
    why: str,
) -> Decision:
    """Jobs for `specs` on the PR's head."""
    starts = tuple(StartJob(pull_job(pull, spec, new_id), force=force) for spec in specs)
    names = ", ".join(spec.name for spec in specs)
    return Decision(
        starts=starts,
        reason=f"{pull.repo}#{pull.number} at {pull.head_sha[:12]}: {names}{why}",
    )
