"""Recovery from lost deliveries (docs/tasks-bot.md, "Recovery"): GitHub never retries a failed
delivery by itself, so `ouro bot redeliver` asks for the failed ones and redelivers them.
"""

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from tasks.forge import HookDelivery

_RELATIVE = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`2h`, `30m`, `3d` ago, or an ISO 8601 time (UTC unless it names a zone)."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"not a time: {text!r:.40} (use e.g. 2h, 3d or 2024-05-02T10:00)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def to_redeliver(deliveries: Iterable[HookDelivery], since: datetime) -> list[HookDelivery]:
    """The latest attempt of each delivery (guid) since `since` that never succeeded.

    A guid with any 2xx attempt (the original or a redelivery) is done; otherwise its
    newest attempt is redelivered once, so repeated runs do not multiply attempts of
    deliveries that keep failing faster than they are retried.
    """
    latest: dict[str, HookDelivery] = {}
    succeeded: set[str] = set()
    for d in deliveries:
        if 200 <= d.status_code < 300:
            succeeded.add(d.guid)
        if d.guid not in latest or d.delivered_at > latest[d.guid].delivered_at:
            latest[d.guid] = d
    return sorted(
        (d for guid, d in latest.items() if guid not in succeeded and d.delivered_at >= since),
        key=lambda d: d.delivered_at,
    )
