"""Acceptance of canary workers: `ouro worker` processes on a real RabbitMQ, mock-github and
images-server, stable workers beside a canary, and `ouro deploy canary report` on what
they did.

The broken canary runs from a copy of the source tree whose job-running code raises (a
real bug, on PYTHONPATH), so every job it takes ends with an internal error.
"""

import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import requests

from ouro.store.jobrecord import NAME, JobRecord
from tasks.job import Job
from tasks.worker.canary import share_of
from tests.rabbitmq import free_port
from tests.waiting import wait_until
from tests.worker import test_acceptance
from tests.worker.conftest import ROOT
from tests.worker.test_acceptance import OURO, Stack

# The acceptance stack's fixture: the same processes' surroundings.
stack = test_acceptance.stack
BUG = 'raise RuntimeError("injected bug: this release cannot run a job")\n'


def broken_tree(tmp_path: Path) -> Path:
    """A copy of the packages `ouro worker` runs, with a bug in the code that runs a job."""
    tree = tmp_path / "broken-release"
    for package in ("ouro", "tasks"):
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    execute = tree / "tasks" / "worker" / "execute.py"
    source = execute.read_text()
    body = source.index('    """', source.index("def execute("))
    execute.write_text(source[:body] + "    " + BUG + source[body:])
    return tree


def canary(stack: Stack, name: str, tree: Path | None, *options: str) -> tuple[int, Path]:
    """Start a canary worker (from `tree` if given); its metrics port and state folder."""
    port, state = free_port(), stack.logs.parent / f"{name}-state"
    state.mkdir()
    env = {**stack.env, "OURO_STATE_DIR": str(state)}
    command = [OURO]
    if tree is not None:
        # `python -m ouro` from elsewhere than the checkout: the copy comes first on the path.
        env["PYTHONPATH"] = str(tree)
        command = [sys.executable, "-m", "ouro"]
    with open(stack.logs / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            [*command, "worker", "--name", name, "--direct", "--metrics-port", str(port),
             *options],
            env=env, cwd=stack.logs, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    stack.processes.append(process)
    wait_until(lambda: probe(port, "readyz")[0] == 200, f"{name} to be ready", 60)
    return port, state


def probe(port: int, path: str) -> tuple[int, str]:
    try:
        response = requests.get(f"http://127.0.0.1:{port}/{path}", timeout=5)
    except requests.ConnectionError:
        return 0, ""
    return response.status_code, response.text


def metric(port: int, line_start: str) -> float:
    lines = probe(port, "metrics")[1].splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(line_start))


Expected = list[tuple[Job, str]]


def jobs(stack: Stack, count: int, inside: int, share: float) -> Expected:
    """`count` jobs, `inside` of them in the canary's share, every other one failing: each
    with the state it must end in."""
    prefix = uuid.uuid4().hex[:8]
    ids = [f"job-{prefix}-{n}" for n in range(1000)]
    chosen = [i for i in ids if share_of(i) < share][:inside]
    chosen += [i for i in ids if share_of(i) >= share][: count - inside]
    expected = []
    for n, job_id in enumerate(sorted(chosen)):
        failing = n % 2 == 1
        job = stack.job(id=job_id, env={"EXIT_CODE": "1"} if failing else {})
        expected.append((job, "failure" if failing else "success"))
    return expected


def ended_correctly(stack: Stack, expected: Expected) -> dict[str, list[str]]:
    """Every job's final state is the expected one and no `error` was ever posted: the
    descriptions of each job's statuses, oldest first, by job id."""
    for job, _ in expected:
        stack.final(job)
    histories = {}
    for job, state in expected:
        statuses = stack.statuses(job)
        assert statuses[-1][0] == state, (job.id, statuses)
        assert all(s != "error" for s, _, _ in statuses), (job.id, statuses)
        histories[job.id] = [d for _, d, _ in statuses]
    return histories


def ran_by(histories: dict[str, list[str]]) -> Counter[str]:
    """Jobs per worker, from the worker named in each final status."""
    return Counter(h[-1].rpartition("[")[2].split(",")[0] for h in histories.values())


