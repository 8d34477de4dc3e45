"""Jobs against another revision (docs/tasks-bot.md, "Testing an unmerged revision of the
infrastructure"). Pure: the revisions are resolved to shas through `Lookups` when the job is
queued, never when it runs, so a job tests what was asked even if the branch moves on.

- On a product PR, `/test vm@infra#12` runs the product's `vm` context with the tooling of the
  infrastructure repository's PR 12 at its current head; reported as `vm@infra#12`.
- On an infrastructure PR, `/test vm@owner/product` (and the test map's `infra.tries`, on every
  push) runs the product's `vm` context on the product's default branch with the PR's own
  tooling; reported on the infrastructure PR as `vm@owner/product`.
"""

from ouro import validate
from tasks.decision import Decision, Lookups, Revisions, StartJob, pull_job
from tasks.forge import PullInfo
from tasks.job import Job, NewId
from tasks.tasklines import InfraPull, Product, suffixed
from tasks.testmap import ContextSpec, TestMap


class Unavailable(Exception):
    """The revision cannot be used; the message says why, for the log and the person."""


def with_infra_tooling(
    pull: PullInfo, spec: ContextSpec, number: int, *, testmap: TestMap, lookups: Lookups,
    new_id: NewId,
) -> Job:  # fmt: skip
    """`spec` on the product PR's head, with the tooling of infrastructure PR `number`."""
    if testmap.infra is None:
        raise Unavailable("the test map names no infrastructure repository (infra.repo)")
    infra = lookups.pull(testmap.infra.repo, number)
    if infra.state != "open":
        raise Unavailable(f"{testmap.infra.repo}#{number} is {infra.state[:20]}")
    revisions = Revisions(
        tooling=(infra.clone_url, validate.sha(infra.head_sha)),
        context=suffixed(spec.name, InfraPull(number)),
    )
    return pull_job(pull, spec, new_id, revisions)


def on_infra_pull(
    pull: PullInfo, product: str, name: str, *, testmap: TestMap, lookups: Lookups,
    new_id: NewId,
) -> Job:  # fmt: skip
    """The product's context `name` on its default branch, with the infrastructure PR's
    tooling, reported on the infrastructure PR."""
    if not testmap.is_infra(pull.repo):
        raise Unavailable(f"{pull.repo} is not the infrastructure repository of the test map")
    branch = validate.ref(lookups.default_branch(product))
    specs = {spec.name: spec for spec in testmap.contexts(product, branch)}
    if name not in specs:
        raise Unavailable(f"{product} has no context {name!r:.60} on {branch}")
    sha = validate.sha(lookups.branch_head(product, branch))
    revisions = Revisions(
        source=(sibling_url(pull.clone_url, pull.repo, product), sha),
        tooling=(pull.clone_url, pull.head_sha),
        context=suffixed(name, Product(product)),
    )
    return pull_job(pull, specs[name], new_id, revisions)


def tries(pull: PullInfo, testmap: TestMap, lookups: Lookups, new_id: NewId) -> Decision:
    """The product contexts every push to an infrastructure PR tries (`infra.tries`); one
    that cannot run now (the product's default branch lacks it) is named in the reason."""
    if testmap.infra is None or not testmap.is_infra(pull.repo):
        return Decision()
    starts, skipped = [], []
    for product, names in testmap.infra.tries.items():
        for name in names:
            try:
                job = on_infra_pull(
                    pull, product, name, testmap=testmap, lookups=lookups, new_id=new_id
                )
            except Unavailable as error:
                skipped.append(str(error))
                continue
            starts.append(StartJob(job))
    note = f"not tried: {'; '.join(skipped)}" if skipped else ""
    return Decision(starts=tuple(starts), reason=note)


def sibling_url(clone_url: str, repo: str, other: str) -> str:
    """The clone URL of `other` on the same forge as `repo`'s `clone_url`."""
    for suffix in (f"/{repo}.git", f"/{repo}"):
        if clone_url.endswith(suffix):
            return clone_url[: -len(suffix)] + f"/{other}.git"
    raise Unavailable(f"cannot derive the clone URL of {other} from {clone_url[:100]!r}")


def target_job(
    pull: PullInfo,
    name: str,
    target: InfraPull | Product,
    available: dict[str, ContextSpec],
    *,
    testmap: TestMap,
    lookups: Lookups,
    new_id: NewId,
) -> Job:
    """The job a `/test NAME@TARGET` asks for on `pull`."""
    if isinstance(target, InfraPull):
        if name not in available:
            raise Unavailable(f"no context {name!r:.60} on {pull.base_ref[:60]}")
        return with_infra_tooling(
            pull, available[name], target.number, testmap=testmap, lookups=lookups, new_id=new_id
        )
    return on_infra_pull(pull, target.repo, name, testmap=testmap, lookups=lookups, new_id=new_id)
