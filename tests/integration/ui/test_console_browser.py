"""The console in a real browser: Debian's Chromium driven through chromedriver.

Selenium rather than Playwright: Playwright drives the browser builds it
downloads itself (not reachable here) and only loosely supports others;
chromedriver ships in the same Debian package set as the Chromium it drives,
so the two always match. Set FS_UI_SCREENSHOTS=docs/screenshots to write the
README's pictures (nothing is written otherwise).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.integration.ui._console import RunningConsole, console_at_provider
from tests.oidc_provider_harness import require_provider

# The first test builds the shared project (real Spark jobs, feast apply): about
# 90 s alone, several minutes on a crowded machine, hence the longer timeout.
pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--window-size=1280,900",
)
WAIT_S = 20


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the session; skipped when it is not installed."""
    chromium = shutil.which("chromium") or CHROMIUM
    driver_path = shutil.which("chromedriver") or CHROMEDRIVER
    if not (Path(chromium).exists() and Path(driver_path).exists()):
        pytest.skip("Chromium not installed: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser):
    """The browser with no cookies from an earlier test."""
    browser.get("about:blank")
    browser.delete_all_cookies()
    return browser


def _by(kind: str):
    from selenium.webdriver.common.by import By

    return getattr(By, kind)


def wait_for(driver, condition, message: str = ""):
    """Wait until ``condition(driver)`` is truthy (WebDriverWait).

    An element htmx swapped out while the condition read it is stale: the
    condition is then simply asked again.
    """
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(
        driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)
    )
    return wait.until(condition, message)


def staleness_of(element):
    """A wait condition: ``element`` has left the page (a navigation replaced it)."""
    from selenium.webdriver.support import expected_conditions

    return expected_conditions.staleness_of(element)


def h1(driver) -> str:
    """The page's heading text."""
    return driver.find_element(_by("TAG_NAME"), "h1").text


def shot(driver, name: str) -> None:
    """Save the whole page as docs/screenshots/<name>.png when asked to."""
    folder = os.environ.get("FS_UI_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 600), 2000))
    driver.save_screenshot(str(Path(folder) / f"{name}.png"))
    driver.set_window_size(1280, 900)


def go(driver, console: RunningConsole, path: str) -> None:
    """Open ``path`` of the console."""
    driver.get(console.url + path)


def click_link(driver, text: str) -> None:
    """Follow the first link with exactly ``text``."""
    driver.find_element(_by("LINK_TEXT"), text).click()


def choose(driver, select_id: str, value: str) -> None:
    """Pick ``value`` in the <select> with id ``select_id``."""
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(_by("ID"), select_id)).select_by_value(value)


