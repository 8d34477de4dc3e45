"""The AMQP layer: connections from `AMQP_URL`, confirmed publishing, safe consuming.

pika's BlockingConnection is not thread-safe, so a `Publisher` owns one connection and is
used by one thread at a time (the bot and the scan; the receiver's many request threads
share `webhook.publisher` instead); and `consume` runs each message's work on a separate
thread while the connection thread keeps heartbeats going, acking through
`add_callback_threadsafe` only after the work is done. What becomes of a message that
fails is `ouro.poison`'s policy, the same for every consumer.
"""

import contextlib
import functools
import logging
import ssl
import threading
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
    Rerouter,
    Result,
    Retry,
    attempt_of,
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
    "consume",
    "delivered",
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
# After a failed dead-letter or retry publish, before the message is requeued: the broker is
# in trouble, and a requeued message would come straight back.
REROUTE_PAUSE = 2.0


def consume(
    queue_names: list[str],
    handler: Handler,
    *,
    url: str | None = None,
    capabilities: tuple[str | None, ...] = (None,),
    stop: threading.Event | None = None,
    reconnect_delay: float = 2.0,
    crash_delay: float = 5.0,
    on_connected: Callable[[pika.BlockingConnection, BlockingChannel], None] | None = None,
) -> None:
    """Consume `queue_names` one message at a time until `stop` is set.

    The handler runs on its own thread; the message is acked, requeued, retried or
    dead-lettered (`ouro.poison`) only after it returns. A handler that raises counts as
    a `Retry` with backoff from `crash_delay` seconds: a bug must not lose work, nor spin
    on the same message, nor come back for ever. The connection is re-established after a
    broker restart. `on_connected` may add further consumers (such as the worker's cancel
    queue).
    """
    stop = stop or threading.Event()
    rerouter = Rerouter(lambda: Publisher(url, capabilities), retry_delay=crash_delay)
    try:
        _consume(
            queue_names,
            handler,
            url=url,
            capabilities=capabilities,
            stop=stop,
            reconnect_delay=reconnect_delay,
            on_connected=on_connected,
            rerouter=rerouter,
        )
    finally:
        rerouter.close()


def _consume(
    queue_names: list[str],
    handler: Handler,
    *,
    url: str | None,
    capabilities: tuple[str | None, ...],
    stop: threading.Event,
    reconnect_delay: float,
    on_connected: Callable[[pika.BlockingConnection, BlockingChannel], None] | None,
    rerouter: Rerouter,
) -> None:
    while not stop.is_set():
        try:
            connection = pika.BlockingConnection(broker_addresses(url))
        except pika.exceptions.AMQPError as error:
            log.warning("broker unreachable (%r); retrying in %.0fs", error, reconnect_delay)
            stop.wait(reconnect_delay)
            continue
        try:
            _consume_on(
                connection,
                queue_names,
                handler=handler,
                capabilities=capabilities,
                stop=stop,
                on_connected=on_connected,
                rerouter=rerouter,
            )
        except pika.exceptions.AMQPError as error:
            log.warning("broker connection lost (%r); reconnecting", error)
            stop.wait(reconnect_delay)
        finally:
            if connection.is_open:
                with contextlib.suppress(pika.exceptions.AMQPError):
                    connection.close()


def _consume_on(
    connection: pika.BlockingConnection,
    queue_names: list[str],
    *,
    handler: Handler,
    capabilities: tuple[str | None, ...],
    stop: threading.Event,
    on_connected: Callable[[pika.BlockingConnection, BlockingChannel], None] | None,
    rerouter: Rerouter,
) -> None:
    channel = connection.channel()
    queues.declare(channel, capabilities)
    # One unacked message per consumer. Quorum queues have no channel-wide (global) limit, so
    # a consumer of several queues cancels its consumers while it holds a message.
    channel.basic_qos(prefetch_count=1)
    if on_connected:
        on_connected(connection, channel)
    busy = threading.Event()
    consumers: list[str] = []

    def listen() -> None:
        if not channel.is_open or consumers or stop.is_set():
            return
        for name in queue_names:
            consumers.append(channel.basic_consume(name, functools.partial(on_message, queue=name)))

    def pause() -> None:
        # pika nacks (requeues) what arrived for a cancelled consumer and was not dispatched.
        while consumers:
            channel.basic_cancel(consumers.pop())

    def settle(tag: int, outcome: Outcome, pause_for: float) -> None:
        if pause_for > 0:
            # Cancelled before the nack, so that the message goes to another consumer.
            pause()
        if channel.is_open:
            if outcome is Outcome.ACK:
                channel.basic_ack(tag)
            else:
                channel.basic_nack(tag, requeue=True)
        busy.clear()
        # A declined message's consumer pauses; any other listens again at once.
        connection.call_later(pause_for, listen)

    def work(tag: int, message: Message) -> None:
        try:
            result = handler(message)
        except Exception as error:
            log.exception("handler failed on message %s", message.message_id)
            result = Retry(f"{type(error).__name__}: {error}")
        try:
            outcome = rerouter.settle(message, result, stop)
        except (BrokerUnavailable, pika.exceptions.AMQPError) as error:
            # Back where it was, uncounted: the broker is the trouble, not the message.
            log.error("message %s: cannot reroute it (%r); requeueing", message.message_id, error)
            stop.wait(REROUTE_PAUSE)
            outcome = Outcome.REQUEUE
        pause_for = result.pause if isinstance(result, Decline) else 0.0
        connection.add_callback_threadsafe(functools.partial(settle, tag, outcome, pause_for))

    def on_message(
        ch: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        props: pika.BasicProperties,
        body: bytes,
        *,
        queue: str,
    ) -> None:
        if busy.is_set():
            # Sent by another queue before its consumer was cancelled: back for another worker.
            ch.basic_nack(method.delivery_tag, requeue=True)
            return
        busy.set()
        if len(queue_names) > 1:
            pause()
        message = delivered(queue, method, props, body)
        threading.Thread(target=work, args=(method.delivery_tag, message), daemon=True).start()

    listen()
    while not stop.is_set() or busy.is_set():
        if stop.is_set():
            # Take no new message while the current one finishes.
            pause()
        connection.process_data_events(time_limit=0.2)


def delivered(
    queue: str, method: pika.spec.Basic.Deliver, props: pika.BasicProperties, body: bytes
) -> Message:
    """A delivery from `queue` as the handler sees it; a retry counts as redelivered, so
    that the worker checks what an earlier attempt left (statuses, the log)."""
    headers = dict(props.headers or {})
    attempt = attempt_of(headers)
    return Message(
        body=body,
        message_id=props.message_id,
        redelivered=bool(method.redelivered) or attempt > 1,
        headers=headers,
        timestamp=props.timestamp,
        queue=queue,
        priority=props.priority or 0,
        attempt=attempt,
    )
