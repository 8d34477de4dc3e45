"""Webhook deliveries: signed POSTs to each hook's URL, recorded as GitHub records them.

Deliveries are synchronous: the control call that caused an event returns after
its webhooks were answered (or failed), which makes tests deterministic without
polling. Like GitHub, the mock never retries on its own; a failed delivery is
listed by the hook deliveries API and redelivered on request, keeping its GUID.
"""

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from mock_github.records import Hook, now
from webhook.signature import sign

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # GitHub gives up after 10 s.
USER_AGENT = "GitHub-Hookshot/mock"


@dataclass
class Delivery:
    id: int
    guid: str
    hook_id: int
    event: str
    action: str | None
    repository_id: int | None
    request_headers: dict[str, str]
    payload: dict[str, Any]
    delivered_at: str = ""
    redelivery: bool = False
    duration: float = 0.0
    status: str = ""
    status_code: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": self.delivered_at,
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": None,
            "repository_id": self.repository_id,
        }

    def detail(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "url": "",
            "request": {"headers": self.request_headers, "payload": self.payload},
            "response": {"headers": self.response_headers, "payload": self.response_body},
        }


def prepare(
    hook: Hook,
    delivery_id: int,
    event: str,
    payload: dict[str, Any],
    *,
    guid: str | None = None,
    redelivery: bool = False,
) -> tuple[Delivery, bytes]:
    """The delivery record and the exact body to send (what the signature covers)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": guid or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(hook.id),
    }
    if hook.secret:
        # GitHub still sends the legacy SHA-1 signature beside the SHA-256 one.
        sha1 = hmac.new(hook.secret.encode(), body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature"] = f"sha1={sha1}"
        headers["X-Hub-Signature-256"] = sign(hook.secret.encode(), body)
    repository = payload.get("repository")
    delivery = Delivery(
        id=delivery_id,
        guid=headers["X-GitHub-Delivery"],
        hook_id=hook.id,
        event=event,
        action=payload.get("action"),
        repository_id=repository.get("id") if isinstance(repository, dict) else None,
        request_headers=headers,
        payload=payload,
        redelivery=redelivery,
    )
    return delivery, body


def send(hook_url: str, delivery: Delivery, body: bytes, session: requests.Session) -> None:
    """POST the delivery and record the outcome on it; never raises for network trouble."""
    delivery.delivered_at = now()
    started = time.monotonic()
    try:
        response = session.post(
            hook_url, data=body, headers=delivery.request_headers, timeout=TIMEOUT
        )
    except requests.RequestException as error:
        delivery.status = f"failed to connect: {type(error).__name__}"
        delivery.status_code = 0
    else:
        delivery.status_code = response.status_code
        delivery.status = "OK" if delivery.ok else f"Invalid HTTP Response: {response.status_code}"
        delivery.response_headers = dict(response.headers)
        delivery.response_body = response.text[:10000]
        response.close()
    delivery.duration = time.monotonic() - started
    log.info(
        "delivery %s %s%s to hook %s: %s",
        delivery.guid,
        delivery.event,
        f".{delivery.action}" if delivery.action else "",
        delivery.hook_id,
        delivery.status,
    )
