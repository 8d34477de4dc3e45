"""The tasks bot end to end: events/s, and latency from the receiver's 202 to the
"Not yet tested" statuses at mock-github, at a steady rate and at saturation.

Everything runs as deployed, each a process of its own: a throw-away RabbitMQ,
`ouro mock-github`, `ouro webhook` and `ouro bot` (posting to the mock
with a token, GITHUB_WRITE_INTERVAL=0). The driver posts signed `pull_request`
`synchronize` payloads straight to the receiver — the payload the mock sent for a
real PR, with the head moved to one of N commits written beforehand into the mock's
repository (git fast-import), so every event is a new head: a cancel and two jobs
(two contexts, one on `tasks`, one on `tasks.kvm`), one status read and two status
posts. The repository has a second hook, for `status` events only, pointing at a
recorder in the driver: the mock calls it while it answers the bot's post, so its
arrival time is when the status became visible. The receiver's hook subscribes to
pull_request, issue_comment and push only (as docs/tasks-bot.md recommends), so the
bot is not fed its own status events.

GitHub requests per event come from the bot's own count (`ouro_github_requests_total` on its
/metrics, by route and status) and from the mock's `X-RateLimit-Used` before and after.
`--profile FILE` runs the bot with its handler thread under cProfile, timed by its CPU
(`python -m pstats FILE` reads it).

Run: .venv/bin/python benchmarks/bot_e2e.py [--rate 10] [--seconds 30] [--burst 300]
Another revision's bot in the same conditions: `git worktree add /tmp/base REV`, then
`--bot-tree /tmp/base` (and `--bot-command "tasks run"` for one older than `fbda698`).
"""

import argparse
import cProfile
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.support.procs import cpu_seconds, process, wait_ready
from mock_github.control import MockGitHubControl
from tests.rabbitmq import RabbitMQ, free_port
from webhook.signature import sign

REPO = "acme/widget"
CONTEXTS = ("unit-tests", "fedora-41/networking")
SECRET = b"benchmark secret"
# The throw-away mock's only token.
TOKEN = "benchmark-token"  # noqa: S105
TESTMAP = f"""
defaults:
  image: localhost/ouro-tasks:latest
repos:
  {REPO}:
    main:
      unit-tests: {{}}
      fedora-41/networking: {{capability: kvm, priority: 7}}
"""


class Recorder:
    """Arrival time of each "Not yet tested" status event, by sha."""

    def __init__(self) -> None:
        self.seen: dict[str, list[float]] = {}
        self.lock = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                now = time.monotonic()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if body.get("description") == "Not yet tested":
                    with recorder.lock:
                        recorder.seen.setdefault(body["sha"], []).append(now)
                        recorder.lock.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait_all(self, shas: list[str], timeout: float) -> bool:
        with self.lock:
            return self.lock.wait_for(
                lambda: all(len(self.seen.get(s, ())) >= len(CONTEXTS) for s in shas), timeout
            )

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_commits(git_dir: Path, parent: str, count: int) -> list[str]:
    """`count` commits on refs/heads/bench, each changing one file; their shas in order."""
    stream = []
    for i in range(1, count + 1):
        message, content = f"bench {i}\n", f"change {i}\n"
        # `data` counts bytes; everything here is ASCII.
        stream.append(
            f"commit refs/heads/bench\nmark :{i}\n"
            f"committer Bench <bench@example.org> {1700000000 + i} +0000\n"
            f"data {len(message)}\n{message}"
            + (f"from {parent}\n" if i == 1 else "")
            + f"M 644 inline bench.txt\ndata {len(content)}\n{content}\n"
        )
    marks = git_dir / "bench.marks"
    subprocess.run(
        ["git", "fast-import", "--quiet", f"--export-marks={marks}"],
        cwd=git_dir,
        input="".join(stream).encode(),
        check=True,
    )
    by_mark = dict(line.split() for line in marks.read_text().splitlines())
    return [by_mark[f":{i}"] for i in range(1, count + 1)]


