"""The console over HTTP: pages, honest errors, CSRF, sign-in, permissions, audit."""

from __future__ import annotations

import html
import json
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import grpc
import pytest
from deltalake import DeltaTable
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.certs import issue_server_cert, make_ca
from tests.integration.ui._console import FEATURESTORE, Browserless, start_console
from tests.integration.ui._project import ConsoleProject
from tests.redis_harness import free_port

# The first test builds the shared project (real Spark jobs, feast apply): about
# 90 s alone, several minutes on a crowded machine, hence the longer timeout.
pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]

PAGES = [
    "/",
    "/views/customer_spend",
    "/contracts",
    "/contracts/customer_spend",
    "/contracts/customer_spend/diff",
    "/tables/customer_spend",
    "/tables/customer_spend/quality",
    "/tables/merchant_risk/quality",
    "/drift",
    "/drift/customer_spend",
    "/lookup",
    "/training-sets",
]


def _quarantine_rows(project) -> list[dict]:
    path = project.data / "features" / "customer_spend_quarantine"
    return DeltaTable(str(path)).to_pyarrow_table().to_pylist()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_with_the_security_headers(open_console, path):
    answer = Browserless(open_console).request(path)
    assert answer.status == 200, answer.body
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert "Traceback" not in answer.body
    assert "cdn" not in answer.body.lower()


@pytest.mark.parametrize("path", [*PAGES, "/login", "/static/console.css"])
def test_head_answers_as_get_without_a_body(open_console, path):
    client = Browserless(open_console)
    got, head = client.request(path), client.request(path, method="HEAD")
    assert (head.status, head.body) == (got.status, "")
    for header in ("Content-Type", "Content-Security-Policy"):
        assert head.headers[header] == got.headers[header]


def test_head_on_a_form_only_path_is_not_allowed(open_console):
    answer = Browserless(open_console).request("/logout", method="HEAD")
    assert answer.status == 405
    assert answer.headers["Allow"] == "POST"


def test_contract_page_shows_the_batch_minimum(open_console):
    # The fixture's 1.1.0 sets min_rows: 1; 1.0.0 has none.
    client = Browserless(open_console)
    rows = r"<dt>Rows per batch, at least</dt><dd>([^<]*)</dd>"
    found = {
        version: re.search(
            rows, client.request(f"/contracts/customer_spend?version={version}").body
        )
        for version in ("1.0.0", "1.1.0")
    }
    assert {v: m.group(1) if m else None for v, m in found.items()} == {
        "1.0.0": "no minimum",
        "1.1.0": "1",
    }


