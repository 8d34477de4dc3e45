"""Image refresh requests, from a description's task line or a comment, to jobs
(docs/tasks-bot.md, "Image refresh"). Pure, as `tasks.interpret` is: the event's data and the
test map in, the jobs (or why not) out.

On a pull request the refresh job checks out the PR's head as it is (no rebase: the new
reference is committed on top of it), runs `ouro vm refresh NAME` there, and the worker
pushes the result to the PR's branch. On an issue (the daily scan opens those) it starts
from the default branch's head, and the worker pushes a new branch and opens a PR from it.
Only images the test map lists for the repository may be refreshed, and only on branches
of the repository itself: the push token cannot (and must not) write to forks.
"""

from dataclasses import dataclass

from ouro import validate
from tasks import tasklines
from tasks.decision import (
    Decision,
    Lookups,
    PostComment,
    StartJob,
    manual_testing,
    trusted_author,
)
from tasks.forge import PullInfo
from tasks.job import Job, NewId
from tasks.testmap import TestMap

CONTEXT_PREFIX = "image-refresh/"


class Refused(Exception):
    """The refresh cannot be done; the message is for the person who asked."""


def context(name: str) -> str:
    return CONTEXT_PREFIX + name


@dataclass(frozen=True)
class Where:
    """The revision a refresh starts from, and where its result goes."""

    repo: str
    sha: str
    clone_url: str
    base_ref: str
    # The PR's head branch; None for an issue: then a new branch per image.
    push_branch: str | None
    pr: int | None = None
    issue: int | None = None

    @property
    def number(self) -> int:
        """The PR or issue the person asked on, for replies."""
        return self.pr if self.pr is not None else self.issue or 0


def on_pull(pull: PullInfo) -> Where:
    """The PR's head; `Refused` if its branch is not in the repository."""
    if pull.head_repo != pull.repo or not pull.head_ref:
        raise Refused(
            f"the branch of #{pull.number} is not in {pull.repo}: "
            "an image refresh can only push to the repository's own branches"
        )
    return Where(pull.repo, pull.head_sha, pull.clone_url, pull.base_ref,
                 validate.ref(pull.head_ref), pr=pull.number)  # fmt: skip


def on_issue(repo: str, issue: int, clone_url: str, lookups: Lookups) -> Where:
    """The default branch's head, resolved now: the job builds what was there when asked."""
    branch = validate.ref(lookups.default_branch(repo))
    sha = validate.sha(lookups.branch_head(repo, branch))
    return Where(repo, sha, clone_url, branch, None, issue=issue)


def refresh_job(where: Where, name: str, testmap: TestMap, new_id: NewId) -> Job:
    """The job that refreshes image `name`; `Refused` with the reason."""
    known = testmap.images.get(where.repo, {})
    if name not in known or testmap.refresh is None:
        listed = ", ".join(sorted(known)) or "none"
        raise Refused(f"{name} is not an image of {where.repo} in the test map (images: {listed})")
    spec = testmap.refresh
    name_context = context(name)
    # On the infrastructure repository the revision's own tooling builds the image.
    own_tooling = testmap.is_infra(where.repo)
    return Job(
        id=new_id(name_context, where.sha),
        repo=where.repo,
        sha=where.sha,
        context=name_context,
        command=["ouro", "vm", "refresh", name],
        image=spec.image,
        clone_url=where.clone_url,
        capability=spec.capability,
        pr=where.pr,
        base_ref=where.base_ref,
        secrets=list(spec.secrets),
        timeout=spec.timeout,
        priority=spec.priority,
        tooling_url=where.clone_url if own_tooling else None,
        tooling_sha=where.sha if own_tooling else None,
        refresh=name,
        push_branch=where.push_branch or f"image-refresh/{name}-{where.sha[:12]}",
        issue=where.issue,
    )


def jobs(where: Where, names: list[str], *, testmap: TestMap, new_id: NewId) -> Decision:
    """Refresh jobs for `names`, each at most one at a time; a reply for each that cannot
    be done."""
    starts, comments = [], []
    for name in names:
        try:
            starts.append(StartJob(refresh_job(where, name, testmap, new_id), exclusive=True))
        except Refused as refused:
            text = f"image-refresh {name}: {refused}"
            comments.append(PostComment(where.repo, where.number, text))
    return Decision(
        starts=tuple(starts),
        comments=tuple(comments),
        reason=f"{where.repo}#{where.number}: image refresh of {', '.join(names)}",
    )


def on_pull_decision(
    pull: PullInfo, names: list[str], *, testmap: TestMap, lookups: Lookups, new_id: NewId,
    trusted: bool | None = None,
) -> Decision:  # fmt: skip
    """Refresh jobs for `names` on the PR: started for a trusted author (`trusted`: already
    decided, e.g. the commenter's trust), "Manual testing required" for anyone else."""
    where = f"{pull.repo}#{pull.number}"
    if not names:
        return Decision()
    if pull.repo not in testmap.images:
        # Task lines of a repository that keeps no images here are somebody else's.
        return Decision(reason=f"{where}: image refresh asked, but the map lists no images")
    if trusted is None:
        trusted = trusted_author(pull, testmap, lookups)
    if not trusted:
        return Decision(
            statuses=manual_testing(pull, [context(name) for name in names]),
            reason=f"{where}: image refresh by untrusted {pull.author[:40]!r} needs a person",
        )
    try:
        target = on_pull(pull)
    except Refused as refused:
        text = f"image-refresh {', '.join(names)}: {refused}"
        return Decision(comments=(PostComment(pull.repo, pull.number, text),), reason=str(refused))
    return jobs(target, names, testmap=testmap, new_id=new_id)


def from_description(
    pull: PullInfo, *, testmap: TestMap, lookups: Lookups, new_id: NewId
) -> Decision:
    """What the task lines of the PR's description ask for (unticked, not FAIL:)."""
    if pull.draft:
        return Decision()
    return on_pull_decision(
        pull, tasklines.wanted(pull.body), testmap=testmap, lookups=lookups, new_id=new_id
    )
