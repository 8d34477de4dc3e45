"""Releases end to end: two releases published to a registry on loopback (docker-registry),
A applied to the local deployment, then B, then `ouro deploy rollback` — each switch with
signed deliveries posted before and while it happens, and PRs whose jobs are queued or
running across it. After each switch: `ouro deploy status` names the release and every
container runs that release's image (podman inspect); every delivery the receiver accepted
was consumed (no message left on any queue, none dead-lettered) and every PR ended with
the right status on every context; a new pair of PRs passes on the new release."""

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from mock_github.control import MockGitHubControl
from ouro import amqp, queuedepth, queues
from ouro.deploy import drive, host, manifests, podman, publish, release
from ouro.deploy.local import Deployment
from tests.fixtures_webhook import post_signed
from tests.rabbitmq import free_port

pytestmark = pytest.mark.deployment

REGISTRY_BINARY = Path("/usr/bin/docker-registry")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """HOST:PORT of a registry on loopback, and podman told it speaks plain HTTP."""
    if not REGISTRY_BINARY.exists():
        pytest.fail("docker-registry is missing: apt-get install docker-registry")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nlog: {{level: warn, accesslog: {{disabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'registry'}}}}}\n"
    )
    with (tmp_path / "registry.log").open("wb") as out:
        process = subprocess.Popen([str(REGISTRY_BINARY), "serve", str(config)], stderr=out)
    try:
        host.wait_for(host.http_answers(f"http://127.0.0.1:{port}/v2/"), "the registry", 30)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        # Gigabytes of layers: not kept with the test's other files.
        shutil.rmtree(tmp_path / "registry", ignore_errors=True)


def ouro(*args: str, env: dict[str, str], check: bool = True) -> tuple[int, str, float]:
    """`ouro ARGS` as an operator runs it: (exit code, its output then its errors, seconds)."""
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ouro", *args],
        env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    print(f"$ ouro {' '.join(args)}  ({seconds:.1f}s, exit {result.returncode})")
    print(result.stdout + result.stderr[-3000:])
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result.returncode, result.stdout + result.stderr, seconds


@dataclass
class Load:
    """Signed deliveries posted in a loop while a switch happens: each answer counted."""

    url: str
    secret: bytes
    bodies: list[bytes]
    codes: dict[str, int] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)  # delivery ids answered 202
    unavailable_at: list[float] = field(default_factory=list)  # answers other than 202
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            for body in self.bodies:
                delivery = str(uuid.uuid4())
                try:
                    code = str(post_signed(self.url, self.secret, "pull_request", body,
                                           delivery, session=session))  # fmt: skip
                except requests.ConnectionError:
                    code = "refused"
                    session = requests.Session()
                if code == "202":
                    self.accepted.append(delivery)
                else:
                    self.unavailable_at.append(time.monotonic())
                self.codes[code] = self.codes.get(code, 0) + 1
            time.sleep(0.1)


def open_pair(deploy: Deployment, tag: str) -> tuple[list[drive.Outcome], list[bytes]]:
    """The scenario's green and broken PRs on branches of their own; their outcomes to follow
    and the payloads GitHub delivered for them."""
    outcomes: list[drive.Outcome] = []
    with MockGitHubControl(deploy.url("mock-github")) as control:
        drive.ensure_sample(control, deploy)
        numbers = []
        for s in drive.SCENARIOS:
            pr = control.open_pr(drive.REPO, f"{s.branch}-{tag}", files=s.files,
                                 title=f"{s.title} ({tag})", user="ouro-demo")  # fmt: skip
            numbers.append(int(pr["number"]))
            outcomes += [
                drive.Outcome(drive.REPO, int(pr["number"]), str(pr["head"]["sha"]), c, s.title, e)
                for c, e in s.expected.items()
            ]
        payloads = [
            d["request"]["payload"]
            for d in control.deliveries("pull_request")
            if d["request"]["payload"].get("number") in numbers
        ]
    return outcomes, [json.dumps(p).encode() for p in payloads]


