"""A throw-away RabbitMQ node for integration tests: Debian's rabbitmq-server, a free port,
a temporary folder, started as the current user through Debian's
/usr/lib/rabbitmq/bin/rabbitmq-server (the /usr/sbin wrapper switches to the rabbitmq
user, which cannot write a root-owned temporary folder)."""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pika

from ouro import amqp, poison, queues

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RabbitMQ:
    def __init__(self, base: Path, name: str = "ourotest"):
        self.base = base
        self.port = free_port()
        self.dist_port = free_port()
        self.nodename = f"{name}{self.port}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        base.mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        # consumer_timeout off: a worker test may hold a job as long as it likes.
        (base / "rabbitmq.conf").write_text("loopback_users = none\nconsumer_timeout = 86400000\n")
        # Quorum queues publish their counts (`list_queues`) on a tick, 5 s by default: at
        # 100 ms a test reads them soon after the fact (`queue_counts`).
        (base / "advanced.config").write_text("[{rabbit, [{quorum_tick_interval, 100}]}].\n")
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "HOME": str(base),
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    @staticmethod
    def available() -> bool:
        return Path(SERVER).exists() and shutil.which("erl") is not None

    def start(self, timeout: float = 60) -> None:
        self.launch()
        self.await_started(timeout)

    def launch(self) -> None:
        """Start the node without waiting for it (`await_started` waits)."""
        with open(self.base / "stdout.log", "ab") as log:
            self.process = subprocess.Popen(
                [SERVER],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def await_started(self, timeout: float = 60) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited; see {self.base}/stdout.log")
            result = subprocess.run(
                [CTL, "-q", "await_startup", "--timeout", "5"],
                env=self.env,
                capture_output=True,
                check=False,
            )
            if result.returncode == 0:
                return
            time.sleep(0.3)
        raise TimeoutError(f"RabbitMQ did not start within {timeout}s")

    def kill(self) -> None:
        """SIGKILL the node, as a crash or a lost machine would end it."""
        assert self.process is not None
        # Its own session: the script, the Erlang VM and its helpers (epmd detaches itself).
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        subprocess.run(
            [CTL, "-q", "stop"], env=self.env, capture_output=True, check=False, timeout=60
        )
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def ctl(self, *args: str) -> str:
        return subprocess.run(
            [CTL, "-q", *args], env=self.env, capture_output=True, check=True, text=True
        ).stdout


def drain(url: str, queue: str = queues.WEBHOOK) -> list[tuple[pika.BasicProperties, bytes]]:
    """Every message now on `queue`, consumed, with its properties as published: without the
    headers the broker adds on delivery (quorum queues count deliveries). Queues are declared
    first, so a test may drain one that nothing has published to yet."""
    connection = amqp.connect(url)
    try:
        channel = connection.channel()
        queues.declare(channel)
        found: list[tuple[pika.BasicProperties, bytes]] = []
        while True:
            method, props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return found
            headers = props.headers or {}
            props.headers = {k: headers[k] for k in headers if k not in poison.BROKER_HEADERS}
            props.headers = props.headers or None
            found.append((props, body))
    finally:
        connection.close()


class RabbitCluster:
    """Nodes of one RabbitMQ cluster on this machine, each a `RabbitMQ` of its own joined to
    the first; `url` lists them all, as `AMQP_URL` does for a cluster."""

    def __init__(self, base: Path, size: int = 3):
        self.nodes = [RabbitMQ(base / f"node{i}", name=f"ourocluster{i}n") for i in range(size)]
        # Nodes of a cluster share the Erlang cookie (rabbitmqctl reads it from $HOME too).
        cookie = secrets.token_hex(20)
        for node in self.nodes:
            path = node.base / ".erlang.cookie"
            path.write_text(cookie)
            path.chmod(0o400)

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def start(self, timeout: float = 90) -> None:
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.await_started(timeout)
        first = self.nodes[0].nodename
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first)
            node.ctl("start_app")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def leader(self, queue: str) -> RabbitMQ:
        """The node that leads quorum queue `queue` now."""
        for node in self.nodes:
            if node.process is None:
                continue
            listing = node.ctl("list_queues", "name", "leader", "--no-table-headers")
            for line in listing.splitlines():
                name, _, leader = line.partition("\t")
                if name == queue:
                    return next(n for n in self.nodes if n.nodename == leader.strip())
        raise LookupError(f"no running node knows queue {queue}")
