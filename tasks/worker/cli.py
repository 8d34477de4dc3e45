"""`ouro worker`: serve the tasks queues until SIGTERM (or SIGINT), then drain and exit 0."""

import argparse
import logging
import signal
import threading
from types import FrameType

from ouro import metrics
from ouro.consumerhealth import ConsumerHealth
from ouro.store import open_store
from tasks.github import Credentials, open_statuses
from tasks.github_conversation import open_conversation
from tasks.worker import config as worker_config
from tasks.worker import orphans, vmhost
from tasks.worker.canary import Canary
from tasks.worker.metrics import RELEASE, MeteredStatuses
from tasks.worker.service import Worker

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    config = worker_config.from_environment(
        name=args.name,
        capabilities=args.capability,
        direct=args.direct,
        release=args.release,
        canary_share=args.canary_share,
        canary_window=args.canary_window,
        canary_max_error_rate=args.canary_max_error_rate,
    )
    worker_config.check_ready(config)
    # Before taking a job: what a predecessor of this name left would run beside it.
    orphans.reap(config)
    # Before consuming: which VM queues this worker may serve depends on the probe.
    config = vmhost.settle(config)
    store = open_store()
    health = ConsumerHealth()
    canary = Canary(config, health) if config.canary_share is not None else None
    RELEASE.labels(config.release, "stable" if canary is None else "canary").set(1)
    metrics.serve(metrics.port_setting(args.metrics_port), health=health)
    credentials = Credentials()
    statuses = MeteredStatuses(open_statuses(credentials=credentials))
    worker = Worker(
        config,
        statuses,
        store,
        conversation=open_conversation(credentials=credentials),
        git_token=credentials.git_token if credentials.app else None,
        canary=canary,
    )
    stop = threading.Event()
    timers: list[threading.Timer] = []

    def drain(signum: int, _: FrameType | None) -> None:
        if stop.is_set():
            return
        log.info("signal %d: draining (grace %.0fs)", signum, config.grace)
        worker.begin_drain()
        stop.set()
        timer = threading.Timer(config.grace, worker.hand_back)
        timer.daemon = True
        timer.start()
        timers.append(timer)

    signal.signal(signal.SIGTERM, drain)
    signal.signal(signal.SIGINT, drain)
    try:
        worker.serve(stop, health=health)
    finally:
        for timer in timers:
            timer.cancel()
        store.close()
    log.info("worker %s stopped", config.name)
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "worker",
        description="Take jobs one at a time from the tasks queues and run each in a fresh "
        "podman container (or directly); stop gracefully on SIGTERM. Settings: docs/worker.md.",
    )
    parser.add_argument("--name", help="worker name shown in statuses (OURO_WORKER_NAME)")
    parser.add_argument(
        "--capability",
        action="append",
        help="also serve tasks.CAPABILITY (repeatable; OURO_WORKER_CAPABILITIES)",
    )
    parser.add_argument(
        "--direct",
        action="store_true",
        help="run commands as local processes, without containers (development, tests)",
    )
    parser.add_argument(
        "--metrics-port", type=int, metavar="PORT",
        help="serve /metrics on PORT (OURO_METRICS_PORT; default: none)",
    )  # fmt: skip
    parser.add_argument(
        "--release", metavar="NAME",
        help="the release this worker runs, shown in its statuses, logs and job records "
        "(OURO_RELEASE)",
    )  # fmt: skip
    canary = parser.add_argument_group(
        "canary", "run as a canary of --release beside the stable workers (docs/worker.md)"
    )
    canary.add_argument(
        "--canary-share", type=float, metavar="FRACTION",
        help="take this share of the jobs, e.g. 0.25 (OURO_WORKER_CANARY_SHARE; default: "
        "a stable worker)",
    )  # fmt: skip
    canary.add_argument(
        "--canary-window", type=int, metavar="N",
        help="judge the canary on its last N jobs (OURO_WORKER_CANARY_WINDOW; default 20)",
    )  # fmt: skip
    canary.add_argument(
        "--canary-max-error-rate", type=float, metavar="RATE",
        help="roll back when more than RATE of those jobs ended with an internal error "
        "(OURO_WORKER_CANARY_MAX_ERROR_RATE; default 0.2)",
    )  # fmt: skip
    parser.set_defaults(func=run)
