"""`ouro bot`, `ouro testmap` and `ouro queue`: the tasks bot and its operator tools."""

import argparse
import logging
import signal
import sys
import threading
import time
from types import FrameType

from ouro import amqp, consumer, metrics, queues
from ouro.consumerhealth import ConsumerHealth
from ouro.retry import Sleep
from ouro.store import open_store
from tasks import (
    decisionrecord,
    imagescan,
    queue_inspect,
    queue_replay,
    queuemetrics,
    recovery,
    shadow,
    testmap,
)
from tasks.bot import Bot
from tasks.botstate import BotState
from tasks.decisionrecord import DecisionRecord
from tasks.github import Credentials, open_statuses
from tasks.github_conversation import open_conversation
from tasks.github_reader import open_reader

log = logging.getLogger(__name__)


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    bot = subparsers.add_parser(
        "bot",
        description="Consume the webhook queue and turn events into jobs (scans open PRs "
        "first); or, with an action, repair what lost deliveries left behind.",
    )
    bot.add_argument("--no-scan", action="store_true", help="skip the scan at start")
    bot.add_argument(
        "--metrics-port", type=int, metavar="PORT",
        help="serve /metrics on PORT (OURO_METRICS_PORT; default: none)",
    )  # fmt: skip
    bot.add_argument(
        "--image-scan-hours", type=float, default=24.0, metavar="H",
        help="scan for stale VM images at start and every H hours (0: never; default 24)",
    )  # fmt: skip
    bot.add_argument(
        "--shadow", metavar="QUEUE",
        help="be a shadow bot: consume QUEUE (bound to the shadow exchange) and only record "
        "what it would do in OURO_DECISION_RECORD; no scans",
    )  # fmt: skip
    bot.add_argument(
        "--shadow-exchange", metavar="NAME", default=queues.SHADOW_EXCHANGE,
        help="with --shadow: the exchange the receiver mirrors deliveries to (%(default)s)",
    )  # fmt: skip
    bot.set_defaults(func=run_bot)
    sub = bot.add_subparsers(metavar="ACTION")
    scan = sub.add_parser("scan", help="queue open PRs whose head lacks expected statuses")
    scan.add_argument("--repo", action="append", help="only this OWNER/NAME (repeatable)")
    scan.add_argument("--pr", type=int, help="only this PR number (needs one --repo)")
    scan.set_defaults(func=scan_prs)
    image_scan = sub.add_parser(
        "image-scan", help="open an image-refresh issue for each VM image older than its period"
    )
    image_scan.add_argument("--repo", action="append", help="only this OWNER/NAME (repeatable)")
    image_scan.set_defaults(func=scan_images)
    redeliver = sub.add_parser("redeliver", help="redeliver failed webhook deliveries")
    redeliver.add_argument("--since", required=True, help="e.g. 2h, 3d, 2024-05-02T10:00")
    redeliver.add_argument("--repo", action="append", help="only this OWNER/NAME (repeatable)")
    redeliver.set_defaults(func=redeliver_failed)

    tm = subparsers.add_parser("testmap", description="the test map")
    tm_sub = tm.add_subparsers(metavar="ACTION", required=True)
    check = tm_sub.add_parser("check", help="validate a test map, listing every error")
    check.add_argument("file", nargs="?", help="default: $OURO_TESTMAP or the bundled example")
    check.set_defaults(func=check_testmap)

    queue = subparsers.add_parser(
        "queue", description="look at the broker's queues, replay dead letters"
    )
    q_sub = queue.add_subparsers(metavar="ACTION", required=True)
    inspect = q_sub.add_parser("inspect", help="depth and messages, without consuming them")
    inspect.add_argument(
        "queue", nargs="*", help="default: the webhook and tasks queues and every dead-letter queue"
    )
    inspect.add_argument("--limit", type=int, default=100, help="messages shown per queue")
    inspect.set_defaults(func=inspect_queues)
    replay = q_sub.add_parser(
        "replay", help="move dead letters back to be processed again (cause fixed)"
    )
    replay.add_argument(
        "queue",
        help=f"a dead-letter queue: {queues.WEBHOOK_DEAD}, {queues.TASKS_DEAD}, "
        f"tasks.CAPABILITY.dead or {queues.CANCEL_DEAD}",
    )
    replay.add_argument(
        "--limit", type=int, metavar="N", help="replay at most N messages (default: all)"
    )
    replay.set_defaults(func=replay_queue)


def _bot(
    publisher: amqp.Publisher,
    tmap: testmap.TestMap,
    state: BotState,
    stop: threading.Event,
    record: DecisionRecord | None = None,
) -> Bot:
    credentials = Credentials()
    # A stop (SIGTERM) ends the GitHub adapter's backoff too, not only the bot's waits.
    statuses = open_statuses(sleep=stop.wait, credentials=credentials)
    conversation = open_conversation(sleep=stop.wait, credentials=credentials)
    return Bot(
        tmap,
        statuses=record.statuses(statuses) if record else statuses,
        reader=open_reader(sleep=stop.wait, credentials=credentials),
        conversation=record.conversation(conversation) if record else conversation,
        publisher=record.publisher(publisher) if record else publisher,
        state=state,
        wait=stop.wait,
    )


