"""Two tenants on one broker (docs/deployment.md, "Tenants"): `ouro local run --tenant alice`
and `--tenant bob` at the same time beside the shared deployment, each driving the sample's
passing and failing PRs through its own receiver, bot, worker and mock GitHub. While both
are up (each waits in its `-i` shell), each vhost holds only its tenant's queues and
connections, each mock GitHub only its tenant's statuses, and a tenant's certificate is
refused on the other's vhost and on the shared one; afterwards only their own pods,
volumes, vhosts and users are gone and the shared deployment still serves."""

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
import requests

from ouro import amqp, queues
from ouro.deploy import drive, host, podman, tenantbroker
from ouro.deploy.local import Deployment
from ouro.deploy.tenant import Tenant

pytestmark = pytest.mark.deployment

NAMES = ("alice", "bob")
# The line `ouro local run -i` prints once the scenario is over and its shell waits.
SHELL_WAITS = "Deployment is up."
TIMEOUT = 900


@dataclass
class Run:
    """One `ouro local run --tenant NAME -i`, its output collected as it comes."""

    name: str
    process: subprocess.Popen[str]
    started: float
    lines: list[str] = field(default_factory=list)
    waiting: threading.Event = field(default_factory=threading.Event)
    scenario_done: float = 0.0

    def read(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self.lines.append(line)
                print(f"[{self.name}] {line}", end="", flush=True)
                if SHELL_WAITS in line:
                    self.scenario_done = time.monotonic() - self.started
                    self.waiting.set()
        self.waiting.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)


def start(name: str, shared: Deployment) -> Run:
    argv = [sys.executable, "-m", "ouro", "local", "run", "--tenant", name, "-i",
            "--deployment", str(shared.root)]  # fmt: skip
    process = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    run = Run(name, process, time.monotonic())
    assert process.stdout is not None
    threading.Thread(target=run.read, args=(process.stdout,), daemon=True).start()
    return run


def statuses(own: Tenant) -> list[dict[str, object]]:
    """Every status on the heads of every PR in the tenant's mock GitHub."""
    found = []
    with drive.mock_session(own) as session:
        api = own.url("mock-github")
        pulls = session.get(f"{api}/repos/{drive.REPO}/pulls?state=all", timeout=30)
        pulls.raise_for_status()
        assert len(pulls.json()) == len(drive.SCENARIOS)
        for pull in pulls.json():
            sha = pull["head"]["sha"]
            found += drive.listing(api, drive.REPO, sha, checks=False, session=session)
    return found


def connect(own: Tenant, vhost: str) -> None:
    """A real AMQP connection with `own`'s certificate to `vhost` on the shared broker."""
    url = f"amqps://{own.state.host}:{own.port('broker')}/{vhost.replace('/', '%2F')}"
    with host.environment(own.client_env()):
        amqp.connect(url).close()


