"""A person's "Re-run" of a check run (`check_run` `rerequested`) or "Re-run all checks" of
the App's suite (`check_suite` `rerequested`), App mode: the job (every job of the suite) is
queued again on the same revision (docs/tasks-bot.md, "Check runs"). Pure, like
`tasks.interpret`, which hands these events here.

GitHub offers "Re-run" only to people with write access to the repository, so the request
is trusted as a push is. A run on a pull request runs again only while its sha is still the
PR's head (an older head's result changes nothing); one on a branch runs again as the
push did.
"""

from ouro import validate
from ouro.jsonutil import JsonDict, get_int, get_list, get_optional_str, get_str
from tasks.decision import Decision, Lookups, StartJob, build_job, start_contexts
from tasks.job import NewId
from tasks.testmap import TestMap

EVENTS = ("check_run", "check_suite")


def rerequested(
    what: str, payload: JsonDict, testmap: TestMap, lookups: Lookups, new_id: NewId
) -> Decision:
    """The decision for a `check_run` or `check_suite` event (`what`, one of `EVENTS`)."""
    action = get_str(payload, "action")
    repo = validate.repo(get_str(payload, "repository.full_name"))
    # A run names its context; a suite stands for every context of the head.
    name = get_str(payload, "check_run.name") if what == "check_run" else None
    where = f"{repo} {what} {name[:100]!r}" if name is not None else f"{repo} {what}"
    if action != "rerequested":
        return Decision(reason=f"{where} {action[:40]!r} asks for nothing")
    sha = validate.sha(get_str(payload, f"{what}.head_sha"))
    pulls = [p for p in get_list(payload, f"{what}.pull_requests") if isinstance(p, dict)]
    if pulls:
        number = validate.pr_number(get_int(pulls[0], "number"))
        pull = lookups.pull(repo, number)
        if pull.state != "open" or pull.head_sha != sha:
            return Decision(reason=f"{where}: {sha[:12]} is no longer the head of open #{number}")
        specs = tuple(s for s in testmap.contexts(repo, pull.base_ref) if name in (None, s.name))
        if not specs:
            return Decision(reason=f"{where}: no such context of {pull.base_ref[:100]!r}")
        return start_contexts(pull, specs, force=True, new_id=new_id, why=" (re-run)")
    suite = "check_run.check_suite" if what == "check_run" else "check_suite"
    branch = get_optional_str(payload, f"{suite}.head_branch") or ""
    specs = tuple(s for s in testmap.contexts(repo, branch) if name in (None, s.name))
    if not specs:
        return Decision(reason=f"{where}: no such context of branch {branch[:100]!r}")
    validate.ref(branch)
    clone_url = get_str(payload, "repository.clone_url")
    jobs = (
        build_job(
            spec, repo=repo, sha=sha, clone_url=clone_url, pr=None, base_ref=branch, new_id=new_id
        )
        for spec in specs
    )
    starts = tuple(StartJob(job, force=True) for job in jobs)
    names = ", ".join(spec.name for spec in specs)
    return Decision(starts=starts, reason=f"{where} on {branch}: {names} (re-run)")
