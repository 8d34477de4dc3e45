"""Image refresh requests, from a PR's description or a comment, to jobs (docs/tasks-bot.md,
"Image refresh"). Pure, as `tasks.interpret` is: a `PullInfo` and the test map in, the job or
the reason it is refused out.

A refresh job checks out the PR's head as it is (no rebase: the new reference is committed on
top of it), runs `ouro vm refresh NAME` there, and the worker pushes the result to the PR's
branch. Only images the test map lists for the repository may be refreshed, and only on a
branch of the repository itself: the bot's push token cannot (and must not) write to forks.
"""

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


def refresh_job(pull: PullInfo, name: str, testmap: TestMap, new_id: NewId) -> Job:
    """The job that refreshes image `name` on the PR's head; `Refused` with the reason."""
    known = testmap.images.get(pull.repo, {})
    if name not in known or testmap.refresh is None:
        listed = ", ".join(sorted(known)) or "none"
        raise Refused(f"{name} is not an image of {pull.repo} in the test map (images: {listed})")
    if pull.head_repo != pull.repo or not pull.head_ref:
        raise Refused(
            f"the branch of #{pull.number} is not in {pull.repo}: "
            "an image refresh can only push to the repository's own branches"
        )
    spec = testmap.refresh
    name_context = context(name)
    infra = testmap.infra
    # On the infrastructure repository the PR's own tooling builds the image.
    own_tooling = infra is not None and infra.repo == pull.repo
    return Job(
        id=new_id(name_context, pull.head_sha),
        repo=pull.repo,
        sha=pull.head_sha,
        context=name_context,
        command=["ouro", "vm", "refresh", name],
        image=spec.image,
        clone_url=pull.clone_url,
        capability=spec.capability,
        pr=pull.number,
        base_ref=pull.base_ref,
        secrets=list(spec.secrets),
        timeout=spec.timeout,
        priority=spec.priority,
        tooling_url=pull.clone_url if own_tooling else None,
        tooling_sha=pull.head_sha if own_tooling else None,
        refresh=name,
        push_branch=pull.head_ref,
    )


def refresh_decision(
    pull: PullInfo, names: list[str], *, testmap: TestMap, lookups: Lookups, new_id: NewId,
    trusted: bool | None = None,
) -> Decision:  # fmt: skip
    """Refresh jobs for `names` on the PR: started for a trusted author (`trusted`: already
    decided, e.g. the commenter's trust), "Manual testing required" for anyone else, and a
    comment for each image that cannot be refreshed."""
    if not names:
        return Decision()
    where = f"{pull.repo}#{pull.number}"
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
    starts, comments = [], []
    for name in names:
        try:
            starts.append(StartJob(refresh_job(pull, name, testmap, new_id), exclusive=True))
        except Refused as refused:
            comments.append(PostComment(pull.repo, pull.number, f"image-refresh {name}: {refused}"))
    return Decision(
        starts=tuple(starts),
        comments=tuple(comments),
        reason=f"{where}: image refresh of {', '.join(names)}",
    )


def from_description(
    pull: PullInfo, *, testmap: TestMap, lookups: Lookups, new_id: NewId
) -> Decision:
    """What the task lines of the PR's description ask for (unticked, not FAIL:)."""
    if pull.draft:
        return Decision()
    return refresh_decision(
        pull, tasklines.wanted(pull.body), testmap=testmap, lookups=lookups, new_id=new_id
    )