def run_bot(args: argparse.Namespace) -> int:
    tmap = testmap.load()
    health = ConsumerHealth()
    metrics.serve(metrics.port_setting(args.metrics_port), health=health)
    record = decisionrecord.open_setting()
    if args.shadow:
        shadow.declare(args.shadow, args.shadow_exchange)
    state = shadow.open_state(args.shadow) if args.shadow else BotState.open_default()
    state.prune()
    capabilities = tmap.capabilities()
    publisher = amqp.Publisher(capabilities=capabilities)
    stop = threading.Event()
    if args.shadow:
        bot = shadow.shadow_bot(tmap, state, stop, record)
    else:
        bot = _bot(publisher, tmap, state, stop, record)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current message, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A shadow's scans would act outside any delivery, and the image scan would write.
    if not args.no_scan and not args.shadow:
        try:
            bot.scan()
        except Exception:
            # A scan is a repair; GitHub being down must not keep the bot from its queue.
            log.exception("scan at start failed; consuming anyway")
    if tmap.images and args.image_scan_hours > 0 and not args.shadow:
        threading.Thread(
            target=_scan_images_every, args=(tmap, args.image_scan_hours, stop),
            name="image-scan", daemon=True,
        ).start()  # fmt: skip
    threading.Thread(
        target=queuemetrics.watch, args=(capabilities, stop), name="queue-depths", daemon=True
    ).start()
    queue = args.shadow or queues.WEBHOOK
    log.info("consuming %s%s", queue, f", recording to {record.path}" if record else "")
    try:
        consumer.consume(
            [queue],
            record.wrap(bot.handle) if record else bot.handle,
            capabilities=capabilities,
            stop=stop,
            on_connected=health.hook(),
        )
    finally:
        publisher.close()
        state.close()
        if record:
            record.close()
    return 0


def scan_prs(args: argparse.Namespace) -> int:
    tmap = testmap.load()
    unknown = [r for r in args.repo or [] if r not in tmap.repos]
    if unknown:
        print(f"not in the test map: {', '.join(unknown)}", file=sys.stderr)
        return 1
    if args.pr is not None and len(args.repo or []) != 1:
        print("--pr needs exactly one --repo", file=sys.stderr)
        return 1
    state = BotState.open_default()
    publisher = amqp.Publisher(capabilities=tmap.capabilities())
    try:
        started = _bot(publisher, tmap, state, threading.Event()).scan(args.repo, pr=args.pr)
    finally:
        publisher.close()
        state.close()
    print(f"{started} job(s) queued")
    return 0


def redeliver_failed(args: argparse.Namespace) -> int:
    try:
        since = recovery.parse_since(args.since)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    reader = open_reader()
    count = 0
    for repo in args.repo or testmap.load().repos:
        for delivery in recovery.to_redeliver(reader.hook_deliveries(repo), since):
            reader.redeliver(repo, delivery)
            count += 1
    print(f"{count} failed deliveries redelivered")
    return 0


def _image_scan(
    tmap: testmap.TestMap, repos: list[str] | None = None, sleep: Sleep = time.sleep
) -> list[str]:
    """One scan for stale VM images: a line per image (docs/tasks-bot.md, "The daily scan");
    a repository that could not be scanned says `failed`."""
    store = open_store()
    credentials = Credentials()
    try:
        outcomes = imagescan.scan(
            tmap, open_reader(sleep, credentials), open_conversation(sleep, credentials),
            imagescan.built_at_from_store(store), time.time(), repos=repos,
        )  # fmt: skip
    finally:
        store.close()
    lines = []
    for o in outcomes:
        age = f", {o.age_days:.1f} days old" if o.age_days is not None else ""
        where = f" #{o.number}" if o.number is not None else ""
        detail = f": {o.detail}" if o.detail else ""
        lines.append(f"{o.repo} {o.name}: {o.action}{where}{age}{detail}")
    return lines


def scan_images(args: argparse.Namespace) -> int:
    lines = _image_scan(testmap.load(), args.repo)
    for line in lines:
        print(line)
    return 1 if any(": failed" in line for line in lines) else 0


def _scan_images_every(tmap: testmap.TestMap, hours: float, stop: threading.Event) -> None:
    """The bot's own schedule of the image scan: at start, then every `hours`."""
    while not stop.is_set():
        try:
            for line in _image_scan(tmap, sleep=stop.wait):
                log.info("image scan: %s", line)
        except Exception as error:
            # Like the PR scan, a repair: the store or GitHub being down waits for next time.
            log.warning("image scan failed (%s); next one in %g h", error, hours)
        stop.wait(hours * 3600)


def check_testmap(args: argparse.Namespace) -> int:
    try:
        tmap = testmap.load(args.file)
    except testmap.TestMapError as error:
        for line in error.errors:
            print(line, file=sys.stderr)
        return 1
    contexts = sum(len(c) for b in tmap.repos.values() for c in b.values())
    print(f"OK: {len(tmap.repos)} repositories, {contexts} contexts")
    return 0


def replay_queue(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        print("--limit must be at least 1", file=sys.stderr)
        return 1
    count = 0
    try:
        for line in queue_replay.replay(args.queue, args.limit):
            print(line, flush=True)
            count += 1
    except (queue_replay.ReplayError, amqp.BrokerUnavailable) as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{count} message(s) replayed")
    return 0


def inspect_queues(args: argparse.Namespace) -> int:
    names = args.queue or queue_inspect.default_queues(testmap.load().capabilities())
    print(queue_inspect.render(queue_inspect.inspect(names, args.limit)))
    return 0
