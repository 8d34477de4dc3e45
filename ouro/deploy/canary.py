"""`ouro deploy canary report`: should the canary workers' release be promoted? (docs/worker.md,
"Canary workers"). And `ouro deploy canary manifest`, their Deployment (`canarypool`).

It reads the job records (`ouro.store.jobrecord`) of the last N jobs that ended, from the
store the workers write them to, splits them into the canary's and the stable workers',
prints a table of each side's figures and a verdict: "promote" (exit code 0) or "roll back"
(exit code 1). A canary's runs keep records of their own (`logs/<job>.canary/job.json`),
so a job a canary failed and a stable worker ran again counts on both sides.

Roll back when the canary ran nothing (nothing shows that its release works), when its
internal-error rate or its error rate is above the stable workers' by more than `--margin`,
or when its median duration is above `--max-slowdown` times theirs. Failures are the
changes' verdicts and are shown, not judged: the two sides test different commits.
"""

import argparse
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ouro.config import ConfigError
from ouro.deploy import canarypool, manifests, release
from ouro.jsonutil import PayloadError
from ouro.store import Store, StoreError, open_store
from ouro.store.jobrecord import NAME, JobRecord

LAST = 200
MARGIN = 0.05
MAX_SLOWDOWN = 1.5


@dataclass(frozen=True)
class Side:
    """The figures of one side (the canary workers, or the stable ones)."""

    jobs: int
    success: int
    failure: int
    error: int
    internal: int
    median: float | None
    releases: tuple[str, ...]

    @property
    def error_rate(self) -> float:
        return self.error / self.jobs if self.jobs else 0.0

    @property
    def internal_rate(self) -> float:
        return self.internal / self.jobs if self.jobs else 0.0


def side(records: Iterable[JobRecord]) -> Side:
    chosen = [r for r in records if r.finished is not None]
    durations = [r.finished - r.started for r in chosen if r.finished is not None]
    return Side(
        jobs=len(chosen),
        success=sum(r.state == "success" for r in chosen),
        failure=sum(r.state == "failure" for r in chosen),
        error=sum(r.state == "error" for r in chosen),
        internal=sum(r.internal for r in chosen),
        median=statistics.median(durations) if durations else None,
        releases=tuple(sorted({r.release or "unnamed" for r in chosen})),
    )


def verdict(
    canary: Side, stable: Side, margin: float = MARGIN, max_slowdown: float = MAX_SLOWDOWN
) -> tuple[bool, str]:
    """(promote?, why)."""
    if not canary.jobs:
        return False, "no canary job among them: nothing shows that its release works"
    if canary.internal_rate > stable.internal_rate + margin:
        return False, (
            f"canary internal-error rate {canary.internal_rate:.0%} above the stable "
            f"workers' {stable.internal_rate:.0%} by more than {margin:.0%}"
        )
    if canary.error_rate > stable.error_rate + margin:
        return False, (
            f"canary error rate {canary.error_rate:.0%} above the stable workers' "
            f"{stable.error_rate:.0%} by more than {margin:.0%}"
        )
    if canary.median is not None and stable.median and canary.median > max_slowdown * stable.median:
        return False, (
            f"canary median duration {canary.median:.1f}s above {max_slowdown:g} times the "
            f"stable workers' {stable.median:.1f}s"
        )
    return True, "the canary did as well as the stable workers"


def last_records(store: Store, last: int) -> list[JobRecord]:
    """The records of the last `last` jobs that ended, newest first: the records written
    last are read first, until that many ended ones are found."""
    entries = [e for e in store.entries("logs/") if e.path.endswith(f"/{NAME}")]
    found: list[JobRecord] = []
    for entry in sorted(entries, key=lambda e: e.modified, reverse=True):
        try:
            record = JobRecord.from_json(store.get(entry.path))
        except (PayloadError, StoreError) as error:
            print(f"skipped {entry.path}: {error}", file=sys.stderr)
            continue
        if record.finished is not None:
            found.append(record)
        if len(found) == last:
            break
    return sorted(found, key=lambda r: r.finished or 0, reverse=True)