def test_navigation_through_every_page(page, open_console):
    go(page, open_console, "/")
    assert h1(page) == "Feature views"
    badges = page.find_elements(_by("CSS_SELECTOR"), "#views tbody tr .badge")
    assert len(badges) == 4  # freshness and drift of both views
    assert all(b.get_attribute("title") for b in badges)
    shot(page, "home")
    click_link(page, "customer_spend")
    wait_for(page, lambda d: "customer_spend" in h1(d) and "Feature view" in h1(d))
    assert page.find_element(_by("ID"), "services").text == "fraud_model_v1"
    assert page.find_element(_by("ID"), "ttl").text == "7d"
    shot(page, "view")
    page.find_element(_by("ID"), "contract-link").click()
    wait_for(page, lambda d: h1(d).startswith("Contract customer_spend"))
    assert "customer_spend" in page.find_element(_by("ID"), "yaml").text
    shot(page, "contract")
    go(page, open_console, "/views/customer_spend")
    page.find_element(_by("ID"), "table-link").click()
    wait_for(page, lambda d: "history" in h1(d))
    graph = page.find_element(_by("CSS_SELECTOR"), "#lineage-graph svg")
    assert "fraud_model_v1" in graph.get_attribute("innerHTML")
    assert len(page.find_elements(_by("CSS_SELECTOR"), "#versions tbody tr")) == 2
    shot(page, "lineage")
    click_link(page, "Quality and quarantine")
    wait_for(page, lambda d: "quality" in h1(d))
    page.find_element(_by("CSS_SELECTOR"), "header nav").find_element(
        _by("LINK_TEXT"), "Drift"
    ).click()
    wait_for(page, lambda d: h1(d) == "Drift")
    click_link(page, "customer_spend")
    wait_for(page, lambda d: h1(d).startswith("Drift of customer_spend"))
    # The table's verdict badge sits in the heading.
    badge = page.find_element(_by("CSS_SELECTOR"), "h1 .badge")
    assert badge.text in ("ok", "warn", "fail", "unknown"), badge.text
    cards = page.find_elements(_by("CSS_SELECTOR"), ".feature-drift")
    assert cards, "the publishes profiled the table"
    for card in cards:
        charts = card.find_elements(_by("CSS_SELECTOR"), "svg.chart")
        assert charts and charts[0].find_elements(_by("TAG_NAME"), "circle")
    shot(page, "drift")
    for nav, heading in (
        ("Contracts", "Contracts"),
        ("Drift", "Drift"),
        ("Online lookup", "Online lookup"),
        ("Training sets", "Training sets"),
        ("Feature views", "Feature views"),
    ):
        page.find_element(_by("CSS_SELECTOR"), "header nav").find_element(
            _by("LINK_TEXT"), nav
        ).click()
        wait_for(page, lambda d, heading=heading: h1(d) == heading, nav)
        assert not page.find_elements(_by("ID"), "error")
        if nav == "Training sets":
            text = page.find_element(_by("CSS_SELECTOR"), ".training-set").text
            assert "fraud_model_v1" in text and "pins=manifest" in text
            shot(page, "training_sets")


def _diff(page, old: str, new: str) -> dict[str, int]:
    choose(page, "diff-old", old)
    choose(page, "diff-new", new)
    page.find_element(_by("ID"), "diff-go").click()
    wait_for(
        page,
        lambda d: (
            d.find_element(_by("ID"), "diff").get_attribute("data-old") == old
            and d.find_element(_by("ID"), "diff").get_attribute("data-new") == new
        ),
        "the diff was not swapped in",
    )
    return {
        kind: int(page.find_element(_by("ID"), f"count-{kind}").text.split()[0])
        for kind in ("breaking", "non-breaking", "cosmetic")
    }


def test_diff_classifies_the_changes_made(page, open_console):
    # The fixture changed the owner (cosmetic), the freshness SLA and
    # min_rows (non-breaking) in 1.1.0, then added a check (breaking) in 2.0.0.
    go(page, open_console, "/contracts/customer_spend/diff")
    assert _diff(page, "1.0.0", "1.1.0") == {
        "breaking": 0,
        "non-breaking": 2,
        "cosmetic": 1,
    }
    assert _diff(page, "1.1.0", "2.0.0") == {
        "breaking": 1,
        "non-breaking": 0,
        "cosmetic": 0,
    }
    rows = page.find_elements(_by("CSS_SELECTOR"), "#changes tr.breaking")
    assert len(rows) == 1 and "CHECK_ADDED" in rows[0].text
    problems = page.find_elements(_by("CSS_SELECTOR"), ".version-problem")
    assert problems == []  # 2.0.0 is a major bump
    assert _diff(page, "1.0.0", "2.0.0")["breaking"] == 1
    shot(page, "diff")


