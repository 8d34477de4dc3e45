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

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from ouro import validate
from ouro.jsonutil import JsonDict, get_bool, get_dict, get_int, get_str, has
from tasks.cancel import Cancel
from tasks.forge import PullInfo, Status
from tasks.job import Job
from tasks.testmap import ContextSpec, TestMap
from tasks.trust import is_trusted

NOT_YET_TESTED = "Not yet tested"
MANUAL_TESTING = "Manual testing required"
NO_TEST_MARKER = "[no-test]"
START_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
RETEST_STATES = frozenset({"failure", "error"})
# A comment may name many contexts; beyond this it is noise, not a request.
MAX_COMMAND_ARGS = 50


class Lookups(Protocol):
    def is_member(self, org: str, login: str) -> bool: ...

    def pull(self, repo: str, number: int) -> PullInfo: ...

    def statuses(self, repo: str, sha: str) -> dict[str, Status]: ...


@dataclass(frozen=True)
class PostStatus:
    repo: str
    sha: str
    status: Status


@dataclass(frozen=True)
class StartJob:
    job: Job
    # A person asked for this run (`/test`, `/retest`) or the base branch changed: start it
    # even though the sha already has a status for the context.
    force: bool = False


@dataclass(frozen=True)
class Decision:
    starts: tuple[StartJob, ...] = ()
    # Posted only where the context has no status on the sha yet: never hides a result.
    statuses: tuple[PostStatus, ...] = ()
    cancels: tuple[Cancel, ...] = ()
    # One line for the log: what was decided and why.
    reason: str = ""


NewId = Callable[[str, str], str]


