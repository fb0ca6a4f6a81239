"""The audit log: every record lands once, batched, rotated, flushed on close."""

from __future__ import annotations

import calendar
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from featurestore.services.auth import AuditLog, AuthConfigError
from featurestore.services.auth.audit import _LineFormat
from tests.full_disk import full_tmpfs


def test_records_from_many_threads_all_land_once(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", interval=0.01)

    started = time.perf_counter()

    def write(worker: int) -> None:
        for n in range(500):
            log.record(f"r{n}", f"p{worker}", "/m", ["View:x"], "allow", "OK", started)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert sorted((r["principal"], r["request_id"]) for r in lines) == sorted(
        (f"p{w}", f"r{n}") for w in range(4) for n in range(500)
    )
    assert all(r["time"].endswith("Z") and len(r["time"]) == 24 for r in lines)
    assert all(r["duration_ms"] >= 0 for r in lines)


def test_time_and_duration_come_from_the_clock_readings(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", interval=3600)
    before = time.time()
    started = time.perf_counter()
    time.sleep(0.05)
    log.record("r1", "alice", "/m", [], "allow", "OK", started)
    elapsed_ms = (time.perf_counter() - started) * 1000
    after = time.time()
    log.close()
    (line,) = (tmp_path / "audit.jsonl").read_text().splitlines()
    record = json.loads(line)
    # The call ended between the two wall-clock readings (ms resolution).
    stamp = record["time"]
    when = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    when += int(stamp[20:23]) / 1000
    assert before - 0.002 <= when <= after + 0.002
    assert 50 <= record["duration_ms"] <= elapsed_ms + 0.001


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", interval=3600)  # never on its own
    log.record("r1", "alice", "/m", [], "allow", "OK", time.perf_counter())
    log.close()
    (line,) = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert json.loads(line)["principal"] == "alice"


def test_the_file_rotates_between_batches(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", interval=3600, max_bytes=2_000)
    started = time.perf_counter()
    for batch in range(5):
        for n in range(10):
            log.record(f"{batch}-{n}", "x" * 50, "/m", [], "allow", "OK", started)
        log._flush()
    log.close()
    files = sorted(p.name for p in _log_files(tmp_path))
    assert files[0] == "audit.jsonl" and "audit.jsonl.1" in files
    total = sum(len(p.read_text().splitlines()) for p in _log_files(tmp_path))
    assert total == 50
    # Every file, the first and the rotated ones, is its owner's only (the
    # umask made them 0644: who read what, for every local user).
    modes = {p.name: p.stat().st_mode & 0o777 for p in _log_files(tmp_path)}
    assert set(modes.values()) == {0o600}, modes


_WRITER = """
import sys, time
from pathlib import Path
from featurestore.services.auth import AuditLog

path, name, batches = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
log = AuditLog(path, interval=3600, max_bytes=4_000, backups=10_000)
started = time.perf_counter()
for batch in range(batches):
    for n in range(10):
        log.record(f"{name}-{batch}-{n}", name, "/m", ["FeatureView:v"], "allow",
                   "OK", started)
    log._flush()
log.close()
"""


def test_worker_processes_share_one_file_and_its_rotation(tmp_path: Path) -> None:
    # A server's workers all audit to one path: three processes appending and
    # rotating at once lose no record, write none twice, tear no line, and
    # every file stays under the size limit.
    path, batches = tmp_path / "audit.jsonl", 150
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), f"p{i}", str(batches)],
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0 and not err, err.decode()
    files = list(_log_files(tmp_path))
    ids = Counter(
        json.loads(line)["request_id"]
        for f in files
        for line in f.read_text().splitlines()
    )
    expected = {
        f"p{i}-{b}-{n}" for i in range(3) for b in range(batches) for n in range(10)
    }
    assert set(ids) == expected and set(ids.values()) == {1}
    assert len(files) > 10  # it did rotate, many times
    assert all(f.stat().st_size < 4_000 for f in files)


def _log_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if not p.name.endswith(".lock")]


_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    when=st.floats(0, 4_102_444_800, allow_nan=False),
    request_id=_TEXT,
    principal=_TEXT,
    method=_TEXT,
    resources=st.lists(_TEXT, max_size=3),
    decision=st.sampled_from(["allow", "deny", "unauthenticated"]),
    code=_TEXT,
    elapsed=st.floats(0, 1e4, allow_nan=False),
)
def test_each_line_is_what_json_dumps_writes(
    when, request_id, principal, method, resources, decision, code, elapsed
) -> None:
    # The oracle: the dict json.dumps wrote per record before lines were
    # assembled from cached pieces; the duration is end - start in ms, to the us.
    ended, started = when, when - elapsed
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
    expected = json.dumps(
        {
            "time": f"{stamp}.{int(when * 1000) % 1000:03d}Z",
            "request_id": request_id,
            "principal": principal,
            "method": method,
            "resources": resources,
            "decision": decision,
            "code": code,
            "duration_ms": round((ended - started) * 1000, 3),
        },
        separators=(",", ":"),
    )
    entry = (ended, request_id, principal, method, resources, decision, code, started)
    lines = _LineFormat()
    # Twice: the second line comes from the cached stamp and fragment.
    assert lines.lines([entry, entry], 0.0) == [expected, expected]
    assert lines.lines([entry], 0.0) == [expected]


