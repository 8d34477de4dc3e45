"""Events per second through the tasks bot: a throw-away RabbitMQ, the real consumer,
confirmed job publishing and the SQLite state; GitHub is the dry-run status poster
(no network), so this measures the bot's own cost per event.

Run: .venv/bin/python benchmarks/bot.py [--events N]
End to end through the receiver and mock-github: benchmarks/bot_e2e.py.
"""

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ouro import amqp, queues
from tasks import testmap
from tasks.bot import Bot
from tasks.botstate import BotState
from tasks.forge import DryRunStatuses
from tests.rabbitmq import RabbitMQ
from tests.tasks.bot_fakes import FakeGitHub, payload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500)
    events = parser.parse_args().events
    tmap = testmap.load(
        Path(__file__).resolve().parent.parent / "tests/tasks/payloads/testmap.yaml"
    )
    with tempfile.TemporaryDirectory() as tmp:
        broker = RabbitMQ(Path(tmp) / "rabbitmq")
        broker.start()
        try:
            publisher = amqp.Publisher(broker.url, capabilities=tmap.capabilities())
            template = payload("pull_request.opened")
            for i in range(events):
                template["pull_request"]["head"]["sha"] = f"{i:040x}"
                body = json.dumps(
                    {"event": "pull_request", "delivery": f"d-{i}", "request": template}
                )
                publisher.publish(queues.WEBHOOK, body.encode(), message_id=f"d-{i}")
            state = BotState(Path(tmp) / "state.sqlite")
            gh = FakeGitHub()
            stop = threading.Event()
            bot = Bot(
                tmap,
                statuses=DryRunStatuses(),
                reader=gh,
                conversation=gh,
                publisher=publisher,
                state=state,
                wait=stop.wait,
            )
            done = threading.Semaphore(0)

            def handle(message: amqp.Message) -> amqp.Outcome:
                try:
                    return bot.handle(message)
                finally:
                    done.release()

            start, cpu = time.perf_counter(), time.process_time()
            thread = threading.Thread(
                target=amqp.consume,
                args=([queues.WEBHOOK], handle),
                kwargs={"url": broker.url, "capabilities": tmap.capabilities(), "stop": stop},
            )
            thread.start()
            for _ in range(events):
                done.acquire()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            stop.set()
            thread.join()
            publisher.close()
            state.close()
        finally:
            broker.stop()
    print(
        f"{events} pull_request events (2 jobs each) in {elapsed:.2f}s: "
        f"{events / elapsed:.0f} events/s, {2 * events / elapsed:.0f} jobs/s; "
        f"bot CPU {1000 * cpu / events:.2f} ms/event"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