def test_history_shows_every_delta_version_with_its_stamp(
    open_console, console_project
):
    body = Browserless(open_console).request("/tables/customer_spend").body
    path = str(console_project.data / "features" / "customer_spend")
    for commit in DeltaTable(path).history():
        meta = json.loads(commit["userMetadata"])
        row = re.search(rf'<tr id="v{commit["version"]}">(.*?)</tr>', body, re.S)
        assert row, commit["version"]
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
        text = [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
        assert text[3] == meta["mode"]
        assert text[4] == meta["job"] and text[5] == meta["run_id"]
        assert text[6] == meta["contract"]
        summary = meta["validation"]
        assert text[7:10] == [
            str(summary["rows_in"]),
            str(summary["published"]),
            str(summary["quarantined"]),
        ]
    assert "<svg" in body and "fraud_model_v1" in body  # the lineage graph


def test_quarantine_filter_and_csv_match_the_table(open_console, console_project):
    rows = _quarantine_rows(console_project)
    labels = Counter(
        f"{r['column']}:{r['check']}" for row in rows for r in row["reasons"]
    )
    assert labels, "the demo data quarantines rows"
    client = Browserless(open_console)
    for reason, expected in labels.items():
        for run in ("run-1", "run-2"):
            want = sum(
                1
                for row in rows
                if row["run_id"] == run
                and reason in {f"{r['column']}:{r['check']}" for r in row["reasons"]}
            )
            query = urllib.parse.urlencode({"run": run, "reason": reason})
            page = client.request(f"/tables/customer_spend/quality?{query}").body
            assert f'data-total="{want}"' in page, (reason, run)
            csv = client.request(f"/tables/customer_spend/quarantine.csv?{query}")
            assert csv.status == 200
            lines = csv.body.strip().splitlines()
            assert len(lines) == want + 1
            assert all(reason in line for line in lines[1:])
        page = client.request(
            "/tables/customer_spend/quality?"
            + urllib.parse.urlencode({"reason": reason})
        ).body
        assert f'data-total="{expected}"' in page


def test_drift_and_freshness_show_what_monitoring_reports(
    open_console, console_project
):
    from featurestore.services.monitoring import read_drift
    from featurestore.services.project import Project

    project = Project.load(console_project.repo, env=console_project.env())
    scores = [
        s for s in read_drift(project, "customer_spend") if s.against == "baseline"
    ]
    newest = max(s.version for s in scores)
    client = Browserless(open_console)
    page = client.request("/drift/customer_spend").body
    features = {s.feature for s in scores}
    shown = re.findall(r'class="card feature-drift" id="drift-([^"]+)"', page)
    assert set(shown) == features
    for score in (s for s in scores if s.version == newest):
        card = page.split(f'id="drift-{score.feature}"', 1)[1].split('class="card', 1)[
            0
        ]
        assert f'badge {score.verdict}"' in card, score.feature
        assert f"{score.metric} vs baseline: {score.score:.3g}" in card
    other = client.request(f"/drift/customer_spend?version={newest}").body
    assert f'data-version="{newest}"' in other
    assert client.request("/drift/customer_spend?version=x").status == 400
    assert client.request("/drift/nope").status == 404


def test_freshness_reads_the_data_dir_of_the_console(console_project, tmp_path):
    # FS_DATA_DIR (the environment) names the built data; --data-dir an empty
    # folder. Every part of a page reads the flag's: no table, so no publish
    # and no freshness verdict (the badge once judged the environment's data).
    console = start_console(console_project, "--data-dir", str(tmp_path))
    try:
        client = Browserless(console)
        view = client.request("/views/customer_spend").body
        assert "<dt>Last publish</dt><dd>never</dd>" in view
        assert 'class="badge unknown" title="unknown: no Delta table"' in view
        home = client.request("/").body
        rows = re.findall(r"<tr>\s*<td><a href=\"/views/.*?</tr>", home, re.S)
        assert rows
        for row in rows:
            assert "never" in row
            assert 'title="unknown: no Delta table"' in row, row
    finally:
        console.stop()


def _damage_log(table: Path) -> None:
    """A garbage commit file as the table's next version: delta-rs cannot
    read the log any more (a disk or a writer gone wrong)."""
    log = table / "_delta_log"
    newest = max(int(p.stem) for p in log.glob("*.json"))
    (log / f"{newest + 1:020d}.json").write_text("garbage{\n")


def test_a_damaged_table_or_contract_file_breaks_only_its_own_part(
    console_project, tmp_path
):
    # A copy of the project with a damaged log for merchant_risk, for
    # customer_spend's profiles and for its quarantine, merchant_risk's
    # quarantine gone, and a contract file that is not UTF-8.
    repo, data = tmp_path / "feature_repo", tmp_path / "data"
    shutil.copytree(console_project.repo, repo)
    shutil.copytree(console_project.data, data)
    features = data / "features"
    for table in ("merchant_risk", "customer_spend_profile"):
        _damage_log(features / table)
    _damage_log(features / "customer_spend_quarantine")
    shutil.rmtree(features / "merchant_risk_quarantine", ignore_errors=True)
    (repo / "contracts" / "customer_spend" / "1.1.0.yaml").write_bytes(
        b"name: customer_spend\nversion: 1.1.0\nowner: \xff\n"
    )
    (repo / "contracts" / "typo_table").mkdir()  # a contract no view names
    (repo / "contracts" / "typo_table" / "1.0.0.yaml").write_text(
        "name: typo_table\nversion: [1.0.0\n"
    )
    console = start_console(ConsoleProject(repo, data))
    try:
        client = Browserless(console)
        answers = {
            path: client.request(path)
            for path in (
                "/", "/views/merchant_risk", "/views/customer_spend", "/drift",
                "/drift/customer_spend", "/tables/merchant_risk",
                "/tables/customer_spend/quality",
                "/tables/customer_spend/quarantine.csv",
                "/tables/merchant_risk/quarantine.csv",
                "/contracts", "/contracts/customer_spend?version=1.1.0",
            )
        }  # fmt: skip
    finally:
        console.stop()
    status = {path: a.status for path, a in answers.items()}
    assert status == {
        "/": 200, "/views/merchant_risk": 200, "/views/customer_spend": 200,
        "/drift": 200, "/drift/customer_spend": 500, "/tables/merchant_risk": 200,
        "/tables/customer_spend/quality": 200,
        "/tables/customer_spend/quarantine.csv": 500,
        "/tables/merchant_risk/quarantine.csv": 404,
        "/contracts": 200, "/contracts/customer_spend?version=1.1.0": 200,
    }  # fmt: skip
    unreadable = "TABLE_UNREADABLE: a Delta log cannot be read"
    assert unreadable in answers["/views/merchant_risk"].body
    assert unreadable in answers["/drift"].body  # customer_spend's verdict
    assert "cannot be read (TABLE_UNREADABLE)" in answers["/drift/customer_spend"].body
    assert "cannot be read (TABLE_UNREADABLE)" in answers["/tables/merchant_risk"].body
    quality = answers["/tables/customer_spend/quality"].body
    assert "The quarantine table cannot be read (TABLE_UNREADABLE)" in quality
    csv = html.unescape(answers["/tables/customer_spend/quarantine.csv"].body)
    assert "the quarantine table of 'customer_spend' cannot be read" in csv
    gone = html.unescape(answers["/tables/merchant_risk/quarantine.csv"].body)
    assert "nothing quarantined for 'merchant_risk'" in gone
    contract = answers["/contracts/customer_spend?version=1.1.0"].body
    assert "customer_spend/1.1.0.yaml: cannot read: UnicodeDecodeError" in contract
    # The list shows the readable contracts and a notice for the unreadable one.
    listing = answers["/contracts"].body
    for name in ("customer_spend", "merchant_risk"):
        assert f'<a href="/contracts/{name}">{name}</a>' in listing
    assert '<p class="alert">typo_table: typo_table/1.0.0.yaml: invalid YAML' in listing
    for path, answer in answers.items():
        assert str(tmp_path) not in answer.body, path  # no server path in a page
        assert "Something went wrong" not in answer.body, path


def test_a_mistyped_manifest_is_listed_as_unreadable_beside_the_others(
    open_console, console_project, tmp_path
):
    # Manifest.from_json checks no type: created_at a number broke the sort,
    # a null table path the template (500 for the whole page).
    client = Browserless(open_console)
    good = client.request("/training-sets/manifest?name=fraud/train.parquet")
    assert good.status == 200
    root = tmp_path / "sets"
    shutil.copytree(console_project.data / "training_sets", root)
    number = json.loads(good.body) | {"created_at": 12345}
    (root / "number.manifest.json").write_text(json.dumps(number))
    null_path = json.loads(good.body)
    null_path["tables"][0]["path"] = None
    (root / "null_path.manifest.json").write_text(json.dumps(null_path))
    # The CLI also writes OUT.manifest.json beside a set carrying its own.
    (root / "fraud" / "train.parquet.manifest.json").write_text(good.body)
    # Names a set may have (the CLI's --out takes any): a quote and semicolons
    # that would end the download's file name, a line break that would start
    # a header.
    hostile = {
        "quote": "x\"; filename*=UTF-8''evil.html; y=\".manifest.json",
        "crlf": "crlf\r\nSet-Cookie: a=b.manifest.json",
    }
    for name in hostile.values():
        (root / name).write_text(good.body)
    console = start_console(console_project, "--training-set-root", str(root))
    try:
        other = Browserless(console)
        page = other.request("/training-sets")
        assert page.status == 200, page.body
        cards = {
            re.search(r"<code>([^<]+)</code>", card).group(1): card
            for card in page.body.split('class="card training-set"')[1:]
        }
        assert len(cards) == 5 and {
            "fraud/train.parquet",
            "number.manifest.json",
            "null_path.manifest.json",
        } <= set(cards)
        for name in hostile.values():
            download = other.request(
                "/training-sets/manifest?" + urllib.parse.urlencode({"name": name})
            )
            assert download.status == 200 and json.loads(download.body)["tables"]
            assert "Set-Cookie" not in download.headers
            assert download.headers.get_all("Content-Disposition") == [
                'attachment; filename="' + re.sub(r"[^A-Za-z0-9._-]", "_", name)
                + "\"; filename*=UTF-8''" + urllib.parse.quote(name, safe="")
            ]  # fmt: skip
        assert 'href="/views/customer_spend"' in cards["fraud/train.parquet"]
        assert "created_at is an integer, not a string" in cards["number.manifest.json"]
        assert (
            "tables[0].path is null, not a string" in cards["null_path.manifest.json"]
        )
        for name in ("number.manifest.json", "null_path.manifest.json"):
            assert "The manifest cannot be read" in cards[name]
            download = other.request(f"/training-sets/manifest?name={name}")
            assert download.status == 404
    finally:
        console.stop()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tables/customer_spend?page=abc", 400),
        ("/tables/customer_spend?page=0", 400),
        ("/tables/customer_spend/quality?page=-1", 400),
        ("/contracts/customer_spend?version=..%2Fetc", 400),
        ("/contracts/bad%20name", 400),
        ("/views/nope", 404),
        ("/tables/nope", 404),
        ("/tables/..", 404),
        ("/contracts/customer_spend?version=9.9.9", 404),
        ("/contracts/merchant_risk/diff", 400),
        ("/contracts/customer_spend/diff?new=9.9.9", 404),
        ("/contracts/customer_spend/diff?old=9.9.9", 404),
        # The first version as new, no old: nothing before it (it was
        # compared with itself and called VERSION_NOT_INCREASED).
        ("/contracts/customer_spend/diff?new=1.0.0", 400),
        ("/training-sets/manifest?name=../../etc/passwd", 404),
    ],
)
def test_bad_requests_get_a_clear_page_never_a_trace(open_console, path, status):
    answer = Browserless(open_console).request(path)
    assert answer.status == status, answer.body
    assert 'id="error"' in answer.body
    assert "Traceback" not in answer.body and 'File "' not in answer.body


