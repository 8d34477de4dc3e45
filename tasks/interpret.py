"""From a GitHub event to decisions: which jobs to start, which statuses to post,
which running jobs to cancel (docs/tasks-bot.md, "What starts jobs").

Everything here is pure: a payload dict and the test map in, a `Decision` out.
What needs GitHub (a PR's head for a comment, org membership, the statuses a
`/retest` looks at) comes through the injected `Lookups`, so tests pass fakes
and the bot passes the API. Payloads are read only through `ouro.jsonutil`
and every value that enters a job is validated, so a malformed or hostile event
raises `PayloadError`/`InvalidValue` with a one-line reason. Payload text
(titles, bodies, branch names of forks) never enters a job's command.
"""

from ouro import validate
from ouro.jsonutil import JsonDict, get_bool, get_dict, get_int, get_str, has
from tasks import commands, refresh, rerun, revisions, tasklines
from tasks.cancel import Cancel
from tasks.decision import (
    Decision,
    Lookups,
    StartJob,
    build_job,
    manual_testing,
    start_contexts,
    trusted_author,
)
from tasks.forge import PullInfo
from tasks.job import NewId, new_job_id
from tasks.testmap import TestMap
from tasks.trust import is_trusted

NO_TEST_MARKER = "[no-test]"
START_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})


def interpret(
    event: str,
    payload: JsonDict,
    testmap: TestMap,
    lookups: Lookups,
    new_id: NewId = new_job_id,
) -> Decision:
    """The decision for one webhook event. Raises `PayloadError`/`InvalidValue` when
    the payload lacks what its event type must have or carries invalid values."""
    if event == "pull_request":
        return _pull_request(payload, testmap, lookups, new_id)
    if event == "issue_comment":
        return commands.issue_comment(payload, testmap, lookups, new_id)
    if event == "push":
        return _push(payload, testmap, new_id)
    if event == "issues":
        return _issue(payload, testmap, lookups, new_id)
    if event in rerun.EVENTS:
        return rerun.rerequested(event, payload, testmap, lookups, new_id)
    return Decision(reason=f"{event} events are not used")


def pull_from_payload(payload: JsonDict) -> PullInfo:
    """The pull request of a `pull_request` event; also how the GitHub adapter reads a pull
    request of the API, which has the same fields (its `base.repo` as `repository`)."""
    get_dict(payload, "pull_request")
    # Full paths from the payload's root, so an error names the field as GitHub does.
    return PullInfo(
        repo=get_str(payload, "repository.full_name"),
        number=get_int(payload, "pull_request.number"),
        head_sha=get_str(payload, "pull_request.head.sha"),
        base_ref=get_str(payload, "pull_request.base.ref"),
        title=get_str(payload, "pull_request.title"),
        draft=get_bool(payload, "pull_request.draft", default=False),
        state=get_str(payload, "pull_request.state"),
        author=get_str(payload, "pull_request.user.login"),
        author_association=get_str(payload, "pull_request.author_association"),
        clone_url=get_str(payload, "repository.clone_url"),
        # Null for a fork that was deleted: then nothing can be pushed there.
        head_repo=get_str(payload, "pull_request.head.repo.full_name")
        if get_dict(payload, "pull_request.head").get("repo") is not None
        else "",
        head_ref=get_str(payload, "pull_request.head.ref"),
        body=get_str(payload, "pull_request.body")
        if get_dict(payload, "pull_request").get("body") is not None
        else "",
    )


def _pull_request(payload: JsonDict, testmap: TestMap, lookups: Lookups, new_id: NewId) -> Decision:
    action = get_str(payload, "action")
    pull = pull_from_payload(payload)
    validate.repo(pull.repo)
    validate.pr_number(pull.number)
    validate.sha(pull.head_sha)
    where = f"{pull.repo}#{pull.number}"
    if action == "closed":
        cancel = Cancel(pull.repo, pull.number, keep_sha=None, reason="pull request closed")
        return Decision(cancels=(cancel,), reason=f"{where} closed: cancel its jobs")
    # Task lines ask when the description is written (opened, edited), not on every push:
    # an image refresh's own push must not ask for it again.
    tasks = refresh.from_description(pull, testmap=testmap, lookups=lookups, new_id=new_id)
    if action == "edited":
        decision = tasks if has(payload, "changes.body") else Decision()
        if has(payload, "changes.base"):
            # The old results tested the old base: run again even where statuses exist.
            decision += pull_decision(pull, testmap, lookups, force=True, new_id=new_id)
        return decision if decision.reason else Decision(reason=f"{where} edited: nothing to do")
    if action not in START_ACTIONS:
        return Decision(reason=f"{where} {action[:40]!r} does not start tests")
    decision = pull_decision(pull, testmap, lookups, new_id=new_id)
    if action == "synchronize":
        cancel = Cancel(pull.repo, pull.number, keep_sha=pull.head_sha, reason="new push")
        return decision + Decision(cancels=(cancel,))
    return decision + tasks


