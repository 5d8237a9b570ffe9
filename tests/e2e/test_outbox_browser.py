"""The outbox screen and the emails in a real browser: htmx retry with its CSRF header, phone widths."""

import pytest
from sqlalchemy import select

from app.notifications.delivery import deliver_due
from app.notifications.models import OutboxMessage, OutboxStatus
from app.notifications.rendering import render_email
from tests.conftest import free_port
from tests.e2e.conftest import screenshot
from tests.factories import make_email, make_invoice, make_settled_payment

pytestmark = pytest.mark.browser


def sign_in(page, live_server):
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "op@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")


def test_operator_retries_a_dead_email_from_the_outbox(live_server, page, operator, app, db, smtp_server, monkeypatch):
    invoice = make_invoice(amount_minor=129_900)
    make_settled_payment(invoice)
    deliver_due()  # the receipt is sent
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 1)
    live_port = smtp_server.port
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())
    dead = make_email(to="bounced@example.com", subject="Your trial has ended")
    deliver_due()
    monkeypatch.setitem(app.config, "SMTP_PORT", live_port)
    make_email(to="waiting@example.com", subject="Invoice 1043 is ready", template="invoice")

    sign_in(page, live_server)
    page.click("nav[aria-label=Main] >> text=Outbox")
    page.wait_for_url(f"{live_server}/outbox/")
    screenshot(page, "outbox")
    row = page.locator(f"#outbox-{dead.id}")
    assert "dead" in row.locator(".badge").inner_text()
    row.locator("button", has_text="Retry").click()
    page.wait_for_selector(f"#outbox-{dead.id} .badge-pending")  # htmx posted with the CSRF header and swapped
    db.session.rollback()  # a fresh snapshot (SQLite keeps the one our open transaction started with)
    assert db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == dead.id)) == OutboxStatus.PENDING

    page.click(f"#outbox-{dead.id} >> text=#{dead.id}")
    page.wait_for_url(f"{live_server}/outbox/{dead.id}")
    assert "Your trial has ended" in page.locator("dl.facts").inner_text()
    screenshot(page, "outbox-message")


def test_outbox_and_held_notice_fit_a_phone(live_server, phone_page, operator, app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    make_email(to="someone.with.a.rather.long.address@example-customer-domain.com", subject="Receipt for invoice 1042")
    deliver_due()
    sign_in(phone_page, live_server)
    phone_page.goto(f"{live_server}/outbox/?status=held")
    assert "email is held here, not sent" in phone_page.locator(".outbox-smtp").inner_text()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone_page, "outbox-phone")


def test_the_receipt_email_reads_well_on_a_phone(app, db, phone_page, page):
    invoice = make_invoice(amount_minor=129_900)
    make_settled_payment(invoice)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("receipt:%")))
    html = render_email(message, with_attachments=False).html
    phone_page.set_content(html)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone_page, "email-receipt-phone")
    page.set_content(html)
    screenshot(page, "email-receipt")
    invoice_email = render_email(make_email(template="invoice"), with_attachments=False).html
    phone_page.set_content(invoice_email)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone_page, "email-invoice-phone")