def test_forms_need_the_csrf_token_and_the_same_origin(open_console):
    client = Browserless(open_console)
    form = {"target": "service:fraud_model_v1", "key:customer_id": "1"}
    assert client.request("/lookup", form).status == 403
    assert client.request("/lookup", form | {"csrf": "guess"}).status == 403
    foreign = client.request("/lookup", form, {"Origin": "http://evil.example"})
    assert foreign.status == 403
    page = client.request("/lookup").body  # sets the CSRF cookie, shows its token
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form |= {"csrf": csrf, "key:merchant_id": "M0001"}
    same = client.request("/lookup", form, {"Origin": open_console.url})
    assert same.status == 200 and "PRESENT" in same.body
    assert client.request("/lookup", form, {"Origin": "null"}).status == 403


def test_a_foreign_host_name_is_refused_before_any_page(open_console):
    # DNS rebinding: the attacker's name resolved to 127.0.0.1 reaches the
    # loopback console as same-origin; the Host header is all that tells.
    client = Browserless(open_console)
    port = open_console.url.rsplit(":", 1)[1]
    for path in ("/", "/tables/customer_spend/quarantine.csv", "/lookup"):
        foreign = client.request(path, headers={"Host": f"rebind.example:{port}"})
        assert foreign.status == 400, (path, foreign.status)
        assert "does not answer to the host name" in foreign.body
        assert foreign.headers["Content-Security-Policy"]
    assert client.request("/", headers={"Host": f"localhost:{port}"}).status == 200