class Driver:
    def __init__(self, port: int, template: dict[str, Any]):
        self.port = port
        self.template = template
        self.accepted: dict[str, float] = {}
        self.lock = threading.Lock()

    def body(self, sha: str, before: str) -> bytes:
        event = json.loads(json.dumps(self.template))
        event["action"] = "synchronize"
        event["before"], event["after"] = before, sha
        event["pull_request"]["head"]["sha"] = sha
        return json.dumps(event).encode()

    def post(self, conn: http.client.HTTPConnection, sha: str, before: str) -> None:
        body = self.body(sha, before)
        conn.request(
            "POST",
            "/",
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": f"bench-{sha}",
                "X-Hub-Signature-256": sign(SECRET, body),
            },
        )
        response = conn.getresponse()
        response.read()
        if response.status != 202:
            raise SystemExit(f"the receiver answered {response.status}")
        with self.lock:
            self.accepted[sha] = time.monotonic()

    def steady(self, shas: list[str], rate: float) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        start = time.monotonic()
        before = "0" * 40
        for i, sha in enumerate(shas):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.post(conn, sha, before)
            before = sha
        conn.close()

    def burst(self, shas: list[str], clients: int) -> None:
        def run(part: list[str]) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            for sha in part:
                self.post(conn, sha, "0" * 40)
            conn.close()

        threads = [threading.Thread(target=run, args=(shas[i::clients],)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(name: str, shas: list[str], driver: Driver, recorder: Recorder, start: float) -> None:
    first = [1000 * (min(recorder.seen[s]) - driver.accepted[s]) for s in shas]
    both = [1000 * (max(recorder.seen[s]) - driver.accepted[s]) for s in shas]
    end = max(max(recorder.seen[s]) for s in shas)
    rate = len(shas) / (end - start)
    print(
        f"{name}: {len(shas)} events in {end - start:.1f}s = {rate:.1f} events/s "
        f"({2 * rate:.1f} jobs/s); 202 → first 'Not yet tested' p50 {percentile(first, 50):.0f} ms"
        f" p95 {percentile(first, 95):.0f} ms; → both p50 {percentile(both, 50):.0f} ms"
        f" p95 {percentile(both, 95):.0f} ms max {max(both):.0f} ms"
    )


class GitHubCount:
    """The bot's GitHub requests (its /metrics) and the token's budget spent (the mock)."""

    def __init__(self, metrics_url: str, mock_url: str):
        self.metrics_url = metrics_url
        self.mock_url = mock_url

    def requests(self) -> dict[str, float]:
        """By method, route and status; none from a bot that serves no metrics (an older
        revision's, with `--bot-tree`)."""
        found: dict[str, float] = {}
        try:
            text = requests.get(self.metrics_url, timeout=10).text
        except requests.ConnectionError:
            return found
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "ouro_github_requests_total":
                    labels = sample.labels
                    key = f"{labels['method']} {labels['endpoint']} {labels['status']}"
                    found[key] = found.get(key, 0.0) + sample.value
        return found

    def used(self) -> int:
        headers = {"Authorization": f"token {TOKEN}"}
        answer = requests.get(f"{self.mock_url}/rate_limit", headers=headers, timeout=10)
        return int(answer.headers["X-RateLimit-Used"])

    def snapshot(self) -> tuple[dict[str, float], int]:
        return self.requests(), self.used()

    def report(self, before: tuple[dict[str, float], int], events: int) -> None:
        after, used = self.snapshot()
        if after:
            per_event = {k: (v - before[0].get(k, 0.0)) / events for k, v in after.items()}
            parts = [f"{n:.2f} {k}" for k, n in sorted(per_event.items()) if n]
            print(f"  GitHub requests/event: {sum(per_event.values()):.2f} ({'; '.join(parts)})")
        else:
            print("  GitHub requests/event: not counted by this bot")
        print(f"  X-RateLimit-Used/event: {(used - before[1]) / events:.2f}")


def measure(
    control: MockGitHubControl,
    bot: subprocess.Popen[bytes],
    *,
    recorder: Recorder,
    receiver_port: int,
    pr: dict[str, Any],
    tmp: Path,
    args: argparse.Namespace,
    github: GitHubCount,
) -> None:
    """The steady run, then the burst; prints the figures."""
    steady_count = int(args.rate * args.seconds)
    template = control.deliveries("pull_request")[-1]["request"]["payload"]
    git_dir = tmp / "mock" / "repos" / f"{REPO}.git"
    shas = make_commits(git_dir, pr["head"]["sha"], steady_count + args.burst)
    driver = Driver(receiver_port, template)
    load = os.getloadavg()
    cpu = cpu_seconds(bot.pid)
    counts = github.snapshot()
    start = time.monotonic()
    driver.steady(shas[:steady_count], args.rate)
    if not recorder.wait_all(shas[:steady_count], 120):
        raise SystemExit("steady: not every event got its statuses")
    report(f"steady {args.rate:g}/s", shas[:steady_count], driver, recorder, start)
    print(
        f"  bot CPU {1000 * (cpu_seconds(bot.pid) - cpu) / steady_count:.1f} ms"
        f"/event; load average before {load[0]:.1f}"
    )
    github.report(counts, steady_count)
    burst = shas[steady_count:]
    if not burst:
        return
    load = os.getloadavg()
    cpu = cpu_seconds(bot.pid)
    counts = github.snapshot()
    start = time.monotonic()
    driver.burst(burst, args.clients)
    posted = time.monotonic() - start
    if not recorder.wait_all(burst, 600):
        raise SystemExit("burst: not every event got its statuses")
    report(f"saturation ({args.clients} clients)", burst, driver, recorder, start)
    print(
        f"  {len(burst)} posts accepted in {posted:.1f}s; bot CPU "
        f"{1000 * (cpu_seconds(bot.pid) - cpu) / len(burst):.1f} ms/event; "
        f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f}"
    )
    github.report(counts, len(burst))


def profiled_bot(path: Path) -> int:
    """`ouro bot` with its message handler under cProfile, timed by the handler thread's CPU:
    `python -m cProfile` sees only the main thread (pika's loop), and the consumer handles
    the messages on a thread of their own, one at a time. Only that thread: one profile
    timed by the CPU of several threads adds up to nonsense (negative totals)."""
    from ouro.cli import main as ouro_main  # noqa: PLC0415

    profile = cProfile.Profile(time.thread_time)

    def first_event(*_: object) -> None:
        # Called on a new thread's first profiling event: the handler's turns the profiler
        # on there; any other thread stops being called.
        if threading.current_thread().name == "handler":
            profile.enable()
        else:
            sys.setprofile(None)

    threading.setprofile(first_event)
    try:
        return ouro_main(["bot"])
    finally:
        profile.dump_stats(path)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--profile", type=Path, help="run the bot under cProfile, into FILE")
    parser.add_argument(
        "--bot-tree",
        type=Path,
        help="run the bot from this checkout of the project (e.g. `git worktree add DIR REV`), "
        "everything else from this one: the same conditions for two revisions' bots",
    )
    parser.add_argument(
        "--bot-command",
        default="bot",
        help="the `ouro` subcommand that runs the bot there (`tasks run` before fbda698)",
    )
    parser.add_argument("--profiled-bot", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = arguments()
    if args.profiled_bot:
        return profiled_bot(args.profiled_bot)
    python = [sys.executable, "-m", "ouro"]
    keep = os.environ.get("BENCH_KEEP")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(keep or tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "token").write_text(TOKEN + "\n")
        (tmp / "secret").write_bytes(SECRET + b"\n")
        (tmp / "testmap.yaml").write_text(TESTMAP)
        broker = RabbitMQ(tmp / "rabbitmq")
        broker.start()
        recorder = Recorder()
        mock_port, receiver_port, metrics_port = free_port(), free_port(), free_port()
        mock_url = f"http://127.0.0.1:{mock_port}"
        env = {
            **os.environ,
            "AMQP_URL": broker.url,
            "WEBHOOK_SECRET_FILE": str(tmp / "secret"),
            "GITHUB_API_URL": mock_url,
            "GITHUB_TOKEN_FILE": str(tmp / "token"),
            "GITHUB_WRITE_INTERVAL": "0",
            "OURO_TESTMAP": str(tmp / "testmap.yaml"),
            "OURO_STATE_DIR": str(tmp / "state"),
            "OURO_METRICS_PORT": str(metrics_port),
        }
        mock_cmd = [*python, "mock-github", "--port", str(mock_port)]
        mock_cmd += ["--data", str(tmp / "mock"), "--token-file", str(tmp / "token")]
        receiver_cmd = [*python, "webhook", "--host", "127.0.0.1", "--port", str(receiver_port)]
        try:
            with (
                process(mock_cmd, env, tmp / "mock.log") as mock,
                process(receiver_cmd, env, tmp / "receiver.log") as receiver,
            ):
                wait_ready(f"{mock_url}/_mock/healthz", mock, "mock-github")
                wait_ready(f"http://127.0.0.1:{receiver_port}/healthz", receiver, "receiver")
                control = MockGitHubControl(mock_url)
                control.create_repo(REPO, files={".ci/run": "#!/bin/sh\ntrue\n"})
                control.add_collaborator(REPO, "alice")
                hook_events = ["pull_request", "issue_comment", "push"]
                control.add_hook(
                    REPO, f"http://127.0.0.1:{receiver_port}/", SECRET.decode(), hook_events
                )
                control.add_hook(REPO, recorder.url, None, ["status"])
                bot_cmd = [*python, *args.bot_command.split()]
                bot_env, bot_cwd = env, None
                if args.bot_tree:
                    bot_cwd = args.bot_tree.resolve()
                    parts = [bot_cwd, bot_cwd / "images-server", bot_cwd / "mock-github"]
                    bot_env = {**env, "PYTHONPATH": os.pathsep.join(map(str, parts))}
                if args.profile:
                    bot_cmd = [sys.executable, __file__, "--profiled-bot", str(args.profile)]
                with process(bot_cmd, bot_env, tmp / "bot.log", bot_cwd) as bot:
                    pr = control.open_pr(REPO, "fix", files={"a.c": "int a;\n"}, user="alice")
                    if not recorder.wait_all([pr["head"]["sha"]], 60):
                        raise SystemExit("the bot did not post the first statuses")
                    measure(
                        control,
                        bot,
                        recorder=recorder,
                        receiver_port=receiver_port,
                        pr=pr,
                        tmp=tmp,
                        args=args,
                        github=GitHubCount(f"http://127.0.0.1:{metrics_port}/metrics", mock_url),
                    )
                control.close()
        finally:
            recorder.close()
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
