"""`ouro shadow report PRODUCTION SHADOW`: where two decision records (`tasks.decisionrecord`)
differ, delivery by delivery — jobs, statuses, comments, cancels, and how the handling
ended; "no differences" otherwise. Exit code 0 when they agree, 1 when they differ, 2 when
a record cannot be read.

The lines of a delivery are united (a retried delivery has a line per attempt); the entries
of a kind are compared as multisets, so order does not matter. An entry with no equal on the
other side is shown beside the other side's entry of the same identity (a job of the same
context on the same commit, say) with the fields that differ, or else alone.
"""

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ouro.jsonutil import JsonDict, PayloadError, get_list, get_str, parse_object
from tasks.decisionrecord import KINDS

SIDES = ("production", "shadow")
# What makes two entries of a kind "the same thing, decided differently".
IDENTITY = {
    "jobs": ("repo", "sha", "context"),
    "statuses": ("repo", "sha", "context"),
    "comments": ("repo", "number"),
    "cancels": ("repo", "pr"),
}


class RecordError(Exception):
    """A record file that cannot be read or is not a decision record."""


@dataclass
class Handled:
    """Everything a record holds about one delivery."""

    event: str
    outcome: str
    entries: dict[str, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in KINDS})


def load(path: Path) -> dict[str, Handled]:
    """The record at `path`, by delivery id."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise RecordError(f"cannot read {path}: {error.strerror}") from None
    found: dict[str, Handled] = {}
    for number, line in enumerate(lines, 1):
        try:
            data = parse_object(line, f"{path}:{number}")
            delivery = get_str(data, "delivery")
            handled = found.setdefault(delivery, Handled(get_str(data, "event"), ""))
            # The last attempt's outcome is how the delivery ended.
            handled.outcome = get_str(data, "outcome")
            for kind in KINDS:
                for entry in get_list(data, kind):
                    handled.entries[kind][json.dumps(entry, sort_keys=True)] += 1
        except PayloadError as error:
            raise RecordError(f"{path}:{number}: {error}") from None
    return found


def _describe(kind: str, entry: JsonDict) -> str:
    # `get`: a record edited by hand still gives a report, with None where a field is missing.
    get = entry.get
    commit = f"{get('repo')}@{str(get('sha'))[:12]}"
    if kind == "jobs":
        return f"{commit} {get('context')} on {get('queue')}"
    if kind == "statuses":
        return f"{commit} {get('context')}: {get('state')} {get('description')!r}"
    if kind == "comments":
        return f"{get('repo')}#{get('number')}: {get('text')!r:.120}"
    return f"{get('repo')}#{get('pr')} keep {get('keep_sha')}: {get('reason')!r}"


def _changed(kind: str, production: JsonDict, shadow: JsonDict) -> str:
    names = sorted(set(production) | set(shadow))
    fields = [
        f"{n} {production.get(n)!r} → {shadow.get(n)!r}"
        for n in names
        if production.get(n) != shadow.get(n)
    ]
    return f"{_describe(kind, production)}: {', '.join(fields)}"


def _kind_differences(kind: str, production: Counter[str], shadow: Counter[str]) -> list[str]:
    unmatched = {
        "production": [json.loads(e) for e in (production - shadow).elements()],
        "shadow": [json.loads(e) for e in (shadow - production).elements()],
    }
    lines = []
    while unmatched["production"]:
        entry = unmatched["production"].pop(0)
        identity = [entry.get(n) for n in IDENTITY[kind]]
        twin = next(
            (e for e in unmatched["shadow"] if [e.get(n) for n in IDENTITY[kind]] == identity),
            None,
        )
        if twin is None:
            lines.append(f"{kind} only in production: {_describe(kind, entry)}")
        else:
            unmatched["shadow"].remove(twin)
            lines.append(f"{kind} differ: {_changed(kind, entry, twin)}")
    lines += [f"{kind} only in shadow: {_describe(kind, e)}" for e in unmatched["shadow"]]
    return lines


def differences(production: dict[str, Handled], shadow: dict[str, Handled]) -> dict[str, list[str]]:
    """The differences per delivery (deliveries that agree are left out), in record order."""
    found: dict[str, list[str]] = {}
    for delivery in [*production, *(d for d in shadow if d not in production)]:
        ours, theirs = production.get(delivery), shadow.get(delivery)
        if ours is None or theirs is None:
            missing = "shadow" if theirs is None else "production"
            found[delivery] = [f"not in the {missing} record"]
            continue
        lines = []
        for kind in KINDS:
            lines += _kind_differences(kind, ours.entries[kind], theirs.entries[kind])
        if ours.outcome != theirs.outcome:
            lines.append(f"outcome: production {ours.outcome!r}, shadow {theirs.outcome!r}")
        if lines:
            found[delivery] = lines
    return found


def render(production: dict[str, Handled], shadow: dict[str, Handled]) -> tuple[str, bool]:
    """The report's text, and whether the records differ."""
    found = differences(production, shadow)
    compared = len(production.keys() & shadow.keys())
    if not found:
        return f"no differences ({compared} deliveries compared)", False
    out = []
    for delivery, lines in found.items():
        event = (production.get(delivery) or shadow[delivery]).event
        out.append(f"delivery {delivery} ({event}):")
        out += [f"  {line}" for line in lines]
    out.append(f"{len(found)} of {len(production.keys() | shadow.keys())} deliveries differ")
    return "\n".join(out), True


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "shadow", description="compare a shadow bot's decisions with production's"
    )
    sub = parser.add_subparsers(metavar="ACTION", required=True)
    report = sub.add_parser(
        "report", help="where two decision records (OURO_DECISION_RECORD) differ, per delivery"
    )
    report.add_argument("production", type=Path, help="production's decision record")
    report.add_argument("shadow", type=Path, help="the shadow bot's decision record")
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    try:
        records = load(args.production), load(args.shadow)
    except RecordError as error:
        print(error, file=sys.stderr)
        return 2
    text, differ = render(*records)
    print(text)
    return 1 if differ else 0
