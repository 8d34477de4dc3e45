"""Worker overhead per job (everything but the command) and no-op jobs per minute.

Starts a private RabbitMQ and a git server on loopback; statuses and the log go to
in-memory recorders, so the figures are the worker's own cost (checkout, container,
log, bookkeeping), not GitHub's or the store's latency.
Usage: .venv/bin/python benchmarks/worker.py [--jobs N] [--no-podman]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks import amqp  # noqa: E402
from tasks.amqp import Message  # noqa: E402
from tasks.job import Job  # noqa: E402
from tasks.worker.config import WorkerConfig  # noqa: E402
from tasks.worker.service import Worker  # noqa: E402
from tests.rabbitmq import RabbitMQ  # noqa: E402
from tests.worker.conftest import CONTAINERS_CONF, TEST_IMAGE  # noqa: E402
from tests.worker.fakes import FakeStatuses, FakeStore  # noqa: E402
from tests.worker.gitserver import GitServer  # noqa: E402


def make_job(url: str, sha: str, image: str = TEST_IMAGE) -> Job:
    return Job(
        id=f"bench-{uuid.uuid4().hex[:12]}",
        repo="owner/project",
        sha=sha,
        context="bench",
        command=["true"],
        image=image,
        clone_url=url,
    )


def overhead(config: WorkerConfig, url: str, sha: str, count: int) -> list[float]:
    """Seconds per no-op job through `Worker.handle`: statuses, checkout, run, log."""
    worker = Worker(config, FakeStatuses(), FakeStore())
    times = []
    for _ in range(count):
        job = make_job(url, sha)
        start = time.perf_counter()
        outcome = worker.handle(Message(job.to_json(), job.id, False, {}, None))
        times.append(time.perf_counter() - start)
        assert outcome is amqp.Outcome.ACK
    return times


def command_time(argv: list[str], count: int) -> float:
    """The bare command's own time, to subtract."""
    start = time.perf_counter()
    for _ in range(count):
        subprocess.run(argv, check=True, capture_output=True)
    return (time.perf_counter() - start) / count


def throughput(config: WorkerConfig, broker: RabbitMQ, url: str, sha: str, workers: int) -> float:
    os.environ["AMQP_URL"] = broker.url
    publisher = amqp.Publisher()
    jobs = 30
    statuses = [FakeStatuses() for _ in range(workers)]
    for _ in range(jobs):
        job = make_job(url, sha)
        publisher.publish(job.queue, job.to_json(), message_id=job.id)
    publisher.close()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=Worker(
                WorkerConfig(**{**config.__dict__, "name": f"w{i}"}), statuses[i], FakeStore()
            ).serve,
            args=(stop,),
        )
        for i in range(workers)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    while sum(len(s.posted) for s in statuses) < 2 * jobs:
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    stop.set()
    for thread in threads:
        thread.join()
    return jobs / elapsed * 60


def podman_env() -> bool:
    """Build the test image as the tests do; True if podman runs it."""
    if shutil.which("podman") is None:
        return False
    probe = ["podman", "run", "--rm", TEST_IMAGE, "true"]
    for conf in (None, CONTAINERS_CONF):
        if conf is not None:
            os.environ["CONTAINERS_CONF"] = str(conf)
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return True
    return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--no-podman", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        git = GitServer(base / "git")
        work = base / "clones"
        work.mkdir()
        repo = git.create("owner/project", {"README": "x\n"}, work)
        sha = repo.commit({"f": "1"}, "c")
        (base / "jobs").mkdir()
        (base / "secrets").mkdir()
        config = WorkerConfig(
            name="bench", mode="direct", work_dir=base / "jobs", secrets_dir=base / "secrets"
        )
        broker = RabbitMQ(base / "rabbitmq", name="bench")
        broker.start()
        try:
            direct = overhead(config, repo.url, sha, args.jobs)
            bare = command_time(["true"], args.jobs)
            print(
                f"direct mode: overhead per job {statistics.median(direct) - bare:.3f} s "
                f"(median of {args.jobs}; min {min(direct):.3f} s, max {max(direct):.3f} s)"
            )
            modes = [config]
            if not args.no_podman and podman_env():
                podman = WorkerConfig(**{**config.__dict__, "mode": "podman"})
                modes.append(podman)
                contained = overhead(podman, repo.url, sha, args.jobs)
                print(
                    f"container mode: overhead per job {statistics.median(contained) - bare:.3f} s "
                    f"(median of {args.jobs}; min {min(contained):.3f} s, "
                    f"max {max(contained):.3f} s)"
                )
            else:
                print(
                    "container mode: skipped (podman cannot run the test image; run the "
                    "worker tests once to build it)"
                )
            for mode in modes:
                for workers in (1, 2):
                    rate = throughput(mode, broker, repo.url, sha, workers)
                    print(
                        f"no-op jobs per minute, {workers} worker(s), {mode.mode} mode: {rate:.0f}"
                    )
        finally:
            broker.stop()
            git.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
