"""The dashboard in chromium: the revenue chart draws under a CSP of script-src 'self' alone (no eval)."""

from __future__ import annotations

import pytest

from app import web
from tests.e2e.conftest import screenshot
from tests.factories import make_customer, make_invoice, make_settled_payment

pytestmark = pytest.mark.browser


def test_the_revenue_chart_draws_without_inline_script_or_eval(live_server, page, operator, db, monkeypatch):
    strict = web.SECURITY_HEADERS["Content-Security-Policy"].replace(" 'unsafe-eval'", "")
    assert "script-src 'self';" in strict
    monkeypatch.setitem(web.SECURITY_HEADERS, "Content-Security-Policy", strict)
    make_settled_payment(make_invoice(amount_minor=4900), rail="card")
    make_settled_payment(make_invoice(make_customer(currency="EUR"), amount_minor=4500))
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "op@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.wait_for_selector("#revenue-chart .main-svg")

    assert page.locator("#revenue-chart .legendtext").all_text_contents() == ["USD", "EUR"]
    assert page.locator("#revenue-chart g.point").count() == 24  # 12 months, two currencies
    assert page.locator(".card-label").first.inner_text() == "OVERDUE INVOICES"
    assert problems == []  # a CSP violation is reported as a console error
    screenshot(page, "dashboard-revenue")
