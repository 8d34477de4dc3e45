"""One client connection of the receiver: read a request within its deadlines, answer it.

Everything runs on the receiver's one event loop thread, so a slow client holds a buffer
and an entry in the deadline sweep, never a thread: any number of trickling clients (up to
the connection bound) cost no worker, and each is cut off at its deadline.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from ouro.amqp import BrokerUnavailable
from webhook import wire
from webhook.payload import check_json, queue_message
from webhook.signature import SignatureError, verify
from webhook.wire import Head, Refused

if TYPE_CHECKING:
    from webhook.server import Receiver

log = logging.getLogger(__name__)

# The label for requests whose event name is not yet vouched for by a signature, so
# unsigned requests cannot create metric series at will.
UNVERIFIED = "-"
# AMQP's message_id is a short string (255 bytes at most).
MAX_HEADER_VALUE = 200
# Checking a body this large (HMAC, JSON) takes milliseconds: done on a worker thread so
# the loop keeps serving the other connections meanwhile.
OFFLOAD_BODY = 256 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def printable(value: str, limit: int = 80) -> str:
    """A header value safe to put in a log line."""
    value = value[:limit]
    if value.isprintable():  # the usual case, without a pass per character
        return value
    return "".join(c if c.isprintable() else "?" for c in value)


class Connection(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection: one request at a time, reading paused meanwhile."""

    def __init__(self, receiver: "Receiver"):
        self.receiver = receiver
        # Set by connection_made, which asyncio calls before anything else.
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self._buffer = bytearray()
        self._head: Head | None = None
        # While a request is being answered: no reading, no deadline.
        self.busy = False
        # When the request being read must be complete (monotonic); checked by the
        # receiver's sweep, so a request costs no timer of its own.
        self.deadline = 0.0
        self._deadline_code = 0

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        if not self.receiver.admit(self):
            # Over the bound: answered at once, so the client learns to retry later.
            self.transport.write(wire.response(503, b"too many connections\n", close=True))
            self.transport.close()
            return
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self.receiver.release(self)
        self._buffer.clear()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self.busy:
            self._advance()

    # deadlines

    def _await_request(self) -> None:
        self._head = None
        self.deadline = time.monotonic() + self.receiver.header_deadline
        self._deadline_code = 0

    def expired(self) -> None:
        """Called by the sweep once `deadline` has passed (never while busy)."""
        if self._head is None and not self._buffer:
            # An idle keep-alive connection: closed without a word, as servers do.
            self._close()
        elif self._head is None:
            self._refuse_and_close(408, "headers not received in time", counted=False)
        else:
            self._refuse_and_close(408, "body not received in time")

    # reading

    def _advance(self) -> None:
        buffer = self._buffer
        head = self._head
        if head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > wire.MAX_HEAD:
                    self._refuse_and_close(400, "request head too large")
                return
            method = bytes(buffer[:8]).split(b" ", 1)[0].decode("latin-1")
            try:
                head = wire.parse_head(bytes(buffer[:end]))
                self._route(head)
            except Refused as refusal:
                # Counted as deliveries only if they were meant as one (a POST).
                self._refuse_and_close(refusal.code, refusal.reason, counted=method == "POST")
                return
            del buffer[: end + 4]
            self._head = head
            if head.method == "POST":
                self.deadline = time.monotonic() + self.receiver.body_deadline
                if len(buffer) < head.length and "100-continue" in (head.get("expect") or ""):
                    self._write(_CONTINUE)
        length = max(head.length, 0)
        if len(buffer) < length:
            return
        body = bytes(buffer[:length])
        del buffer[:length]
        self.busy = True
        self.transport.pause_reading()
        if head.method == "POST":
            self._deliver(head, body)
        else:
            self._get(head)

    @staticmethod
    def _route(head: Head) -> None:
        """Refusals known from the head alone: answered before any body is read."""
        if head.method not in ("GET", "POST"):
            raise Refused(405, "method not allowed")
        if head.method == "GET":
            if head.length > 0:
                raise Refused(400, "GET with a body")
            return
        if head.target != "/":
            raise Refused(404, "not found")
        if head.length < 0:
            raise Refused(411, "Content-Length required")

    # answering

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        self.transport.close()

    def _refuse_and_close(self, code: int, reason: str, *, counted: bool = True) -> None:
        self.busy = True
        extra = b"Allow: GET, POST\r\n" if code == 405 else b""
        self._write(wire.response(code, reason.encode() + b"\n", close=True, extra=extra))
        self._close()
        if counted:
            self.receiver.metrics.delivery(UNVERIFIED, code)
        log.info("request refused: %d %s", code, reason)

    def _done(self, response: bytes, close: bool) -> None:
        """The answer is written: take the next request (or close)."""
        self._write(response)
        if close:
            self._close()
            return
        self.busy = False
        self._await_request()
        self.transport.resume_reading()
        if self._buffer:
            self._advance()

    def _get(self, head: Head) -> None:
        receiver = self.receiver
        close = not head.keep_alive
        if head.target == "/metrics":
            text = receiver.metrics.render(receiver.broker.last_known_up())
            content_type = b"text/plain; version=0.0.4; charset=utf-8"
            answer = wire.response(200, text.encode(), close=close, content_type=content_type)
            self._done(answer, close)
        elif head.target == "/healthz":
            receiver.track(self._healthz(close))
        else:
            self._done(wire.response(404, b"not found\n", close=close), close)

    async def _healthz(self, close: bool) -> None:
        if await self.receiver.broker.check():
            self._done(wire.response(200, b"ok\n", close=close), close)
        else:
            self._done(wire.response(503, b"broker unreachable\n", close=close), close)

    # deliveries

    def _deliver(self, head: Head, body: bytes) -> None:
        delivery = _Delivery(head.keep_alive, body, time.monotonic())
        try:
            delivery.event, delivery.id = self._github_headers(head)
            signature = head.get("x-hub-signature-256")
            secrets = self.receiver.secrets.secrets()
            if len(body) > OFFLOAD_BODY:
                checked = asyncio.get_running_loop().run_in_executor(
                    None, _check, secrets, body, signature
                )
                checked.add_done_callback(partial(self._checked, delivery))
                return
            _verify(secrets, body, signature)
            delivery.label = delivery.event
            check_json(body)
        except Refused as refusal:
            self._answer(delivery, refusal)
            return
        self._verified(delivery)

    def _checked(self, delivery: "_Delivery", checked: "asyncio.Future[None]") -> None:
        error = checked.exception()
        if not (isinstance(error, Refused) and error.code == 401):
            delivery.label = delivery.event
        if isinstance(error, Refused):
            self._answer(delivery, error)
        elif error is not None:
            log.error("checking delivery %s failed", printable(delivery.id), exc_info=error)
            self._answer(delivery, Refused(500, "internal error"))
        else:
            self._verified(delivery)

    def _verified(self, delivery: "_Delivery") -> None:
        if delivery.event == "ping":
            self._answer(delivery, None, 200, "pong")
            return
        message = queue_message(delivery.event, delivery.id, delivery.body)
        published = self.receiver.broker.publish(message, delivery.id)
        published.add_done_callback(partial(self._published, delivery, message))

    def _published(
        self, delivery: "_Delivery", message: bytes, published: "asyncio.Future[None]"
    ) -> None:
        error = None if published.cancelled() else published.exception()
        if published.cancelled() or error is not None:
            detail = str(error) if isinstance(error, BrokerUnavailable) else repr(error)
            self._answer(delivery, Refused(503, "broker unavailable", detail=detail))
            return
        self.receiver.metrics.publish_latency(time.monotonic() - delivery.started)
        self._answer(delivery, None, 202, "accepted")
        # Only accepted deliveries, and only once answered: the mirror cannot change the
        # answer nor delay it.
        self._mirror(delivery.id, message)

    def _mirror(self, delivery_id: str, message: bytes) -> None:
        try:
            mirrored = self.receiver.broker.mirror(message, delivery_id)
        except Exception as error:
            # Whatever goes wrong with the shadow is counted and logged, never raised into
            # the loop that serves production's deliveries.
            self._mirrored(delivery_id, error)
            return
        if mirrored is not None:
            mirrored.add_done_callback(
                lambda done: self._mirrored(
                    delivery_id, Exception("cancelled") if done.cancelled() else done.exception()
                )
            )

    def _mirrored(self, delivery_id: str, error: BaseException | None) -> None:
        self.receiver.metrics.mirrored(error is None)
        if error is not None:
            log.warning("delivery %s not mirrored to the shadow: %s", printable(delivery_id), error)

    @staticmethod
    def _github_headers(head: Head) -> tuple[str, str]:
        values = []
        for name in ("X-GitHub-Event", "X-GitHub-Delivery"):
            value = head.get(name.lower())
            if not value:
                raise Refused(400, f"missing {name}")
            if len(value) > MAX_HEADER_VALUE or not value.isascii() or not value.isprintable():
                raise Refused(400, f"malformed {name}")
            values.append(value)
        return values[0], values[1]

    def _answer(
        self, delivery: "_Delivery", refusal: Refused | None, code: int = 0, reason: str = ""
    ) -> None:
        detail = ""
        close = not delivery.keep_alive
        if refusal is not None:
            code, reason, detail = refusal.code, refusal.reason, refusal.detail
            close = close or refusal.close
        self._done(wire.response(code, reason.encode() + b"\n", close=close), close)
        # Counted and logged even when the client is gone before the reply: a 202 is
        # then in the queue although GitHub will show a failed delivery.
        self.receiver.metrics.delivery(delivery.label, code)
        log.log(
            logging.WARNING if code >= 500 else logging.INFO,
            "delivery %s event %s: %d %s%s (%.1f ms)",
            printable(delivery.id),
            printable(delivery.label),
            code,
            reason,
            f" ({detail})" if detail else "",
            (time.monotonic() - delivery.started) * 1000,
        )


@dataclass(slots=True)
class _Delivery:
    """One POST being answered."""

    keep_alive: bool
    body: bytes
    started: float
    event: str = ""
    id: str = "-"
    # The event as counted in the metrics: UNVERIFIED until the signature is checked.
    label: str = UNVERIFIED


def _verify(secrets: list[bytes], body: bytes, signature: str | None) -> None:
    try:
        verify(secrets, body, signature)
    except SignatureError as error:
        raise Refused(401, str(error)) from None


def _check(secrets: list[bytes], body: bytes, signature: str | None) -> None:
    """The signature (401), then the JSON (400), on a worker thread (big bodies)."""
    _verify(secrets, body, signature)
    check_json(body)
