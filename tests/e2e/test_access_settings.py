"""The API-token and webhook settings screens in a real browser, on a desktop and on a phone."""

import re

import pytest
from sqlalchemy import select

from app.access.events import emit_event
from app.access.models import DeliveryStatus, WebhookDelivery
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser


def _sign_in(page, live_server):
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "op@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")


def test_operator_creates_and_revokes_a_token_in_the_browser(live_server, page, operator, client):
    _sign_in(page, live_server)
    page.click("nav[aria-label=Main] >> text=Settings")
    page.click("text=API tokens")
    page.wait_for_url(f"{live_server}/settings/api-tokens")
    page.fill("input[name=name]", "signup script")
    page.click("text=Create token")
    token = page.locator("#new-token").inner_text()  # htmx swapped the answer in, CSRF header and all
    assert re.fullmatch(r"adv_[\w-]{43}", token)
    screenshot(page, "settings-api-token-created")
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("text=Revoke")
    page.wait_for_selector(".badge-revoked")
    assert page.locator("#new-token").count() == 0
    screenshot(page, "settings-api-tokens")
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_operator_adds_an_endpoint_and_resends_a_failed_delivery(live_server, page, phone_page, operator, db):
    _sign_in(page, live_server)
    page.goto(f"{live_server}/settings/webhooks")
    page.fill("input[name=url]", "https://app.example.com/hooks/advancia-with-a-rather-long-path")
    page.check("input[value='invoice.paid']")
    page.check("input[value='subscription.canceled']")
    page.click("text=Add endpoint")
    page.wait_for_selector(".flash-success")
    for n in range(3):
        emit_event("invoice.paid", {"id": n}, event_key=f"invoice.paid:{n}")
    db.session.commit()
    failed = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).first()
    failed.status, failed.attempts, failed.last_status_code = DeliveryStatus.FAILED, 10, 503
    failed.last_error = "HTTP 503: upstream unavailable"
    db.session.commit()

    page.goto(f"{live_server}/settings/webhooks")
    page.click("#endpoint-1 summary")  # reveal the signing secret
    assert page.locator("#endpoint-1 code.secret").inner_text().startswith("whsec_")
    row = page.locator(f"#delivery-{failed.id}")
    assert row.locator(".badge").inner_text() == "failed"
    screenshot(page, "settings-webhooks")
    row.locator("text=Resend").click()
    page.wait_for_selector(f"#delivery-{failed.id} .badge-pending")
    db.session.rollback()
    assert db.session.get(WebhookDelivery, failed.id).status == DeliveryStatus.PENDING

    context_cookies = page.context.cookies()
    phone_page.context.add_cookies(context_cookies)
    phone_page.goto(f"{live_server}/settings/webhooks")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone_page, "settings-webhooks-phone")
    phone_page.goto(f"{live_server}/settings/api-tokens")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone_page, "settings-api-tokens-phone")
