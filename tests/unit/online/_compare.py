"""Compare our reader's results with Feast's own ``online_read``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from feast import FeatureView
from feast.repo_config import RepoConfig

from featurestore.services.online import FeatureStatus, ViewRequest, ViewResult
from tests.unit.online import _world as w


def assert_same_as_feast(
    result: ViewResult,
    store: Any,
    config: RepoConfig,
    view: FeatureView,
    key_rows: Sequence[Sequence[Any]],
    features: Sequence[str],
    now: datetime,
) -> None:
    """Values, timestamps and statuses of ``result`` equal Feast's online_read."""
    keys = [w.entity_key(view, k) for k in key_rows]
    expected = w.feast_read_normalised(store, config, view, keys, features)
    assert len(result.values) == len(expected)
    ttl = view.ttl if view.ttl else None
    for i, (ts, vals) in enumerate(expected):
        assert result.values[i] == vals, (i, key_rows[i])
        # Feast's SQLite read fetches every stored feature of the key and
        # gives their time even when none of the requested ones is stored;
        # ours reports such a row as not stored at all.
        if ts is None or all(v is None for v in vals):
            assert result.event_times[i] is None
            assert result.statuses[i] == [FeatureStatus.NOT_FOUND] * len(features)
            continue
        got_ts = result.event_times[i]
        assert got_ts is not None
        # Feast's Redis reader goes through float seconds; allow that rounding.
        assert abs(got_ts - ts) <= timedelta(microseconds=1)
        stale = ttl is not None and got_ts < now - ttl
        want = FeatureStatus.OUTSIDE_MAX_AGE if stale else FeatureStatus.PRESENT
        assert result.statuses[i] == [
            FeatureStatus.NOT_FOUND if v is None else want for v in vals
        ]


def request_for(
    view: FeatureView, features: Sequence[str] | None = None
) -> ViewRequest:
    """Our request for a Feast view."""
    return ViewRequest.from_feature_view(view, tuple(features) if features else None)