def table(canary: Side, stable: Side) -> str:
    head = f"{'':8} {'jobs':>5} {'success':>8} {'failure':>8} {'error':>6} {'internal':>9}"
    head += f" {'error rate':>11} {'internal rate':>14} {'median':>8}  releases"
    lines = [head]
    for name, s in (("canary", canary), ("stable", stable)):
        median = f"{s.median:.1f}s" if s.median is not None else "-"
        lines.append(
            f"{name:8} {s.jobs:5} {s.success:8} {s.failure:8} {s.error:6} {s.internal:9}"
            f" {s.error_rate:11.1%} {s.internal_rate:14.1%} {median:>8}  {', '.join(s.releases)}"
        )
    return "\n".join(lines)


def _cmd_report(args: argparse.Namespace) -> int:
    if args.last < 1:
        raise ConfigError("--last must be at least 1")
    store = open_store()
    try:
        records = last_records(store, args.last)
    except StoreError as error:
        print(f"cannot read the job records: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    canary = side(r for r in records if r.canary)
    stable = side(r for r in records if not r.canary)
    promote, why = verdict(canary, stable, args.margin, args.max_slowdown)
    print(f"the last {len(records)} jobs that ended (asked for {args.last})")
    print(table(canary, stable))
    print(f"verdict: {'promote' if promote else 'roll back'} ({why})")
    return 0 if promote else 1


def _cmd_manifest(args: argparse.Namespace) -> int:
    if not 0 < args.canary_share <= 1:
        raise ConfigError("--canary-share must be above 0 and at most 1")
    chosen = release.load(args.release, args.releases)
    doc = canarypool.deployment(
        chosen,
        share=args.canary_share,
        replicas=args.replicas,
        window=args.canary_window,
        max_error_rate=args.canary_max_error_rate,
        kube=args.kube,
    )
    print(yaml.safe_dump(doc, sort_keys=False), end="")
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "canary", help="a canary worker pool: its Deployment, and whether to promote it"
    )
    sub = parser.add_subparsers(metavar="ACTION", required=True)
    manifest = sub.add_parser(
        "manifest",
        help="print the canary worker Deployment of a release, for kubectl apply -f -",
    )
    manifest.add_argument("--release", required=True, help="a release's name or file")
    manifest.add_argument(
        "--releases", type=Path, default=release.RELEASES,
        help=f"the folder of release files (default {release.RELEASES})",
    )  # fmt: skip
    manifest.add_argument("--kube", type=Path, default=manifests.KUBE, help="the kustomization")
    manifest.add_argument(
        "--canary-share", type=float, default=0.1, metavar="FRACTION",
        help="the share of the jobs the canary takes (default 0.1)",
    )  # fmt: skip
    manifest.add_argument(
        "--canary-window", type=int, metavar="N", help="as `ouro worker --canary-window`"
    )
    manifest.add_argument(
        "--canary-max-error-rate", type=float, metavar="RATE",
        help="as `ouro worker --canary-max-error-rate`",
    )  # fmt: skip
    manifest.add_argument("--replicas", type=int, default=1, help="canary workers (default 1)")
    manifest.set_defaults(func=_cmd_manifest)
    report = sub.add_parser(
        "report",
        help="compare the canary's and the stable workers' jobs: promote (exit 0) or roll "
        "back (exit 1)",
        description="Compare the canary and stable workers over the last jobs in the store "
        "(IMAGES_SERVER_URL, or OURO_STORE=s3): error rate, internal errors, median duration.",
    )
    report.add_argument(
        "--last", type=int, default=LAST, metavar="N",
        help=f"the last N jobs that ended (default {LAST})",
    )  # fmt: skip
    report.add_argument(
        "--margin", type=float, default=MARGIN, metavar="RATE",
        help="how far the canary's error and internal-error rates may exceed the stable "
        f"workers' (default {MARGIN:g})",
    )  # fmt: skip
    report.add_argument(
        "--max-slowdown", type=float, default=MAX_SLOWDOWN, metavar="FACTOR",
        help="how many times the stable workers' median duration the canary's may reach "
        f"(default {MAX_SLOWDOWN:g})",
    )  # fmt: skip
    report.set_defaults(func=_cmd_report)
