"""The status page on a desktop and a phone, and the operator's status, incident, alert and automation screens."""

from __future__ import annotations

import random

import pytest

from app.db_types import utcnow
from tests.e2e.conftest import screenshot
from tests.ops.conftest import rq_worker  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def history(app, db, live_server, monkeypatch):
    """90 days of demo history, one live watchdog run against the live server, an open incident and a note."""
    from app.demo.ops_history import seed_ops_history
    from app.ops.incidents import open_incident
    from app.ops.status import forget_cached_status
    from app.ops.watchdog import run_watchdog
    from app.settings.service import set_setting

    monkeypatch.setitem(app.config, "PUBLIC_URL", live_server)
    monkeypatch.setitem(app.config, "OPS_STATUS_CACHE_SECONDS", "0")
    seed_ops_history(random.Random(1), utcnow())
    open_incident(
        "Bitcoin payments confirm late",
        "minor",
        ["payments_btc"],
        "Our Bitcoin node is catching up; payments will confirm about 30 minutes late.",
        actor="user:1",
        status="identified",
    )
    set_setting("ops.status_note", "Scheduled maintenance Sunday 02:00-02:30 UTC.", actor="test")
    db.session.commit()
    run_watchdog(deliver=False)
    forget_cached_status()


def _sign_in(page, live_server) -> None:
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "op@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")


def test_the_status_page_reads_well_on_a_desktop_and_a_phone(live_server, history, page, phone_page):
    page.goto(f"{live_server}/status")
    assert page.locator(".status-banner").count() == 1
    assert page.locator(".component").count() >= 8
    assert "Bitcoin payments confirm late" in page.locator(".incident").inner_text()
    assert page.locator(".strip").first.locator("i").count() == 90
    screenshot(page, "status-desktop")
    page.locator(".past-incident summary").first.click()
    screenshot(page, "status-desktop-past-incident")

    phone_page.goto(f"{live_server}/status")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    bar_width = phone_page.evaluate("document.querySelector('.strip i').getBoundingClientRect().width")
    assert bar_width >= 2  # 90 days still visible as bars on a 390 px screen
    screenshot(phone_page, "status-phone")


def test_the_operator_works_the_status_screens(live_server, history, page, operator):
    _sign_in(page, live_server)
    page.click("nav[aria-label=Main] >> text=Status")
    page.wait_for_url(f"{live_server}/ops/")
    assert page.locator("#checks code", has_text="database").count() == 1
    screenshot(page, "ops-overview")

    page.goto(f"{live_server}/ops/incidents")
    page.fill("input[name=title]", "Card payments slow")
    page.select_option("select[name=impact]", "minor")
    page.check("input[value=payments_card]")
    screenshot(page, "ops-incidents-form")
    page.fill("textarea[name=message]", "Stripe answers slowly; payments still go through.")
    page.click("text=Open incident")
    page.wait_for_url("**/ops/incidents/*")
    assert page.locator("h2", has_text="Card payments slow").count() == 1
    page.select_option("select[name=status]", "resolved")
    page.fill("textarea[name=message]", "Stripe is fast again.")
    page.click("text=Post update")
    assert "Update posted." in page.locator(".flash-success").inner_text()
    screenshot(page, "ops-incident")

    page.goto(f"{live_server}/ops/alerts")
    page.locator("tr", has_text="Email").locator("button", has_text="Send a test").click()
    page.wait_for_selector("#test-message .flash-success")  # htmx posted with the CSRF header
    screenshot(page, "ops-alerts")


def test_run_now_on_the_automation_screen_shows_the_result_without_a_reload(live_server, page, operator, rq_worker):  # noqa: F811
    _sign_in(page, live_server)
    page.goto(f"{live_server}/automation/")
    page.locator("tr", has_text="health_watchdog").locator("button", has_text="Run now").click()
    page.wait_for_selector("#queued .flash-success")
    # The runs table polls every 5 s: the worker's run appears in it, with no reload.
    page.wait_for_selector("#runs td:has-text('health_watchdog')", timeout=30_000)
    page.wait_for_selector("#runs .badge-succeeded", timeout=30_000)
    assert page.locator("#rq code").count() >= 1  # the live worker, by name
    screenshot(page, "automation-ops")
