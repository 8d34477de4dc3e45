"""A person's "Re-run" of a check run (`check_run` `rerequested`, App mode): its job is
queued again on the same revision (docs/tasks-bot.md, "Check runs"). Pure, like
`tasks.interpret`, which hands `check_run` events here.

GitHub offers "Re-run" only to people with write access to the repository, so the request
is trusted as a push is. A run on a pull request runs again only while its sha is still the
PR's head (an older head's result changes nothing); one on a branch runs again as the
push did.
"""

from ouro import validate
from ouro.jsonutil import JsonDict, get_dict, get_int, get_list, get_str
from tasks.decision import Decision, Lookups, StartJob, build_job, start_contexts
from tasks.job import NewId
from tasks.testmap import TestMap


def check_run(payload: JsonDict, testmap: TestMap, lookups: Lookups, new_id: NewId) -> Decision:
    action = get_str(payload, "action")
    repo = validate.repo(get_str(payload, "repository.full_name"))
    name = get_str(payload, "check_run.name")
    where = f"{repo} {name[:100]!r}"
    if action != "rerequested":
        return Decision(reason=f"{where}: check run {action[:40]!r} asks for nothing")
    sha = validate.sha(get_str(payload, "check_run.head_sha"))
    pulls = [p for p in get_list(payload, "check_run.pull_requests") if isinstance(p, dict)]
    if pulls:
        number = validate.pr_number(get_int(pulls[0], "number"))
        pull = lookups.pull(repo, number)
        if pull.state != "open" or pull.head_sha != sha:
            return Decision(reason=f"{where}: {sha[:12]} is no longer the head of open #{number}")
        specs = tuple(s for s in testmap.contexts(repo, pull.base_ref) if s.name == name)
        if not specs:
            return Decision(reason=f"{where}: not a context of {pull.base_ref[:100]!r}")
        return start_contexts(pull, specs, force=True, new_id=new_id, why=" (re-run)")
    branch = get_str(get_dict(payload, "check_run.check_suite"), "head_branch")
    specs = tuple(s for s in testmap.contexts(repo, branch) if s.name == name)
    if not specs:
        return Decision(reason=f"{where}: not a context of branch {branch[:100]!r}")
    validate.ref(branch)
    job = build_job(
        specs[0], repo=repo, sha=sha, clone_url=get_str(payload, "repository.clone_url"),
        pr=None, base_ref=branch, new_id=new_id,
    )  # fmt: skip
    return Decision(starts=(StartJob(job, force=True),), reason=f"{where} on {branch}: re-run")
