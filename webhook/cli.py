"""`ouro webhook`: run the receiver until SIGTERM or Ctrl-C."""

import argparse
import logging
import signal
import threading
from types import FrameType

from ouro.amqp import connection_parameters
from ouro.config import setting
from ouro.secretfile import SecretFile
from webhook.broker import Broker
from webhook.server import Receiver

log = logging.getLogger(__name__)


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "webhook",
        description="Receive GitHub webhooks: check X-Hub-Signature-256 against the secrets in "
        "WEBHOOK_SECRET_FILE (one per line, re-read when it changes), publish each delivery "
        "to the `webhook` queue at AMQP_URL, and answer 202 once the broker confirmed it. "
        "GET /healthz and GET /metrics (Prometheus) serve probes and monitoring.",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (%(default)s)")  # noqa: S104
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Both raise ConfigError: refuse to start rather than answer 401 or 503 to everything.
    secrets = SecretFile(setting("WEBHOOK_SECRET_FILE"), "webhook secret")
    broker_address = connection_parameters()
    receiver = Receiver(secrets, Broker(), args.host, args.port)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        # httpd.shutdown() waits for serve_forever() to return, which runs on this thread.
        threading.Thread(target=receiver.httpd.shutdown).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    if not receiver.broker.up():
        # Not fatal: deliveries get 503 and /healthz says so until the broker is back.
        log.warning("the broker is unreachable; answering 503 until it is back")
    log.info(
        "listening on %s, publishing to %s:%s",
        receiver.url,
        broker_address.host,
        broker_address.port,
    )
    try:
        receiver.serve_forever()
    finally:
        # Deliveries in progress finish before the broker connections close.
        receiver.shutdown()
    return 0
