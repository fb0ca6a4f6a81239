"""The audit log: every record lands once, batched, rotated, flushed on close."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from featurestore.services.auth import AuditLog


def test_records_from_many_threads_all_land_once(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", interval=0.01)

    def write(worker: int) -> None:
        for n in range(500):
            log.record(principal=f"p{worker}", n=n, resources=["FeatureView:x"])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert sorted((r["principal"], r["n"]) for r in lines) == sorted(
        (f"p{w}", n) for w in range(4) for n in range(500)
    )
    assert all(r["time"].endswith("Z") and len(r["time"]) == 24 for r in lines)


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", interval=3600)  # never on its own
    log.record(principal="alice", code="OK")
    log.close()
    (line,) = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert json.loads(line)["principal"] == "alice"


def test_the_file_rotates_between_batches(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("featurestore.services.auth.audit._MAX_BYTES", 2_000)
    log = AuditLog(tmp_path / "audit.jsonl", interval=3600)
    for batch in range(5):
        for n in range(10):
            log.record(batch=batch, n=n, padding="x" * 50)
        log._flush()
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files[0] == "audit.jsonl" and "audit.jsonl.1" in files
    total = sum(len(p.read_text().splitlines()) for p in tmp_path.iterdir())
    assert total == 50
