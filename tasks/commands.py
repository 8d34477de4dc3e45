"""Commands in comments (docs/tasks-bot.md, "Commands"): `/test [CONTEXT…]`, `/retest` and
`/image-refresh NAME` by a trusted person, on a pull request. Pure, like `tasks.interpret`,
which hands `issue_comment` events here.

A command stands on a line of its own, so quoting one in prose does not run it. Trust is the
commenter's, for every command: nobody can run their own untrusted code by asking.
"""

import re
from dataclasses import replace

from ouro import validate
from ouro.jsonutil import JsonDict, get_int, get_str, has
from tasks import refresh, revisions, tasklines
from tasks.decision import (
    Decision,
    Lookups,
    PostComment,
    StartJob,
    start_contexts,
)
from tasks.forge import PullInfo
from tasks.job import NewId
from tasks.testmap import ContextSpec, TestMap
from tasks.trust import is_trusted

RETEST_STATES = frozenset({"failure", "error"})
# A comment may name many contexts; beyond this it is noise, not a request.
MAX_COMMAND_ARGS = 50


def parse_command(body: str) -> tuple[str, list[str]] | None:
    """The first `/test [context…]`, `/retest` or `/image-refresh NAME` line of a comment:
    (command, arguments); arguments are separated by spaces or commas."""
    for line in body.splitlines():
        match = re.fullmatch(
            r"\s*/(test|retest|image-refresh)(?:\s+(.*?))?\s*", line, re.IGNORECASE
        )
        if match:
            args = [a for a in re.split(r"[\s,]+", match.group(2) or "") if a]
            return match.group(1).lower(), args[:MAX_COMMAND_ARGS]
    return None


def issue_comment(payload: JsonDict, testmap: TestMap, lookups: Lookups, new_id: NewId) -> Decision:
    found = _trusted_command(payload, testmap, lookups)
    if isinstance(found, Decision):
        return found
    repo, number, name, args = found
    image = tasklines.command(get_str(payload, "comment.body"))
    if name == "image-refresh" and image is None:
        return Decision(reason=f"{repo}#{number}: /image-refresh without a valid image name")
    clone_url = get_str(payload, "repository.clone_url")
    if not has(payload, "issue.pull_request"):
        if image is None:
            return Decision(reason=f"{repo}#{number} is an issue: /{name} ignored")
        target = refresh.on_issue(repo, number, clone_url, lookups)
        return refresh.jobs(target, [image], testmap=testmap, new_id=new_id)
    # The API knows the head and base; the clone URL is the event's, as for other events.
    pull = replace(lookups.pull(repo, number), repo=repo, number=number, clone_url=clone_url)
    return _on_pull(pull, name, args, image, testmap=testmap, lookups=lookups, new_id=new_id)


def _on_pull(
    pull: PullInfo, name: str, args: list[str], image: str | None, *, testmap: TestMap,
    lookups: Lookups, new_id: NewId,
) -> Decision:  # fmt: skip
    validate.sha(pull.head_sha)
    if pull.state != "open":
        return Decision(reason=f"{pull.repo}#{pull.number} is {pull.state[:20]}: /{name} ignored")
    if image is None:
        return _test(pull, name, args, testmap=testmap, lookups=lookups, new_id=new_id)
    return refresh.on_pull_decision(
        pull, [image], testmap=testmap, lookups=lookups, new_id=new_id, trusted=True
    )


def _trusted_command(
    payload: JsonDict, testmap: TestMap, lookups: Lookups
) -> tuple[str, int, str, list[str]] | Decision:
    """(repository, PR or issue number, command, arguments) of a trusted person's new
    comment; else the decision to do nothing, with why."""
    action = get_str(payload, "action")
    repo = validate.repo(get_str(payload, "repository.full_name"))
    number = validate.pr_number(get_int(payload, "issue.number"))
    where = f"{repo}#{number}"
    command = parse_command(get_str(payload, "comment.body")) if action == "created" else None
    if command is None:
        return Decision(reason=f"{where}: comment {action[:40]!r} without a command")
    name, args = command
    login = validate.login(get_str(payload, "comment.user.login"))
    association = get_str(payload, "comment.author_association")
    if not testmap.repos.get(repo) and repo not in testmap.images and not testmap.is_infra(repo):
        return Decision(reason=f"{where}: repository not in the test map")
    orgs = {repo.split("/")[0], *testmap.trusted.orgs}
    if not is_trusted(login, association, orgs, testmap.trusted, lookups.is_member):
        return Decision(reason=f"{where}: /{name} by untrusted {login[:40]!r} ignored")
    return repo, number, name, args


def _test(
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
    available = testmap.contexts(pull.repo, pull.base_ref)
    if not available and not testmap.is_infra(pull.repo):
        return Decision(reason=f"{where}: no contexts for base {pull.base_ref[:100]!r}")
    validate.ref(pull.base_ref)
    by_name = {s.name: s for s in available}
    if name == "retest":
        latest = lookups.statuses(pull.repo, pull.head_sha)
        chosen = tuple(
            s for s in available if s.name in latest and latest[s.name].state in RETEST_STATES
        )
    elif args:
        chosen = tuple(by_name[a] for a in dict.fromkeys(args) if a in by_name)
    else:
        chosen = available
    others = [a for a in args if a not in by_name]
    suffixed = _suffixed(pull, others, by_name, testmap=testmap, lookups=lookups, new_id=new_id)
    if not chosen and not suffixed.starts:
        return Decision(
            comments=suffixed.comments,
            reason=f"{where}: /{name} selects no context of {pull.base_ref}{suffixed.reason}",
        )
    started = start_contexts(
        pull, chosen, force=True, new_id=new_id, why=f" (/{name}){suffixed.reason}"
    )
    return started + Decision(starts=suffixed.starts, comments=suffixed.comments)


def _suffixed(
    pull: PullInfo,
    args: list[str],
    available: dict[str, ContextSpec],
    *,
    testmap: TestMap,
    lookups: Lookups,
    new_id: NewId,
) -> Decision:
    """Jobs for the `CONTEXT@REVISION` arguments; a comment for each that cannot run, and
    the unknown names in `reason`."""
    starts, comments, unknown = [], [], []
    for arg in args:
        try:
            request = tasklines.context_request(arg)
        except validate.InvalidValue:
            unknown.append(arg)
            continue
        if request.target is None:
            unknown.append(arg)
            continue
        try:
            job = revisions.target_job(
                pull, request.context, request.target, available,
                testmap=testmap, lookups=lookups, new_id=new_id,
            )  # fmt: skip
        except revisions.Unavailable as error:
            comments.append(PostComment(pull.repo, pull.number, f"/test {arg[:80]}: {error}"))
            continue
        starts.append(StartJob(job, force=True))
    note = f"; unknown contexts {', '.join(repr(u[:40]) for u in unknown[:5])}" if unknown else ""
    return Decision(starts=tuple(starts), comments=tuple(comments), reason=note)
