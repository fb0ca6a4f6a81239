"""The words a freshness verdict is given in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from featurestore.services.contracts.sla import FreshnessSla
from featurestore.services.monitoring.freshness import _judge, span

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "said"),
    [
        (timedelta(minutes=1), "1m"),  # it said "1m0s"
        (timedelta(minutes=1, seconds=5), "1m5s"),
        (timedelta(seconds=42), "42s"),
        (timedelta(hours=3, minutes=12), "3h12m"),
        (timedelta(days=9, hours=4), "9d4h"),
        (-timedelta(minutes=4), "-4m"),
    ],
)
def test_spans_are_short(delta: timedelta, said: str) -> None:
    assert span(delta) == said


def test_an_event_slightly_ahead_of_now_is_not_called_negative_minutes_old() -> None:
    # Within the clock-skew tolerance the verdict is ok; it read "newest event
    # -4m0s old <= max age 1m0s".
    sla = FreshnessSla(max_age=timedelta(minutes=1), event_time="event_timestamp")
    verdict, reason = _judge(NOW, NOW + timedelta(minutes=4), NOW, sla)
    assert verdict == "ok"
    assert reason == (
        "newest event 4m ahead of now (clock skew up to 5m is allowed) <= max age 1m"
    )