def finish(deploy: Deployment, outcomes: list[drive.Outcome]) -> int:
    """Follow the PRs to their final statuses; the number of contexts not as expected."""
    with drive.mock_session(deploy) as session:
        drive.follow(deploy.url("mock-github"), outcomes, timeout=400, started=time.monotonic(),
                     session=session)  # fmt: skip
    return sum(o.state != o.expected for o in outcomes)


def left_on_queues(deploy: Deployment) -> dict[str, int]:
    """Messages waiting on any queue (dead letters included), once the bot and the worker
    had time to take what they were given."""
    names = [queues.WEBHOOK, *[queues.tasks_queue(c) for c in (None, "vm", "kvm")]]
    names += [queues.dead_letter_queue(n) for n in names]
    found: dict[str, int] = {}

    def empty() -> bool:
        with host.environment(deploy.client_env()):
            connection = amqp.connect()
            try:
                depths = queuedepth.measure(connection, names)
            finally:
                connection.close()
        found.clear()
        found.update({d.queue: d.messages for d in depths if d.messages})
        return not found

    with contextlib.suppress(TimeoutError):
        host.wait_for(empty, "empty queues", 60, interval=1)
    return found


# Run in the bot's container: the delivery ids its state (a volume) says it handled.
SEEN = """
import json, os, sqlite3
db = sqlite3.connect(os.path.join(os.environ["OURO_STATE_DIR"], "bot.sqlite"))
print(json.dumps([row[0] for row in db.execute("SELECT id FROM deliveries")]))
"""


def handled_by_bot() -> set[str]:
    result = podman.run(["exec", f"{manifests.POD}-tasks", "python3", "-c", SEEN])
    return set(json.loads(result.stdout))


def running_images(deploy: Deployment) -> dict[str, str]:
    """Each container of the pod: the id of the image it runs."""
    names = [n for n in deploy.container_names() if n.startswith(f"{manifests.POD}-")]
    names = [n for n in names if not n.endswith("-infra")]
    found = {}
    for name in names:
        image = podman.run(["inspect", "--format", "{{.Image}}", name]).stdout.strip()
        found[name.removeprefix(f"{manifests.POD}-")] = image
    return found


def expected_images(r: release.Release) -> dict[str, str]:
    """What each container must run under release `r`: the ids of its images."""
    ids = {
        name: podman.run(["image", "inspect", "--format", "{{.Id}}", image.ref]).stdout.strip()
        for name, image in r.images.items()
    }
    return {c: ids["broker" if c == "broker" else "app"] for c in
            ("broker", "webhook", "tasks", "worker", "images-server")}  # fmt: skip


def switch(
    deploy: Deployment, command: list[str], env: dict[str, str], tag: str
) -> dict[str, object]:
    """Open a PR pair (its jobs queue), post deliveries before and while `ouro deploy
    COMMAND` runs, and check that nothing accepted was lost; the figures."""
    outcomes, bodies = open_pair(deploy, tag)
    secret = (deploy.secrets / "webhook" / ".secret").read_bytes().splitlines()[0].strip()
    load = Load(deploy.url("webhook") + "/", secret, bodies)
    poster = threading.Thread(target=load.run, daemon=True)
    poster.start()
    time.sleep(2)
    _, _, seconds = ouro("deploy", *command, env=env)
    time.sleep(2)
    load.stop.set()
    poster.join(timeout=60)
    wrong = finish(deploy, outcomes)
    left = left_on_queues(deploy)
    lost = set(load.accepted) - handled_by_bot()
    down = load.unavailable_at
    outage = down[-1] - down[0] if down else 0.0
    figures = {
        "switch": f"{seconds:.1f}s", "receiver unavailable for": f"{outage:.1f}s",
        "answers": dict(load.codes), "accepted and not handled by the bot": len(lost),
        "jobs queued across it": len(outcomes), "contexts not as expected": wrong,
        "left on queues": left,
    }  # fmt: skip
    print(f"{tag}: {figures}")
    assert load.codes.get("202", 0) > 0, load.codes
    # Not accepted, and the sender is told so (GitHub records a failed delivery): a refused
    # connection while the receiver restarts, 503 while its broker is not up yet.
    assert set(load.codes) <= {"202", "503", "refused"}, load.codes
    assert lost == set()
    assert wrong == 0
    assert left == {}
    return figures


