"""The HTTP side of the receiver (docs/webhook.md: its codes and the message it publishes).

It only checks, wraps and publishes: no git or API work, because GitHub gives up
after 10 s and never retries by itself. Each connection gets a daemon thread, so a
slow client holds only its own thread, and socket timeouts plus a deadline for the
body bound how long it can hold that.
"""

import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any, NoReturn

from ouro.amqp import BrokerUnavailable
from ouro.secretfile import SecretFile
from webhook.broker import Broker
from webhook.metrics import Metrics
from webhook.signature import SignatureError, verify

log = logging.getLogger(__name__)

# GitHub caps payloads at 25 MB; a larger body is not a GitHub delivery.
MAX_BODY = 25 * 1024 * 1024
# Per socket operation: an idle keep-alive connection or a stalled client frees its thread.
SOCKET_TIMEOUT = 10.0
# For the whole body: a client trickling bytes cannot hold a thread forever.
BODY_DEADLINE = 30.0
# The label for requests whose event name is not yet vouched for by a signature, so
# unsigned requests cannot create metric series at will.
UNVERIFIED = "-"
# AMQP's message_id is a short string (255 bytes at most).
MAX_HEADER_VALUE = 200


class Refused(Exception):
    def __init__(self, code: int, reason: str, *, close: bool = False, detail: str = ""):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        # For the log only: the client learns the reason, not our broker's address.
        self.detail = detail
        # The body was not read (entirely): the connection cannot carry another request.
        self.close = close


def printable(value: str, limit: int = 80) -> str:
    """A header value safe to put in a log line."""
    return "".join(c if c.isprintable() else "?" for c in value[:limit])


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def queue_message(event: str, delivery: str, body: bytes) -> bytes:
    """The `webhook` queue message. The payload is spliced in byte for byte (it was just
    parsed, so it is valid JSON): the bot sees exactly what GitHub signed."""
    head = json.dumps({"event": event, "delivery": delivery})[:-1]
    return head.encode() + b', "request": ' + body + b"}"