def new_job_id(context: str, sha: str) -> str:
    """`<context slug>-<sha[:12]>-<random>`: readable in logs, unique, safe in paths."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", context).strip("-.")[:80] or "job"
    return f"{slug}-{sha[:12]}-{secrets.token_hex(4)}"


def build_job(
    spec: ContextSpec,
    *,
    repo: str,
    sha: str,
    clone_url: str,
    pr: int | None,
    base_ref: str,
    new_id: NewId = new_job_id,
) -> Job:
    """The job for one context. Only validated identifiers come from the event; the
    command, image and secrets come from the test map."""
    return Job(
        id=new_id(spec.name, sha),
        repo=repo,
        sha=sha,
        context=spec.name,
        command=list(spec.command),
        image=spec.image,
        clone_url=clone_url,
        capability=spec.capability,
        pr=pr,
        base_ref=base_ref,
        secrets=list(spec.secrets),
        timeout=spec.timeout,
        priority=spec.priority,
    )


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
        return _issue_comment(payload, testmap, lookups, new_id)
    if event == "push":
        return _push(payload, testmap, new_id)
    return Decision(reason=f"{event} events are not used")


def _pull_from_payload(payload: JsonDict) -> PullInfo:
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
    )


def _pull_request(payload: JsonDict, testmap: TestMap, lookups: Lookups, new_id: NewId) -> Decision:
    action = get_str(payload, "action")
    pull = _pull_from_payload(payload)
    validate.repo(pull.repo)
    validate.pr_number(pull.number)
    validate.sha(pull.head_sha)
    where = f"{pull.repo}#{pull.number}"
    if action == "closed":
        cancel = Cancel(pull.repo, pull.number, keep_sha=None, reason="pull request closed")
        return Decision(cancels=(cancel,), reason=f"{where} closed: cancel its jobs")
    if action == "edited":
        if not has(payload, "changes.base"):
            return Decision(reason=f"{where} edited without a base change")
        # The old results tested the old base: run again even where statuses exist.
        return pull_decision(pull, testmap, lookups, force=True, new_id=new_id)
    if action not in START_ACTIONS:
        return Decision(reason=f"{where} {action[:40]!r} does not start tests")
    decision = pull_decision(pull, testmap, lookups, new_id=new_id)
    if action == "synchronize":
        cancel = Cancel(pull.repo, pull.number, keep_sha=pull.head_sha, reason="new push")
        return Decision(
            starts=decision.starts,
            statuses=decision.statuses,
            cancels=(cancel,),
            reason=decision.reason,
        )
    return decision


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
    if not specs:
        return Decision(reason=f"{where}: no contexts for base {pull.base_ref[:100]!r}")
    validate.ref(pull.base_ref)
    if pull.draft:
        return Decision(reason=f"{where} is a draft: waiting until it is ready")
    if NO_TEST_MARKER in pull.title.lower():
        return Decision(reason=f"{where} has {NO_TEST_MARKER} in its title")
    # The login becomes a path segment of the membership call: checked before any use.
    validate.login(pull.author)
    owner = pull.repo.split("/")[0]
    orgs = {owner, *testmap.trusted.orgs}
    if not is_trusted(
        pull.author, pull.author_association, orgs, testmap.trusted, lookups.is_member
    ):
        statuses = tuple(
            PostStatus(pull.repo, pull.head_sha, Status(spec.name, "pending", MANUAL_TESTING))
            for spec in specs
        )
        return Decision(
            statuses=statuses,
            reason=f"{where} by untrusted {pull.author[:40]!r}: manual testing required",
        )
    return _starts(pull, specs, force=force, new_id=new_id, why="")


def _starts(
    pull: PullInfo,
    specs: tuple[ContextSpec, ...],
    *,
    force: bool,
    new_id: NewId,
    why: str,
) -> Decision:
    starts = tuple(
        StartJob(
            build_job(
                spec,
                repo=pull.repo,
                sha=pull.head_sha,
                clone_url=pull.clone_url,
                pr=pull.number,
                base_ref=pull.base_ref,
                new_id=new_id,
            ),
            force=force,
        )
        for spec in specs
    )
    names = ", ".join(spec.name for spec in specs)
    return Decision(
        starts=starts,
        reason=f"{pull.repo}#{pull.number} at {pull.head_sha[:12]}: {names}{why}",
    )


def parse_command(body: str) -> tuple[str, list[str]] | None:
    """The first `/test [context…]` or `/retest` line of a comment: (command, arguments).

    Commands stand on a line of their own, so quoting a command in prose does not run it;
    arguments are separated by spaces or commas.
    """
    for line in body.splitlines():
        match = re.fullmatch(r"\s*/(test|retest)(?:\s+(.*?))?\s*", line, re.IGNORECASE)
        if match:
            args = [a for a in re.split(r"[\s,]+", match.group(2) or "") if a]
            return match.group(1).lower(), args[:MAX_COMMAND_ARGS]
    return None


def _issue_comment(
    payload: JsonDict, testmap: TestMap, lookups: Lookups, new_id: NewId
) -> Decision:
    action = get_str(payload, "action")
    repo = validate.repo(get_str(payload, "repository.full_name"))
    number = validate.pr_number(get_int(payload, "issue.number"))
    where = f"{repo}#{number}"
    if action != "created":
        return Decision(reason=f"{where}: comment {action[:40]!r} is not a command")
    if not has(payload, "issue.pull_request"):
        return Decision(reason=f"{where} is an issue, not a pull request")
    command = parse_command(get_str(payload, "comment.body"))
    if command is None:
        return Decision(reason=f"{where}: comment without a command")
    name, args = command
    login = validate.login(get_str(payload, "comment.user.login"))
    association = get_str(payload, "comment.author_association")
    if not testmap.repos.get(repo):
        return Decision(reason=f"{where}: repository not in the test map")
    orgs = {repo.split("/")[0], *testmap.trusted.orgs}
    # Trust is the commenter's, for /retest as for /test: nobody can rerun their own
    # untrusted code by asking.
    if not is_trusted(login, association, orgs, testmap.trusted, lookups.is_member):
        return Decision(reason=f"{where}: /{name} by untrusted {login[:40]!r} ignored")
    # The API knows the head and base; the clone URL is the event's, as for other events.
    pull = replace(
        lookups.pull(repo, number),
        repo=repo,
        number=number,
        clone_url=get_str(payload, "repository.clone_url"),
    )
    return _command(pull, name, args, testmap=testmap, lookups=lookups, new_id=new_id)


def _command(
    pull: PullInfo,
    name: str,
    args: list[str],
    *,
    testmap: TestMap,
    lookups: Lookups,
    new_id: NewId,
) -> Decision:
    """The contexts a trusted `/test` or `/retest` starts on the PR's current head."""
    where = f"{pull.repo}#{pull.number}"
    validate.sha(pull.head_sha)
    if pull.state != "open":
        return Decision(reason=f"{where} is {pull.state[:20]}: /{name} ignored")
    available = testmap.contexts(pull.repo, pull.base_ref)
    if not available:
        return Decision(reason=f"{where}: no contexts for base {pull.base_ref[:100]!r}")
    validate.ref(pull.base_ref)
    note = ""
    if name == "retest":
        latest = lookups.statuses(pull.repo, pull.head_sha)
        chosen = tuple(
            s for s in available if s.name in latest and latest[s.name].state in RETEST_STATES
        )
    elif args:
        by_name = {s.name: s for s in available}
        chosen = tuple(by_name[a] for a in dict.fromkeys(args) if a in by_name)
        unknown = [a for a in args if a not in by_name]
        if unknown:
            note = f"; unknown contexts {', '.join(repr(u[:40]) for u in unknown[:5])}"
    else:
        chosen = available
    if not chosen:
        return Decision(reason=f"{where}: /{name} selects no context of {pull.base_ref}{note}")
    return _starts(pull, chosen, force=True, new_id=new_id, why=f" (/{name}){note}")


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
