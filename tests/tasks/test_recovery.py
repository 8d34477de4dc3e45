"""Which failed deliveries `ouro bot redeliver` redelivers."""

from datetime import UTC, datetime, timedelta

import pytest

from tasks.forge import HookDelivery
from tasks.recovery import parse_since, to_redeliver

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)


def attempt(id_: int, guid: str, minutes_ago: int, code: int) -> HookDelivery:
    return HookDelivery(id_, 7, guid, NOW - timedelta(minutes=minutes_ago), code, "push", id_ > 100)


def test_only_never_successful_deliveries_since_the_time() -> None:
    deliveries = [
        attempt(1, "ok", 10, 202),
        attempt(2, "failed", 20, 503),
        attempt(3, "retried-ok", 30, 0),
        attempt(103, "retried-ok", 5, 202),
        attempt(4, "failed-twice", 50, 502),
        attempt(104, "failed-twice", 40, 502),
        attempt(5, "too-old", 200, 500),
    ]
    chosen = to_redeliver(deliveries, NOW - timedelta(hours=2))
    assert [(d.guid, d.id) for d in chosen] == [("failed-twice", 104), ("failed", 2)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", NOW - timedelta(hours=2)),
        ("30m", NOW - timedelta(minutes=30)),
        ("3d", NOW - timedelta(days=3)),
        ("2024-05-01T10:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00+02:00", datetime(2024, 5, 1, 8, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


def test_parse_since_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_since("yesterday", NOW)