def test_a_key_outside_its_integer_type_is_a_bad_request_not_an_outage(open_console):
    # customer_id is INT64: a larger number once reached the entity-key
    # packing and came back 503 "Online store unavailable".
    client = Browserless(open_console)
    page = client.request("/lookup").body
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": csrf, "target": "service:fraud_model_v1", "key:merchant_id": "M1"}
    for value in ("99999999999999999999999", "-9223372036854775809"):
        answer = client.request("/lookup", form | {"key:customer_id": value})
        assert answer.status == 400, answer.body
        assert f"customer_id value {value} is outside the int64 range" in answer.body
        assert "(-9223372036854775808 to 9223372036854775807)" in answer.body
    for value in ("9223372036854775807", "-9223372036854775808"):
        answer = client.request("/lookup", form | {"key:customer_id": value})
        assert answer.status == 200, answer.body


def test_non_loopback_without_tls_and_auth_refuses_to_start(console_project):
    proc = subprocess.run(
        [
            FEATURESTORE,
            "ui",
            "--repo",
            str(console_project.repo),
            "--address",
            f"0.0.0.0:{free_port()}",
        ],
        env=console_project.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "--allow-insecure" in proc.stderr


def _sign_in(client: Browserless, key: str) -> None:
    page = client.request("/login").body
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.request("/login", {"csrf": csrf, "token": key, "next": "/"})
    assert answer.status == 303, answer.body


def test_sign_in_keeps_the_key_on_the_server(keyed_console, keys):
    client = Browserless(keyed_console)
    first = client.request("/contracts")
    assert first.status == 303
    assert first.headers["Location"] == "/login?next=%2Fcontracts"
    page = client.request("/login").body
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    wrong = client.request("/login", {"csrf": csrf, "token": "fsk_x_y", "next": "/"})
    assert wrong.status == 401 and "missing or invalid credentials" in wrong.body
    _sign_in(client, keys.reader)
    cookie = client.cookie("fs_console")
    assert cookie is not None and keys.reader not in cookie.value
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite").lower() == "lax"
    home = client.request("/")
    assert home.status == 200 and "rita" in home.body
    assert keys.reader not in home.body
    assert "/views/customer_spend" in home.body


def test_permissions_are_the_servers(keyed_console, keys):
    reader, nobody = Browserless(keyed_console), Browserless(keyed_console)
    _sign_in(reader, keys.reader)
    _sign_in(nobody, keys.nobody)
    assert reader.request("/views/customer_spend").status == 200
    quality = reader.request("/tables/customer_spend/quality").body
    assert 'id="quarantine-denied"' in quality and "READ_OFFLINE" in quality
    csv = reader.request("/tables/customer_spend/quarantine.csv")
    assert csv.status == 403
    denied = nobody.request("/views/customer_spend")
    assert denied.status == 403 and "DESCRIBE" in denied.body
    assert nobody.request("/contracts").status == 403
    assert "/views/customer_spend" not in nobody.request("/").body


def test_drift_is_admitted_as_list_drift_scores_on_a_view(keyed_console, keys):
    # The auditor may DESCRIBE the project (contracts, history) but no view:
    # ListDriftScores and ListProfiles refuse it, so the console's drift (the
    # histograms show the most common values: data) must refuse it too.
    auditor, reader = Browserless(keyed_console), Browserless(keyed_console)
    _sign_in(auditor, keys.auditor)
    _sign_in(reader, keys.reader)
    assert auditor.request("/contracts").status == 200
    assert auditor.request("/tables/customer_spend").status == 200
    denied = auditor.request("/drift/customer_spend")
    assert denied.status == 403
    assert "DESCRIBE" in denied.body and "customer_spend" in denied.body
    index = auditor.request("/drift")
    assert index.status == 200 and "/drift/customer_spend" not in index.body
    assert reader.request("/drift/customer_spend").status == 200
    assert "/drift/customer_spend" in reader.request("/drift").body
    # An unknown table is still a 404 to whoever may look.
    assert reader.request("/drift/no_such_table").status == 404


def test_audit_records_console_pages_and_never_a_key(keyed_console, keys):
    client = Browserless(keyed_console)
    _sign_in(client, keys.nobody)
    assert client.request("/contracts").status == 403
    deadline = time.monotonic() + 5
    lines: list[dict] = []
    while time.monotonic() < deadline:
        if keys.audit.exists():
            lines = [json.loads(x) for x in keys.audit.read_text().splitlines()]
            if any(x["principal"] == "nemo" and x["decision"] == "deny" for x in lines):
                break
        time.sleep(0.1)
    denials = [x for x in lines if x["principal"] == "nemo" and x["decision"] == "deny"]
    assert denials and all(x["request_id"].startswith("ui-") for x in denials)
    everything = keys.audit.read_text() + keyed_console.output()
    for key in (keys.admin, keys.reader, keys.nobody):
        assert key not in everything
        assert key.split("_", 2)[2] not in everything


def test_console_over_tls_sets_secure_cookies(console_project, keys, tmp_path):
    ca = make_ca(tmp_path)
    server = issue_server_cert(ca, tmp_path)
    context = ssl.create_default_context(cafile=str(ca.cert))
    console = start_console(
        console_project,
        "--tls-cert", str(server.cert), "--tls-key", str(server.key),
        "--auth", "api_keys", "--api-keys-file", str(keys.file),
        scheme="https",
        context=context,
    )  # fmt: skip
    try:
        client = Browserless(console)
        _sign_in(client, keys.reader)
        cookie = client.cookie("fs_console")
        assert cookie is not None and cookie.secure
        page = client.request("/views/customer_spend")
        assert page.status == 200
        # Signing out expires the cookie with the attributes it was set with.
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.body).group(1)
        out = client.request("/logout", {"csrf": csrf})
        assert out.status == 303
        (expired,) = [
            c for c in out.headers.get_all("Set-Cookie") if c.startswith("fs_console=")
        ]
        attributes = {a.strip().split("=")[0].lower() for a in expired.split(";")}
        assert {"secure", "httponly", "samesite", "max-age"} <= attributes, expired
    finally:
        console.stop()