def test_two_tenants_on_one_broker_run_the_pr_scenario_at_once_apart(
    deployment: Deployment,
) -> None:
    runs = [start(name, deployment) for name in NAMES]
    try:
        for run in runs:
            assert run.waiting.wait(TIMEOUT), f"{run.name}: no end after {TIMEOUT}s"
            assert run.process.poll() is None, f"{run.name} ended early:\n{run.output}"
            assert "PASSED" in run.output, run.output
        tenants = {name: Tenant(name, deployment) for name in NAMES}
        for name, own in tenants.items():
            other = next(t for t in tenants.values() if t is not own)
            # Its own vhost: the queues its components declared, its consumers on them.
            found = tenantbroker.queues(deployment, own.vhost)
            assert {queues.WEBHOOK, queues.TASKS, queues.tasks_queue("vm")} <= set(found)
            connections = deployment.exec(
                "broker", ["rabbitmqctl", "--quiet", "list_connections", "--no-table-headers",
                           "user", "vhost"],
            )  # fmt: skip
            users = {line.split("\t")[0] for line in connections.splitlines()
                     if line.endswith(f"\t{own.vhost}")}  # fmt: skip
            assert users == {own.vhost}, connections
            permissions = deployment.exec(
                "broker", ["rabbitmqctl", "--quiet", "list_user_permissions", "--no-table-headers",
                           own.vhost],
            )  # fmt: skip
            assert [line.split("\t")[0] for line in permissions.splitlines()] == [own.vhost]
            # Its statuses, all carrying its suffix, none the other's: 2 PRs x 3 contexts x
            # (Not yet tested, In progress, final).
            contexts = [str(s["context"]) for s in statuses(own)]
            assert len(contexts) == 18, contexts
            assert all(c.endswith(f"@{name}") for c in contexts), contexts
            # A real connection: its own vhost takes its certificate, the other's and the
            # shared one refuse it.
            connect(own, own.vhost)
            for vhost in (other.vhost, "/"):
                with pytest.raises(amqp.BrokerUnavailable, match=r"ACCESS_REFUSED|refused for"):
                    connect(own, vhost)
    finally:
        for run in runs:
            if run.process.poll() is None:
                assert run.process.stdin is not None
                run.process.stdin.write("exit\n")
                run.process.stdin.close()
        for run in runs:
            run.process.wait(timeout=300)
            total = time.monotonic() - run.started
            print(f"tenant {run.name}: PR scenario done after {run.scenario_done:.0f}s, "
                  f"run with teardown {total:.0f}s")  # fmt: skip
    assert [run.process.returncode for run in runs] == [0, 0]
    # Only the tenants' own things are gone; the shared deployment still serves.
    vhosts = deployment.exec("broker", ["rabbitmqctl", "--quiet", "list_vhosts"]).split()
    assert not any(v.startswith(tenantbroker.PREFIX) for v in vhosts), vhosts
    names = podman.run(["ps", "-a", "--format", "{{.Names}}"]).stdout.split()
    assert not any(n.startswith(tenantbroker.PREFIX) for n in names), names
    volumes = podman.run(["volume", "ls", "--format", "{{.Name}}"]).stdout.split()
    assert not any(v.startswith(tenantbroker.PREFIX) for v in volumes), volumes
    assert {queues.WEBHOOK, queues.TASKS} <= set(tenantbroker.queues(deployment, "/"))
    assert deployment.broker_ready()
    assert requests.get(deployment.url("images-server") + "/", timeout=10).ok


def test_tenant_add_and_remove_for_ones_own_processes(
    deployment: Deployment, tmp_path: Path
) -> None:
    """`ouro local tenant add NAME` prints the settings with which a process of one's own
    reaches the tenant's vhost; `remove` takes the vhost, the user and the files away, and
    a copy of the old certificate is refused."""
    ouro = [sys.executable, "-m", "ouro", "local", "tenant"]
    where = ["carol", "--deployment", str(deployment.root)]
    added = subprocess.run([*ouro, "add", *where], capture_output=True, text=True, check=True)
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in added.stdout.splitlines()
        if line.startswith("export ")
    )
    assert exports["AMQP_URL"].endswith("/tenant-carol")
    assert "BEGIN" not in added.stdout + added.stderr  # files named, never their contents
    with host.environment(exports):
        connection = amqp.connect()
        connection.channel().queue_declare("carol-probe", exclusive=True)
        connection.close()
    assert tenantbroker.queues(deployment, "tenant-carol") == []  # exclusive: gone with it
    kept = shutil.copytree(Path(exports["AMQP_CA_FILE"]).parent, tmp_path / "amqp")
    subprocess.run([*ouro, "remove", *where], capture_output=True, text=True, check=True)
    vhosts = deployment.exec("broker", ["rabbitmqctl", "--quiet", "list_vhosts"]).split()
    assert "tenant-carol" not in vhosts
    assert not Path(exports["AMQP_KEY_FILE"]).exists()
    old = {key: str(kept / Path(value).name) for key, value in exports.items() if key != "AMQP_URL"}
    refused = pytest.raises(amqp.BrokerUnavailable, match=r"ACCESS_REFUSED|refused")
    with refused, host.environment(old):
        amqp.connect(exports["AMQP_URL"]).close()