def test_a_full_disk_holds_the_records_and_writes_them_once_there_is_room(
    tmp_path: Path, capsys, caplog
) -> None:
    # On a full disk the logging handler swallowed every failed write (the
    # records went to stderr in a "--- Logging error ---" block), nothing
    # said the audit was failing, and close raised OSError.
    with (
        full_tmpfs(tmp_path / "disk") as disk,
        closing(AuditLog(disk / "audit.jsonl", interval=3600, retry_seconds=0)) as log,
    ):
        path = disk / "audit.jsonl"
        failures = _sample("featurestore_audit_write_failures_total")
        for n in range(3):
            log.record(f"r{n}", "alice", "/m", ["FeatureView:v"], "allow", "OK", 0.0)
            log._flush()
        assert log.failing and log.refusing
        assert path.stat().st_size == 0
        assert _sample("featurestore_audit_write_failures_total") == failures + 3
        warnings = [r for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1, warnings  # one per episode
        assert str(path) in warnings[0].getMessage()
        assert "errno 28" in warnings[0].getMessage()
        assert (
            '"r0"' not in caplog.text and "Logging error" not in capsys.readouterr().err
        )

        (disk / "filler").unlink()
        log.record("r3", "alice", "/m", [], "allow", "OK", 0.0)
        log._flush()
        assert not log.failing
        assert log.close() == 0
        ids = [json.loads(x)["request_id"] for x in path.read_text().splitlines()]
        assert ids == ["r0", "r1", "r2", "r3"]


def test_records_still_unwritten_at_close_are_counted(tmp_path: Path) -> None:
    with (
        full_tmpfs(tmp_path / "disk") as disk,
        # closed before the unmount, also when an assertion fails
        closing(AuditLog(disk / "audit.jsonl", interval=3600, max_unwritten=2)) as log,
    ):
        lost = _sample("featurestore_audit_records_lost_total")
        for n in range(3):
            log.record(f"r{n}", "alice", "/m", [], "allow", "OK", 0.0)
        log._flush()
        # One over the bound dropped at once, two unwritten at close.
        assert log.close() == 3
        assert _sample("featurestore_audit_records_lost_total") == lost + 3


def test_refusals_never_push_out_the_held_records_of_served_calls(
    tmp_path: Path,
) -> None:
    # Every refused call was held with the others, oldest dropped first: the
    # unauthenticated calls refused after the disk filled pushed out the
    # records of the calls served before, which refusing exists to protect.
    with (
        full_tmpfs(tmp_path / "disk") as disk,
        closing(
            AuditLog(
                disk / "audit.jsonl", interval=3600, max_unwritten=5, retry_seconds=0
            )
        ) as log,
    ):
        for n in range(3):
            log.record(f"served-{n}", "alice", "/m", [], "allow", "OK", 0.0)
        log._flush()
        assert log.refusing
        for n in range(20):
            log.record(
                f"refused-{n}", "anonymous", "/m", [], "refused", "UNAVAILABLE", 0.0
            )
            log._flush()
        for n in range(3, 6):  # served records may push out refusals
            log.record(f"served-{n}", "alice", "/m", [], "allow", "OK", 0.0)
        log._flush()

        (disk / "filler").unlink()
        log._flush()
        # 18 refusals beyond the bound, the 2 held pushed out by served
        # records, then the oldest served record once only served ones are held.
        assert log.close() == 21
        ids = [
            json.loads(x)["request_id"]
            for x in (disk / "audit.jsonl").read_text().splitlines()
        ]
        assert ids == ["served-1", "served-2", "served-3", "served-4", "served-5"]


def test_the_first_refusals_stay_held_while_there_is_room(tmp_path: Path) -> None:
    with (
        full_tmpfs(tmp_path / "disk") as disk,
        closing(
            AuditLog(
                disk / "audit.jsonl", interval=3600, max_unwritten=4, retry_seconds=0
            )
        ) as log,
    ):
        log.record("served-0", "alice", "/m", [], "allow", "OK", 0.0)
        for n in range(10):
            log.record(
                f"refused-{n}", "anonymous", "/m", [], "refused", "UNAVAILABLE", 0.0
            )
        log.record("served-1", "alice", "/m", [], "allow", "OK", 0.0)
        log._flush()
        (disk / "filler").unlink()
        log._flush()
        assert log.close() == 8
        ids = [
            json.loads(x)["request_id"]
            for x in (disk / "audit.jsonl").read_text().splitlines()
        ]
        # In call order: the served ones and the first refusals that fit.
        assert ids == ["served-0", "refused-0", "refused-1", "served-1"]


def test_a_record_after_close_is_counted_as_lost(tmp_path: Path, caplog) -> None:
    # A call still running when the server stopped (a long unary call, a
    # stream's exit path) recorded after the last batch: its record sat in
    # the queue, neither written nor counted.
    log = AuditLog(tmp_path / "audit.jsonl", interval=3600)
    log.record("before", "alice", "/m", [], "allow", "OK", 0.0)
    assert log.close() == 0
    lost = _sample("featurestore_audit_records_lost_total")
    log.record("after", "alice", "/m", [], "allow", "OK", 0.0)
    assert _sample("featurestore_audit_records_lost_total") == lost + 1
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "1 records of calls that ended after the server stopped" in (
        warning.getMessage()
    )
    ids = [
        json.loads(x)["request_id"]
        for x in (tmp_path / "audit.jsonl").read_text().splitlines()
    ]
    assert ids == ["before"]


def test_a_folder_it_cannot_write_is_one_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "file-not-folder"
    folder.write_text("")
    with pytest.raises(AuthConfigError, match="--audit-log") as raised:
        AuditLog(folder / "audit.jsonl")
    assert "cannot be written" in str(raised.value)


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0