def test_strict_transport_security_under_tls_only(
    console_project, open_console, tmp_path
):
    ca = make_ca(tmp_path)
    server = issue_server_cert(ca, tmp_path)
    context = ssl.create_default_context(cafile=str(ca.cert))
    console = start_console(
        console_project,
        "--tls-cert", str(server.cert), "--tls-key", str(server.key),
        scheme="https",
        context=context,
    )  # fmt: skip
    try:
        for path in ("/", "/login", "/views/nope", "/static/console.css"):
            answer = Browserless(console).request(path)
            hsts = answer.headers["Strict-Transport-Security"]
            assert hsts == "max-age=31536000", (path, hsts)
    finally:
        console.stop()
    plain = Browserless(open_console).request("/")
    assert "Strict-Transport-Security" not in plain.headers


def test_https_public_url_behind_a_proxy_sets_secure_cookies(console_project):
    # TLS ends at a proxy; browsers reach the console at an https:// URL, so
    # its cookies must not travel over plain HTTP and HSTS applies.
    console = start_console(console_project, "--public-url", "https://fs.example.test")
    try:
        answer = Browserless(console).request("/")
    finally:
        console.stop()
    assert answer.status == 200
    cookies = answer.headers.get_all("Set-Cookie") or []
    assert cookies and all("; secure" in c.lower() for c in cookies), cookies
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_console_beside_serve(console_project):
    grpc_port, ui_port = free_port(), free_port()
    log = console_project.repo.parent / "serve-with-console.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                FEATURESTORE,
                "serve",
                "--repo",
                str(console_project.repo),
                "--address",
                f"127.0.0.1:{grpc_port}",
                "--ui-address",
                f"127.0.0.1:{ui_port}",
            ],
            env=console_project.env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and status != 200:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{ui_port}/contracts", timeout=2
                ) as answer:
                    status, body = answer.status, answer.read().decode()
            except (OSError, urllib.error.URLError):
                assert process.poll() is None, log.read_text()
                time.sleep(0.5)
        assert status == 200 and "customer_spend" in body
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=30
            )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0, log.read_text()