def test_quarantine_filter(page, open_console, console_project):
    table = console_project.data / "features" / "customer_spend_quarantine"
    rows = DeltaTable(str(table)).to_pyarrow_table().to_pylist()
    reasons = Counter(f"{r['column']}:{r['check']}" for x in rows for r in x["reasons"])
    go(page, open_console, "/tables/customer_spend/quality")
    total = page.find_element(_by("ID"), "quarantine-total")
    assert total.get_attribute("data-total") == str(len(rows))
    for reason, expected in reasons.items():
        choose(page, "filter-reason", reason)
        page.find_element(_by("ID"), "filter-go").click()
        wait_for(
            page,
            lambda d, expected=expected: (
                d.find_element(_by("ID"), "quarantine-total").get_attribute(
                    "data-total"
                )
                == str(expected)
            ),
            reason,
        )
        cells = page.find_elements(_by("CSS_SELECTOR"), "#quarantine-rows td.reasons")
        assert len(cells) == expected and all(reason in c.text for c in cells)
        assert f"reason={reason}" in page.current_url.replace("%3A", ":")
    choose(page, "filter-run", "run-2")
    page.find_element(_by("ID"), "filter-go").click()
    expected = sum(
        1
        for x in rows
        if x["run_id"] == "run-2"
        and reason in {f"{r['column']}:{r['check']}" for r in x["reasons"]}
    )
    wait_for(
        page,
        lambda d: (
            "run=run-2" in d.current_url
            and d.find_element(_by("ID"), "quarantine-total").get_attribute(
                "data-total"
            )
            == str(expected)
        ),
    )
    shot(page, "quality")


def test_lookup_form(page, open_console, console_project):
    from feast import FeatureStore

    entities = [(1, "M0001"), (2, "M0002"), (999_999, "M0003")]
    go(page, open_console, "/lookup")
    choose(page, "target", "service:fraud_model_v1")
    page.find_element(_by("ID"), "key-customer_id").send_keys(
        "\n".join(str(c) for c, _ in entities)
    )
    page.find_element(_by("ID"), "key-merchant_id").send_keys(
        "\n".join(m for _, m in entities)
    )
    page.find_element(_by("ID"), "lookup-go").click()
    wait_for(
        page,
        lambda d: (
            len(d.find_elements(_by("CSS_SELECTOR"), "#lookup-result .entity"))
            == len(entities)
        ),
    )
    # Feast's own online read of the same store is the oracle.
    store = FeatureStore(repo_path=str(console_project.repo))
    feast = store.get_online_features(
        features=store.get_feature_service("fraud_model_v1"),
        entity_rows=[{"customer_id": c, "merchant_id": m} for c, m in entities],
    ).to_dict()
    cards = page.find_elements(_by("CSS_SELECTOR"), "#lookup-result .entity")
    for i, card in enumerate(cards):
        shown = {}
        for row in card.find_elements(_by("CSS_SELECTOR"), "tbody tr"):
            name, value, status = (
                c.text for c in row.find_elements(_by("TAG_NAME"), "td")
            )
            shown[name] = (value, status)
        for name, (value, status) in shown.items():
            expected = feast[name][i]
            if expected is None:
                assert (value, status) == ("-", "NOT_FOUND"), name
            else:
                assert status in ("PRESENT", "OUTSIDE_MAX_AGE"), name
                assert float(value) == pytest.approx(float(expected)), name
    assert "NOT_FOUND" in cards[2].text and "PRESENT" in cards[0].text
    shot(page, "lookup")


def test_lookup_errors_show_beside_the_form(page, open_console):
    # htmx 2 swaps no 4xx/5xx by default: a bad key left the result empty
    # and said nothing. The error now shows where the result would, the form
    # stays, and the next good lookup replaces it.
    go(page, open_console, "/lookup")
    choose(page, "target", "view:customer_spend")
    keys = page.find_element(_by("ID"), "key-customer_id")
    keys.send_keys("abc")
    page.find_element(_by("ID"), "lookup-go").click()
    shown = wait_for(
        page,
        lambda d: d.find_elements(_by("CSS_SELECTOR"), "#lookup-result #error"),
        "no error shown",
    )
    assert "customer_id values must be integers" in shown[0].text
    assert page.find_elements(_by("ID"), "lookup-form")
    keys = page.find_element(_by("ID"), "key-customer_id")
    keys.clear()
    keys.send_keys("1")
    page.find_element(_by("ID"), "lookup-go").click()
    wait_for(
        page,
        lambda d: d.find_elements(_by("CSS_SELECTOR"), "#lookup-result .entity"),
        "no result after the error",
    )
    assert not page.find_elements(_by("CSS_SELECTOR"), "#lookup-result #error")