def pull_decision(
    pull: PullInfo,
    testmap: TestMap,
    lookups: Lookups,
    *,
    force: bool = False,
    new_id: NewId = new_job_id,
) -> Decision:
    """Jobs (or "Manual testing required") for an open PR's head: for PR events and scans."""
    where = f"{pull.repo}#{pull.number}"
    validate.repo(pull.repo)
    validate.sha(pull.head_sha)
    specs = testmap.contexts(pull.repo, pull.base_ref)
    # The infrastructure repository may have no contexts of its own, only products to try.
    if not specs and not testmap.is_infra(pull.repo):
        return Decision(reason=f"{where}: no contexts for base {pull.base_ref[:100]!r}")
    validate.ref(pull.base_ref)
    if pull.draft:
        return Decision(reason=f"{where} is a draft: waiting until it is ready")
    if NO_TEST_MARKER in pull.title.lower():
        return Decision(reason=f"{where} has {NO_TEST_MARKER} in its title")
    if not trusted_author(pull, testmap, lookups):
        return Decision(
            statuses=manual_testing(pull, [spec.name for spec in specs]),
            reason=f"{where} by untrusted {pull.author[:40]!r}: manual testing required",
        )
    decision = start_contexts(pull, specs, force=force, new_id=new_id, why="")
    return decision + revisions.tries(pull, testmap, lookups, new_id)


def _push(payload: JsonDict, testmap: TestMap, new_id: NewId) -> Decision:
    ref = get_str(payload, "ref")
    repo = validate.repo(get_str(payload, "repository.full_name"))
    if not ref.startswith("refs/heads/"):
        return Decision(reason=f"{repo}: push to {ref[:100]!r} is not a branch")
    branch = ref.removeprefix("refs/heads/")
    if get_bool(payload, "deleted", default=False):
        return Decision(reason=f"{repo}: branch {branch[:100]!r} deleted")
    specs = testmap.contexts(repo, branch)
    if not specs:
        return Decision(reason=f"{repo}: no contexts for branch {branch[:100]!r}")
    validate.ref(branch)
    sha = validate.sha(get_str(payload, "after"))
    # Pushing to the base repository needs write access: the pusher is trusted.
    clone_url = get_str(payload, "repository.clone_url")
    starts = tuple(
        StartJob(
            build_job(
                spec,
                repo=repo,
                sha=sha,
                clone_url=clone_url,
                pr=None,
                base_ref=branch,
                new_id=new_id,
            )
        )
        for spec in specs
    )
    names = ", ".join(spec.name for spec in specs)
    return Decision(starts=starts, reason=f"{repo} {branch} at {sha[:12]}: {names}")


def _issue(payload: JsonDict, testmap: TestMap, lookups: Lookups, new_id: NewId) -> Decision:
    """Image refresh task lines in an issue (the daily scan opens such issues): refreshed
    from the default branch's head, for a trusted author."""
    action = get_str(payload, "action")
    repo = validate.repo(get_str(payload, "repository.full_name"))
    number = validate.pr_number(get_int(payload, "issue.number"))
    where = f"{repo}#{number}"
    asks = action in {"opened", "reopened"} or (action == "edited" and has(payload, "changes.body"))
    if not asks or repo not in testmap.images:
        return Decision(reason=f"{where}: issue {action[:40]!r} asks for no image refresh")
    body = get_dict(payload, "issue").get("body")
    names = tasklines.wanted(body if isinstance(body, str) else "")
    if not names:
        return Decision(reason=f"{where}: no image refresh asked")
    login = validate.login(get_str(payload, "issue.user.login"))
    association = get_str(payload, "issue.author_association")
    orgs = {repo.split("/")[0], *testmap.trusted.orgs}
    if not is_trusted(login, association, orgs, testmap.trusted, lookups.is_member):
        return Decision(reason=f"{where}: image refresh by untrusted {login[:40]!r} ignored")
    target = refresh.on_issue(repo, number, get_str(payload, "repository.clone_url"), lookups)
    return refresh.jobs(target, names, testmap=testmap, new_id=new_id)