def test_apply_release_b_then_roll_back_to_a_losing_nothing(
    own_deployment: Deployment,
    registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    deploy = own_deployment
    registries_conf = tmp_path / "registries.conf"
    registries_conf.write_text(f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n')
    # For every podman this process runs, whether or not an earlier test chose its settings.
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(registries_conf))
    if podman._env is not None:
        monkeypatch.setitem(podman._env, "CONTAINERS_REGISTRIES_CONF", str(registries_conf))
    deploy.up()
    env = podman.env()
    releases = tmp_path / "releases"
    where = ["--releases", str(releases)]
    target = ["--deployment", str(deploy.root)]

    _, _, publish_a = ouro("deploy", "publish", "--registry", f"{registry}/ouro", "--name",
                           "release-a", *where, env=env)  # fmt: skip
    a = release.load("release-a", releases)
    # B: A's app image with one more label, so another image with another digest. (A's
    # local images by their input hash: the tree may have changed since `up` built.)
    local = {n: f"localhost/ouro-{n}:{image.inputs}" for n, image in a.images.items()}
    build = tmp_path / "b"
    build.mkdir()
    (build / "Containerfile").write_text(
        f"FROM {local['app']}\nLABEL org.ouroboros.test-release=b\n"
    )
    local["app"] = "localhost/ouro-app:release-b"
    podman.run(["build", "--quiet", "--tag", local["app"], str(build)], timeout=600)
    # Its name only: its layers are A's, and it should not keep A's app image from pruning.
    request.addfinalizer(lambda: podman.run(["rmi", local["app"]], check=False))
    b = publish.publish(local, f"{registry}/ouro", folder=releases, name="release-b")
    assert b.images["app"].digest != a.images["app"].digest
    # Unchanged inputs: the same images, not pushed again.
    assert b.images["job"] == a.images["job"]
    assert b.images["broker"] == a.images["broker"]

    _, _, apply_a = ouro("deploy", "apply", "--release", "release-a", *where, *target, env=env)
    assert running_images(deploy) == expected_images(a)
    figures: dict[str, object] = {"publish A": f"{publish_a:.0f}s", "apply A": f"{apply_a:.0f}s"}

    figures["A -> B"] = switch(deploy, ["apply", "--release", "release-b", *where, *target],
                               env, "a-to-b")  # fmt: skip
    code, out, _ = ouro("deploy", "status", *target, env=env, check=False)
    assert code == 0, out  # every container ready, on an image of release B
    assert out.startswith("release: release-b")
    assert b.images["app"].digest in out
    assert running_images(deploy) == expected_images(b)
    assert (
        "org.ouroboros.test-release"
        in podman.run(
            ["inspect", "--format", "{{json .Config.Labels}}", f"{manifests.POD}-webhook"]
        ).stdout
    )

    figures["B -> A"] = switch(deploy, ["rollback", *target], env, "rollback")
    code, out, _ = ouro("deploy", "status", *target, env=env, check=False)
    assert code == 0, out  # every container ready, on an image of release A
    assert out.startswith("release: release-a")
    assert running_images(deploy) == expected_images(a)

    outcomes, _ = open_pair(deploy, "after-rollback")
    assert finish(deploy, outcomes) == 0
    # No release before A in this deployment's history.
    code, out, _ = ouro("deploy", "rollback", *target, env=env, check=False)
    assert code == 2
    assert "no release before the current one to roll back to" in out
    print(f"figures: {figures}")
