"""Worker overhead per job (everything but the command) and no-op jobs per minute.

Starts a private RabbitMQ, mock-github (statuses, and the repository over git HTTP) and
an images-server on loopback, all in this process except RabbitMQ; the figures are the
worker's cost: statuses, checkout, container, log and its upload, bookkeeping.
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "images-server"), str(ROOT / "mock-github")]

from images_server.server import make_server  # noqa: E402
from mock_github.control import MockGitHubControl  # noqa: E402
from mock_github.server import MockGitHub  # noqa: E402
from ouro import amqp  # noqa: E402
from ouro.amqp import Message  # noqa: E402
from ouro.store.http import HttpStore  # noqa: E402
from tasks.github import GitHubStatuses, github_client  # noqa: E402
from tasks.job import Job  # noqa: E402
from tasks.worker.config import WorkerConfig  # noqa: E402
from tasks.worker.service import Worker  # noqa: E402
from tests.rabbitmq import RabbitMQ  # noqa: E402
from tests.worker.conftest import CONTAINERS_CONF, TEST_IMAGE  # noqa: E402

TOKEN = "bench-token"  # noqa: S105 (a throw-away token of in-process servers)


class Services:
    """mock-github and the images-server, and clients of both."""

    def __init__(self, base: Path):
        self.github = MockGitHub(base / "github")
        self.github.add_token(TOKEN, "ouro-bot")
        self.github.start()
        os.environ["GITHUB_API_URL"] = self.github.url
        os.environ["GITHUB_WRITE_INTERVAL"] = "0"
        token_file = base / "images-token"
        token_file.write_text(TOKEN + "\n")
        os.environ["IMAGES_TOKEN_FILE"] = str(token_file)
        self.images = make_server(0, base / "images")
        self.images_thread = threading.Thread(target=self.images.serve_forever, daemon=True)
        self.images_thread.start()
        control = MockGitHubControl(self.github.url)
        created = control.create_repo(REPO, files={"README": "x\n"})
        self.clone_url = str(created["clone_url"])
        self.sha = control.push(REPO, {"f": "1"})
        control.close()
        self.stores: list[HttpStore] = []

    def worker(self, config: WorkerConfig) -> Worker:
        store = HttpStore(self.images.url, TOKEN)
        self.stores.append(store)
        return Worker(config, GitHubStatuses(github_client(TOKEN)), store)

    def close(self) -> None:
        for store in self.stores:
            store.close()
        self.images.shutdown()
        self.images.server_close()
        self.github.close()


REPO = "owner/project"


def make_job(url: str, sha: str, image: str = TEST_IMAGE) -> Job:
    return Job(
        id=f"bench-{uuid.uuid4().hex[:12]}",
        repo=REPO,
        sha=sha,
        context="bench",
        command=["true"],
        image=image,
        clone_url=url,
    )


def overhead(config: WorkerConfig, services: Services, count: int) -> list[float]:
    """Seconds per no-op job through `Worker.handle`: statuses, checkout, run, log."""
    worker = services.worker(config)
    times = []
    for _ in range(count):
        job = make_job(services.clone_url, services.sha)
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


def throughput(config: WorkerConfig, broker: RabbitMQ, services: Services, workers: int) -> float:
    os.environ["AMQP_URL"] = broker.url
    publisher = amqp.Publisher()
    jobs = 30
    for _ in range(jobs):
        job = make_job(services.clone_url, services.sha)
        publisher.publish(job.queue, job.to_json(), message_id=job.id)
    publisher.close()
    stop = threading.Event()
    done = threading.Semaphore(0)
    threads = []
    for i in range(workers):
        worker = services.worker(WorkerConfig(**{**config.__dict__, "name": f"w{i}"}))

        def counted(message: Message, handle: Callable[[Message], amqp.Outcome] = worker.handle):
            outcome = handle(message)
            done.release()
            return outcome

        worker.handle = counted  # type: ignore[method-assign]
        threads.append(threading.Thread(target=worker.serve, args=(stop,)))
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for _ in range(jobs):
        done.acquire()
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
        services = Services(base)
        (base / "jobs").mkdir()
        (base / "secrets").mkdir()
        config = WorkerConfig(
            name="bench", mode="direct", work_dir=base / "jobs", secrets_dir=base / "secrets"
        )
        broker = RabbitMQ(base / "rabbitmq", name="bench")
        broker.start()
        try:
            direct = overhead(config, services, args.jobs)
            bare = command_time(["true"], args.jobs)
            print(
                f"direct mode: overhead per job {statistics.median(direct) - bare:.3f} s "
                f"(median of {args.jobs}; min {min(direct):.3f} s, max {max(direct):.3f} s)"
            )
            modes = [config]
            if not args.no_podman and podman_env():
                podman = WorkerConfig(**{**config.__dict__, "mode": "podman"})
                modes.append(podman)
                contained = overhead(podman, services, args.jobs)
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
                    rate = throughput(mode, broker, services, workers)
                    print(
                        f"no-op jobs per minute, {workers} worker(s), {mode.mode} mode: {rate:.0f}"
                    )
        finally:
            broker.stop()
            services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