def test_an_expired_session_sends_an_htmx_form_to_the_sign_in_page(
    page, keyed_console, keys
):
    go(page, keyed_console, "/lookup")
    _sign_in_with_token(page, keys.reader)
    # The sign-in sends the browser back to /lookup. (Going there again at
    # once raced the sign-in's own response: before its cookie was set, the
    # page was the sign-in page again, and the wait below timed out in CI.)
    wait_for(page, lambda d: h1(d) == "Online lookup")
    page.delete_cookie("fs_console")  # as if the session had expired
    choose(page, "target", "view:customer_spend")
    page.find_element(_by("ID"), "key-customer_id").send_keys("1")
    page.find_element(_by("ID"), "lookup-go").click()
    wait_for(page, lambda d: h1(d) == "Sign in", "not sent to the sign-in page")
    assert "/login?next=%2Flookup" in page.current_url


def _sign_in_with_token(page, key: str) -> None:
    wait_for(page, lambda d: h1(d) == "Sign in")
    page.find_element(_by("ID"), "token").send_keys(key)
    page.find_element(_by("ID"), "sign-in").click()


def test_denied_page_and_token_sign_in(page, keyed_console, keys):
    go(page, keyed_console, "/contracts")
    assert "/login" in page.current_url
    shot(page, "login")
    _sign_in_with_token(page, keys.nobody)
    wait_for(page, lambda d: h1(d) == "Not allowed")
    assert "DESCRIBE" in page.find_element(_by("ID"), "error").text
    assert page.find_element(_by("ID"), "principal").text == "nemo"
    shot(page, "denied")
    page.find_element(_by("ID"), "logout").click()
    wait_for(page, lambda d: h1(d) == "Sign in")
    go(page, keyed_console, "/contracts")
    _sign_in_with_token(page, keys.reader)
    wait_for(page, lambda d: h1(d) == "Contracts")
    assert page.find_element(_by("ID"), "principal").text == "rita"
    cookie = page.get_cookie("fs_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert keys.reader not in page.page_source


@pytest.fixture
def oidc_console(console_project) -> Iterator[RunningConsole]:
    """A console signing in at a real OpenID Provider (authorization code + PKCE)."""
    require_provider()
    with console_at_provider(console_project) as (console, _):
        yield console


def test_oidc_sign_in(page, oidc_console):
    go(page, oidc_console, "/views/customer_spend")
    wait_for(page, lambda d: h1(d) == "Sign in")
    page.find_element(_by("ID"), "oidc-login").click()
    wait_for(page, lambda d: d.find_elements(_by("NAME"), "login"))
    page.find_element(_by("NAME"), "login").send_keys("alice")
    page.find_element(_by("NAME"), "password").send_keys("any")
    login = page.find_element(_by("CSS_SELECTOR"), "button[type=submit]")
    login.click()
    # The login page gone first: its own submit button, still there for a
    # moment, was taken for the consent page's (then stale when clicked).
    wait_for(page, staleness_of(login))
    wait_for(
        page,
        lambda d: (
            d.current_url.startswith(oidc_console.url)
            or d.find_elements(_by("CSS_SELECTOR"), "button[type=submit]")
        ),
    )
    if not page.current_url.startswith(oidc_console.url):  # the consent page
        page.find_element(_by("CSS_SELECTOR"), "button[type=submit]").click()
    wait_for(page, lambda d: d.current_url.startswith(oidc_console.url + "/views/"))
    wait_for(page, lambda d: "customer_spend" in h1(d))
    assert page.find_element(_by("ID"), "principal").text == "alice"