def report(stack: Stack, *options: str) -> tuple[int, str]:
    done = subprocess.run(
        [OURO, "deploy", "canary", "report", "--last", "100", *options],
        env=stack.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    print(done.stdout, done.stderr)
    return done.returncode, done.stdout


def row(text: str, side: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.startswith(side))


def test_a_broken_canary_rolls_back_and_stable_workers_run_what_it_broke(
    stack: Stack, tmp_path: Path
) -> None:
    for name in ("s1", "s2"):
        stack.worker(name, "--direct", "--release", "stable-1")
    port, state = canary(
        stack, "canary", broken_tree(tmp_path), "--release", "broken", "--canary-share", "0.5",
        "--canary-window", "4", "--canary-max-error-rate", "0.5",
    )  # fmt: skip
    start = time.monotonic()
    expected = jobs(stack, 16, 8, 0.5)
    wait_until(lambda: probe(port, "readyz")[0] == 503, "the canary to roll back", 120)
    rolled_back_after = time.monotonic() - start
    histories = ended_correctly(stack, expected)
    # Rolled back for good: the marker, not ready but alive, its metric, one clear line.
    assert (state / "canary-broken.rolled-back").is_file()
    assert "rolled back" in probe(port, "readyz")[1]
    assert probe(port, "healthz")[0] == 200
    assert metric(port, "ouro_worker_canary_rolled_back") == 1
    log = (stack.logs / "canary.log").read_text()
    assert log.count("CANARY ROLLED BACK: release broken") == 1
    assert "injected bug" in log
    # What it broke: 3 jobs (more than half of its window of 4), each handed over with a
    # pending status and run again by a stable worker.
    broken = {j: h for j, h in histories.items() if any("on canary [canary" in d for d in h)}
    assert len(broken) == 3 == metric(port, 'ouro_worker_canary_jobs_total{result="handed_over"}')
    for job_id, history in broken.items():
        assert history[-2].startswith("In progress [s"), history
        assert history[-1].endswith(", release stable-1]"), history
        assert share_of(job_id) < 0.5
    per_worker = ran_by(histories)
    assert set(per_worker) <= {"s1", "s2"}
    assert sum(per_worker.values()) == 16
    print(f"\nrolled back {rolled_back_after:.1f}s after the first job was published; jobs per "
          f"worker {dict(per_worker)}; canary handed over {len(broken)}")  # fmt: skip
    # The report: roll back, with the canary's 3 internal errors and the stable 16 jobs.
    code, text = report(stack)
    assert code == 1
    assert "verdict: roll back" in text
    assert row(text, "canary")[1:6] == ["3", "0", "0", "3", "3"]
    assert row(text, "stable")[1:6] == ["16", "8", "8", "0", "0"]
    assert row(text, "canary")[-1] == "broken"
    # The canary stays up, consuming nothing: a job now goes to the stable workers only.
    later = stack.job()
    assert stack.final(later)[0] == "success"
    assert "canary" not in "".join(d for _, d, _ in stack.statuses(later))


def test_a_healthy_canary_takes_about_its_share_and_is_promoted(stack: Stack) -> None:
    share = 0.25
    for name in ("s1", "s2"):
        stack.worker(name, "--direct", "--release", "stable-1")
    port, _ = canary(stack, "canary", None, "--release", "good", "--canary-share", str(share))
    count, inside = 24, 6
    start = time.monotonic()
    expected = jobs(stack, count, inside, share)
    histories = ended_correctly(stack, expected)
    elapsed = time.monotonic() - start
    per_worker = ran_by(histories)
    ran = [j for j, h in histories.items() if h[-1].endswith("[canary, release good]")]
    states = {job.id: state for job, state in expected}
    # Only jobs of its share, and some of them: the others were free for a stable worker
    # when it was busy.
    assert all(share_of(j) < share for j in ran)
    assert 1 <= len(ran) <= inside
    assert per_worker["canary"] == len(ran)
    # Its logs and records are in folders of their own, and say which release ran them.
    log = (stack.images.dir / "logs" / f"{ran[0]}.canary" / "log").read_text()
    assert "Release: good (canary)" in log
    declined = metric(port, 'ouro_worker_canary_jobs_total{result="declined"}')
    records = [JobRecord.from_json(p.read_bytes()) for p in stack.images.dir.glob(f"logs/*/{NAME}")]
    waits = sorted(r.started - r.created for r in records)
    print(f"\n{count} jobs in {elapsed:.1f}s; jobs per worker {dict(per_worker)}; canary took "
          f"{len(ran)} of the {inside} in its share, declined {declined:.0f} offers; waits in "
          f"the queue: median {waits[len(waits) // 2]:.1f}s, longest {waits[-1]:.1f}s")  # fmt: skip
    # A few jobs on a 2-core machine shared with other work: their median duration varies
    # more than the default --max-slowdown allows for.
    code, text = report(stack, "--max-slowdown", "3")
    assert code == 0
    assert "verdict: promote" in text
    failed = sum(states[j] == "failure" for j in ran)
    assert row(text, "canary")[1:6] == [
        str(len(ran)),
        str(len(ran) - failed),
        str(failed),
        "0",
        "0",
    ]
    assert row(text, "stable")[1] == str(count - len(ran))
