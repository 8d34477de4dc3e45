"""The AMQP layer: connections from `AMQP_URL` and confirmed publishing (consuming is
`ouro.consumer`'s).

pika's BlockingConnection is not thread-safe, so a `Publisher` owns one connection and is
used by one thread at a time (the bot and the scan; the receiver's many request threads
share `webhook.publisher` instead).
"""

import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from ouro import queues
from ouro.config import ConfigError, setting
from ouro.poison import (
    DeadLetter,
    Decline,
    HandOver,
    Message,
    Outcome,
    Result,
    Retry,
)

# The handler's side of the policy is part of this module's interface.
__all__ = [
    "BrokerUnavailable",
    "DeadLetter",
    "Decline",
    "HandOver",
    "Handler",
    "Message",
    "Outcome",
    "Publisher",
    "Result",
    "Retry",
    "broker_addresses",
    "connect",
    "describe_addresses",
    "message_properties",
    "publish_confirmed",
]

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The broker could not be reached, or did not confirm a message."""


def broker_addresses(url: str | None = None) -> list[pika.URLParameters]:
    """Connection parameters for each broker address in `url` (default `AMQP_URL`): one URL,
    or the nodes of a cluster as URLs separated by commas, tried in order when connecting.
    `amqps://` uses the CA and client certificate files (`AMQP_CA_FILE`, `AMQP_CERT_FILE`,
    `AMQP_KEY_FILE`) and EXTERNAL authentication."""
    urls = [part.strip() for part in (url or setting("AMQP_URL")).split(",")]
    return [_parameters(part) for part in urls]


def _parameters(url: str) -> pika.URLParameters:
    if not url.startswith(("amqp://", "amqps://")):
        raise ConfigError("AMQP_URL must be amqp:// or amqps:// URLs, separated by commas")
    try:
        params = pika.URLParameters(url)
    except Exception as error:  # pika raises several types for a malformed URL
        raise ConfigError(f"AMQP_URL is not a valid AMQP URL: {type(error).__name__}") from None
    if url.startswith("amqps://"):
        ca, cert, key = (setting(n) for n in ("AMQP_CA_FILE", "AMQP_CERT_FILE", "AMQP_KEY_FILE"))
        for path in (ca, cert, key):
            if not Path(path).is_file():
                raise ConfigError(f"AMQP TLS file {path} does not exist")
        context = ssl.create_default_context(cafile=ca)
        context.load_cert_chain(cert, key)
        params.ssl_options = pika.SSLOptions(context, params.host)
        params.credentials = pika.credentials.ExternalCredentials()
    params.heartbeat = 30
    params.blocked_connection_timeout = 30
    params.connection_attempts = 1
    params.socket_timeout = 5
    return params


def describe_addresses(addresses: list[pika.URLParameters]) -> str:
    """`host:port` of each address, for a log line (no credentials)."""
    return ", ".join(f"{a.host}:{a.port}" for a in addresses)


def connect(url: str | None = None) -> pika.BlockingConnection:
    try:
        return pika.BlockingConnection(broker_addresses(url))
    except pika.exceptions.AMQPError as error:
        raise BrokerUnavailable(f"cannot connect to the broker: {error!r}") from None


def message_properties(
    message_id: str,
    priority: int,
    headers: Mapping[str, object] | None,
    timestamp: int | None = None,
) -> pika.BasicProperties:
    """Persistent JSON messages, as every publisher sends them (`timestamp`: when the
    message was first published, kept by dead letters and retries)."""
    return pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent,
        content_type="application/json",
        message_id=message_id,
        priority=priority,
        timestamp=int(time.time()) if timestamp is None else timestamp,
        headers=None if headers is None else dict(headers),
    )


def publish_confirmed(
    channel: BlockingChannel,
    routing_key: str,
    body: bytes,
    properties: pika.BasicProperties,
    exchange: str = "",
) -> None:
    """Publish on `channel`, in confirm mode; return once the broker has the message.

    Raises `BrokerUnavailable` when the broker refuses it or cannot route it, and
    `pika.exceptions.AMQPError` when the connection fails (the message's fate unknown).
    """
    message_id = properties.message_id
    try:
        # mandatory: an unroutable message (missing queue) is an error, not a silent drop.
        channel.basic_publish(exchange, routing_key, body, properties, mandatory=not exchange)
    except pika.exceptions.UnroutableError:
        raise BrokerUnavailable(f"message {message_id} unroutable to {routing_key}") from None
    except pika.exceptions.NackError:
        raise BrokerUnavailable(f"broker refused message {message_id}") from None


class Publisher:
    """One connection and channel with publisher confirms; reconnects when needed.

    A publish either returns (the broker has the message, persisted for durable
    queues) or raises `BrokerUnavailable`. It never retries a message whose
    fate is unknown, since that could store it twice; it reconnects only when
    the connection is found dead *before* sending.
    """

    def __init__(self, url: str | None = None, capabilities: tuple[str | None, ...] = (None,)):
        self._addresses = broker_addresses(url)
        self._capabilities = capabilities
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def _ensure_channel(self) -> BlockingChannel:
        if self._connection is not None and self._connection.is_open:
            try:
                # Notices a broker that closed the connection since the last use.
                self._connection.process_data_events(time_limit=0)
            except pika.exceptions.AMQPError:
                self._drop()
        if self._channel is None or not self._channel.is_open:
            self._drop()
            try:
                self._connection = pika.BlockingConnection(self._addresses)
                channel = self._connection.channel()
                channel.confirm_delivery()
                queues.declare(channel, self._capabilities)
            except pika.exceptions.AMQPError as error:
                self._drop()
                raise BrokerUnavailable(f"cannot connect to the broker: {error!r}") from None
            self._channel = channel
        return self._channel

    def publish(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        exchange: str = "",
        priority: int = 0,
        headers: Mapping[str, object] | None = None,
        timestamp: int | None = None,
    ) -> None:
        channel = self._ensure_channel()
        properties = message_properties(message_id, priority, headers, timestamp)
        try:
            publish_confirmed(channel, routing_key, body, properties, exchange)
        except pika.exceptions.AMQPError as error:
            self._drop()
            raise BrokerUnavailable(f"publishing {message_id} failed: {error!r}") from None
        except BrokerUnavailable:
            # Refused: the next publish opens a new channel (see NACK_STUCK in queues.py).
            self._drop()
            raise

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            # Already broken: nothing more to release.
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()

    def close(self) -> None:
        self._drop()


Handler = Callable[[Message], Result]
