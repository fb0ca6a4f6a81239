"""Our materialize vs `feast materialize`: same online answers, idempotent."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from featurestore.services.online.materialize import materialize
from tests.integration.serving._repo import NOW, make_repo, sqlite_online

pytestmark = pytest.mark.integration

START, END = NOW - timedelta(days=30), NOW + timedelta(minutes=1)
REFS = ["customer_stats:spend", "customer_stats:count", "customer_stats:tier",
        "merchant_risk:fraud_rate"]  # fmt: skip
ROWS = [{"customer_id": c, "merchant_id": m}
        for c, m in [(3, "M1"), (21, "M9"), (999, "nope"), (7, "M3")]]  # fmt: skip


def _online_rows(path):
    with sqlite3.connect(path) as conn:
        # The feature views' tables, not materialize's record of Delta versions.
        query = (
            "SELECT name FROM sqlite_master WHERE type='table' "
            "AND name NOT LIKE '\\_featurestore%' ESCAPE '\\' ORDER BY name"
        )
        tables = [r[0] for r in conn.execute(query)]
        return {
            t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables
        }


def test_same_online_answers_as_feast_materialize_and_idempotent(tmp_path):
    ours = make_repo(tmp_path / "ours", sqlite_online(tmp_path / "ours"))
    feasts = make_repo(tmp_path / "feast", sqlite_online(tmp_path / "feast"))

    counts = materialize(ours.repo_path, START, END)
    feasts.materialize(START, END)

    assert counts == {"customer_stats": 25, "merchant_risk": 4}
    got = ours.get_online_features(REFS, ROWS).to_dict()
    assert got == feasts.get_online_features(REFS, ROWS).to_dict()
    assert got["spend"][:2] == [30.5, 210.5]
    # Byte-identical online tables (entity keys, ValueProtos, timestamps).
    assert _online_rows(tmp_path / "ours" / "online.db") == _online_rows(
        tmp_path / "feast" / "online.db"
    )

    before = _online_rows(tmp_path / "ours" / "online.db")
    materialize(ours.repo_path, START, END)
    assert _online_rows(tmp_path / "ours" / "online.db") == before


def test_records_materialization_intervals_like_feast(tmp_path):
    store = make_repo(tmp_path, sqlite_online(tmp_path))

    materialize(store.repo_path, START, END, views=["merchant_risk"])

    store.refresh_registry()
    view = store.get_feature_view("merchant_risk")
    assert [(s, e) for s, e in view.materialization_intervals] == [(START, END)]
    assert view.most_recent_end_time == END
    assert not store.get_feature_view("customer_stats").materialization_intervals


def test_unknown_view_is_a_key_error(tmp_path):
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    with pytest.raises(KeyError):
        materialize(store.repo_path, START, END, views=["nope"])