class Receiver:
    """The webhook HTTP server; `serve_forever` in a thread or the main loop, then `shutdown`."""

    def __init__(
        self,
        secrets: SecretFile,
        broker: Broker,
        host: str = "127.0.0.1",
        port: int = 0,
        body_deadline: float = BODY_DEADLINE,
    ):
        self.secrets = secrets
        self.broker = broker
        self.body_deadline = body_deadline
        self.metrics = Metrics()
        self._inflight = 0
        self._idle = threading.Condition()
        self.httpd = _Server((host, port), _Handler, self)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self, grace: float = 10.0) -> None:
        """Stop accepting, let deliveries in progress finish (up to `grace` s), close."""
        self.httpd.shutdown()
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=grace)
        self.httpd.server_close()
        self.broker.close()

    def _begin(self) -> None:
        with self._idle:
            self._inflight += 1

    def _end(self) -> None:
        with self._idle:
            self._inflight -= 1
            if not self._inflight:
                self._idle.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 refuses connections when many deliveries arrive at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type["_Handler"], receiver: Receiver):
        self.receiver = receiver
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away or stalled is routine; anything else is a bug worth a trace.
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("connection from %s ended: %s", client_address[0], sys.exc_info()[1])
        else:
            log.exception("request from %s failed", client_address[0])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ouro-webhook"
    sys_version = ""
    timeout = SOCKET_TIMEOUT
    # Headers and body go out in two writes; with Nagle the second waits for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server
    connection: socket

    @property
    def receiver(self) -> Receiver:
        return self.server.receiver

    def log_message(self, format: str, *args: Any) -> None:
        # http.server logs every request to stderr; the receiver logs one line per delivery.
        log.debug("%s: " + format, self.client_address[0], *args)

    def _reply(
        self,
        code: int,
        text: str,
        *,
        close: bool = False,
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            if self.receiver.broker.up():
                self._reply(200, "ok\n")
            else:
                self._reply(503, "broker unreachable\n")
        elif self.path == "/metrics":
            text = self.receiver.metrics.render(self.receiver.broker.last_known_up())
            self._reply(200, text, content_type="text/plain; version=0.0.4; charset=utf-8")
        else:
            self._reply(404, "not found\n")

    def __getattr__(self, name: str) -> Any:
        # http.server dispatches to do_<METHOD> and answers 501 when it is missing;
        # the contract says 405 for every method but POST and GET.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self._reply(405, "method not allowed\n", close=True, headers={"Allow": "GET, POST"})

    def do_POST(self) -> None:
        receiver = self.receiver
        receiver._begin()
        try:
            self._deliver()
        finally:
            receiver._end()

    def _deliver(self) -> None:
        started = time.monotonic()
        delivery = printable(self.headers.get("X-GitHub-Delivery") or "-")
        label = UNVERIFIED
        detail = ""
        try:
            event, delivery, body = self._read_delivery()
            try:
                verify(self.receiver.secrets.secrets(), body, self.headers["X-Hub-Signature-256"])
            except SignatureError as error:
                raise Refused(401, str(error)) from None
            label = event
            self._check_json(body)
            if event == "ping":
                code, reason = 200, "pong"
            else:
                code, reason = self._publish(event, delivery, body)
        except Refused as refusal:
            code, reason, detail = refusal.code, refusal.reason, refusal.detail
            self.close_connection = self.close_connection or refusal.close
        try:
            self._reply(code, reason + "\n", close=self.close_connection)
        finally:
            # Counted and logged even when the client is gone before the reply: a 202 is
            # then in the queue although GitHub will show a failed delivery.
            self.receiver.metrics.delivery(label, code)
            log.log(
                logging.WARNING if code >= 500 else logging.INFO,
                "delivery %s event %s: %d %s%s (%.1f ms)",
                delivery,
                printable(label),
                code,
                reason,
                f" ({detail})" if detail else "",
                (time.monotonic() - started) * 1000,
            )

    def _read_delivery(self) -> tuple[str, str, bytes]:
        if self.path != "/":
            raise Refused(404, "not found", close=True)
        event = self.headers.get("X-GitHub-Event", "")
        delivery = self.headers.get("X-GitHub-Delivery", "")
        for name, value in (("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery)):
            if not value:
                raise Refused(400, f"missing {name}", close=True)
            if len(value) > MAX_HEADER_VALUE or not value.isascii() or not value.isprintable():
                raise Refused(400, f"malformed {name}", close=True)
        if "Transfer-Encoding" in self.headers:
            # GitHub always sends Content-Length; refusing chunked bodies keeps the size
            # check ahead of the read.
            raise Refused(411, "Content-Length required, not Transfer-Encoding", close=True)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise Refused(411, "Content-Length required", close=True)
        if not length_header.isdigit():
            raise Refused(400, "malformed Content-Length", close=True)
        length = int(length_header)
        if length > MAX_BODY:
            raise Refused(413, f"payload over {MAX_BODY} bytes", close=True)
        return event, delivery, self._read_body(length)

    def _read_body(self, length: int) -> bytes:
        body = bytearray()
        deadline = time.monotonic() + self.receiver.body_deadline
        try:
            while len(body) < length:
                if time.monotonic() > deadline:
                    raise Refused(408, "body not received in time", close=True)
                chunk = self.rfile.read1(min(length - len(body), 1 << 16))
                if not chunk:
                    raise Refused(400, "body shorter than Content-Length", close=True)
                body += chunk
        except TimeoutError:
            raise Refused(408, "body not received in time", close=True) from None
        return bytes(body)

    @staticmethod
    def _check_json(body: bytes) -> None:
        try:
            payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
            raise Refused(400, "body is not UTF-8 JSON") from None
        if not isinstance(payload, dict):
            raise Refused(400, "body is not a JSON object")

    def _publish(self, event: str, delivery: str, body: bytes) -> tuple[int, str]:
        try:
            seconds = self.receiver.broker.publish(queue_message(event, delivery, body), delivery)
        except BrokerUnavailable as error:
            raise Refused(503, "broker unavailable", detail=str(error)) from None
        self.receiver.metrics.publish_latency(seconds)
        return 202, "accepted"
