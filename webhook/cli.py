"""`ouro webhook`: run the receiver until SIGTERM or Ctrl-C."""

import argparse
import logging
import os
import resource

from ouro import queues
from ouro.amqp import broker_addresses, describe_addresses
from ouro.config import setting
from ouro.secretfile import SecretFile
from webhook.broker import Broker
from webhook.server import MAX_CONNECTIONS, Receiver

log = logging.getLogger(__name__)

# Descriptors beside the client connections: the listening socket, the broker, logs.
SPARE_DESCRIPTORS = 64


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
    parser.add_argument(
        "--shadow-exchange", metavar="NAME",
        help="also mirror every accepted delivery to fanout exchange NAME, for a shadow bot "
        f"(WEBHOOK_SHADOW_EXCHANGE; {queues.SHADOW_EXCHANGE} is the usual name; default: none)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def connection_bound() -> int:
    """`MAX_CONNECTIONS`, or fewer if the descriptor limit cannot be raised to fit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_CONNECTIONS + SPARE_DESCRIPTORS
    if soft < wanted and (hard == resource.RLIM_INFINITY or hard > soft):
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return max(1, min(MAX_CONNECTIONS, soft - SPARE_DESCRIPTORS))


def run(args: argparse.Namespace) -> int:
    # Both raise ConfigError: refuse to start rather than answer 401 or 503 to everything.
    secrets = SecretFile(setting("WEBHOOK_SECRET_FILE"), "webhook secret")
    addresses = broker_addresses()
    shadow = args.shadow_exchange or os.environ.get("WEBHOOK_SHADOW_EXCHANGE")
    if shadow:
        queues.shadow_name(shadow, "--shadow-exchange")
    broker = Broker(shadow_exchange=shadow or None)
    receiver = Receiver(secrets, broker, args.host, args.port, max_connections=connection_bound())
    if not receiver.broker.up():
        # Not fatal: deliveries get 503 and /healthz says so until the broker is back.
        log.warning("the broker is unreachable; answering 503 until it is back")
    log.info(
        "listening on %s (at most %d connections), publishing to %s",
        receiver.url,
        receiver.max_connections,
        describe_addresses(addresses),
    )
    if shadow:
        log.info("mirroring accepted deliveries to exchange %s", shadow)
    # SIGTERM: stop accepting, let deliveries in progress finish (up to 10 s), exit 0.
    receiver.serve_forever(handle_sigterm=True)
    return 0
