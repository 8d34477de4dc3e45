"""mock-github figures: REST reads, status and check run writes, GraphQL queries per second,
webhook round trips, clone time.

Run: .venv/bin/python benchmarks/mock-github.py (named so it does not shadow the package)
"""

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

# The project root before this folder, whose webhook.py would shadow the webhook package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mock_github.control import MockGitHubControl
from mock_github.server import MockGitHub

REPO = "bench/repo"
TOKEN = "bench-token"  # noqa: S105 - a throw-away token for a throw-away server
# What `gh pr view N --json statusCheckRollup` asks (gh 2.23).
ROLLUP_QUERY = """query($owner: String!, $repo: String!, $n: Int!) {
  repository(owner: $owner, name: $repo) { pullRequest(number: $n) {
    statusCheckRollup: commits(last: 1) { nodes { commit { statusCheckRollup {
      contexts(first: 100) { nodes { __typename
        ... on StatusContext { context state targetUrl createdAt }
        ... on CheckRun { name status conclusion startedAt completedAt detailsUrl }
      } pageInfo { hasNextPage endCursor } } } } } } } } }"""


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def rate(label: str, count: int, action: Callable[[int], object]) -> None:
    started = time.perf_counter()
    for i in range(count):
        action(i)
    elapsed = time.perf_counter() - started
    print(f"{label}: {count / elapsed:.0f}/s ({elapsed / count * 1000:.1f} ms each, n={count})")


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mock = MockGitHub(Path(tmp) / "data")
        mock.add_token(TOKEN, "ouro-bot")
        mock.start()
        sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        control = MockGitHubControl(mock.url)
        http = requests.Session()
        http.headers["Authorization"] = f"token {TOKEN}"
        try:
            files: dict[str, str | None] = {f"src/f{i}.txt": f"{i}\n" * 100 for i in range(500)}
            control.create_repo(REPO, files=files)
            pr = control.open_pr(REPO, "fix", files={"src/f0.txt": "x\n"})
            sha = pr["head"]["sha"]
            api = f"{mock.url}/repos/{REPO}"
            rate("GET pull request", 200, lambda i: http.get(f"{api}/pulls/1").raise_for_status())
            rate(
                "POST status (no hook)",
                200,
                lambda i: http.post(
                    f"{api}/statuses/{sha}", json={"state": "pending", "context": f"c{i % 10}"}
                ).raise_for_status(),
            )
            rate("GET combined status", 200, lambda i: http.get(f"{api}/commits/{sha}/status"))
            rate(
                "POST check run (no hook)",
                200,
                lambda i: http.post(
                    f"{api}/check-runs", json={"name": f"c{i % 10}", "head_sha": sha}
                ).raise_for_status(),
            )
            variables = {"owner": "bench", "repo": "repo", "n": 1}
            rate(
                "GraphQL statusCheckRollup (10 statuses, 10 check runs)",
                200,
                lambda i: http.post(
                    f"{mock.url}/graphql", json={"query": ROLLUP_QUERY, "variables": variables}
                ).raise_for_status(),
            )
            control.set_webhook(f"http://127.0.0.1:{sink.server_address[1]}/", "secret")
            rate(
                "comment + signed issue_comment delivery",
                100,
                lambda i: control.comment(REPO, 1, f"comment {i}"),
            )
            rate(
                "push + push and synchronize deliveries",
                50,
                lambda i: control.push(REPO, {"src/f1.txt": f"{i}\n"}, branch="fix"),
            )
            started = time.perf_counter()
            subprocess.run(
                ["git", "clone", "--quiet", f"{mock.url}/{REPO}.git", f"{tmp}/clone"], check=True
            )
            print(f"git clone over HTTP, 500 files: {time.perf_counter() - started:.2f} s")
        finally:
            http.close()
            control.close()
            sink.shutdown()
            sink.server_close()
            mock.close()


if __name__ == "__main__":
    main()
