"""The billing screens and the pay page in a real browser (htmx, CSRF header, confirmations, phones)."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.billing.invoices import expire_invoice
from app.billing.models import Invoice, InvoiceStatus
from app.billing.subscriptions import start_subscription
from app.db_types import utcnow
from tests.e2e.conftest import screenshot
from tests.factories import make_customer, make_invoice, make_manual_payment, make_plan

pytestmark = pytest.mark.browser


def _sign_in(page, live_server):
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "op@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")


#: the browser logs every 4xx answer; 409 (an illegal move) and 422 (a form with errors) are answers we expect
EXPECTED = ("status of 409", "status of 422")


def _watch_console(page) -> list[str]:
    """Errors the page logs (a CSP refusal of a script would show here)."""
    errors: list[str] = []

    def on_console(message) -> None:
        if message.type == "error" and not any(expected in message.text for expected in EXPECTED):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_operator_records_a_cash_payment_on_an_invoice_and_sees_it_paid(live_server, page, operator, db):
    invoice = make_invoice(make_customer(name="Ada Lovelace"), amount_minor=4900)
    errors = _watch_console(page)
    _sign_in(page, live_server)
    page.goto(f"{live_server}/invoices")
    page.locator(f"#invoice-{invoice.id}").get_by_role("link", name="Record payment").click()
    page.wait_for_url(f"{live_server}/invoices/{invoice.id}#record-payment")
    assert page.input_value("#record-payment input[name=amount]") == "49.00"
    page.select_option("#record-payment select[name=method]", "cash")
    page.fill("#record-payment input[name=reference]", "RCPT-0042")
    page.fill("#record-payment textarea[name=note]", "paid at the front desk")
    page.click("#record-payment button[type=submit]")
    page.wait_for_url(f"{live_server}/invoices/{invoice.id}#payments")
    assert "Invoice #1 is paid" in page.locator(".flash-success").inner_text()
    assert page.locator("h1 .badge").inner_text() == "paid"
    assert "RCPT-0042" in page.locator("#payments").inner_text()
    page.evaluate("window.scrollTo(0, 0)")  # the page opened at #payments; shoot it from the top
    screenshot(page, "invoice-paid")
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
    assert errors == []


def test_row_actions_swap_only_their_row_and_an_illegal_move_says_why(live_server, page, operator, db):
    customer = make_customer(name="Grace Hopper")
    to_void, paid_meanwhile = make_invoice(customer, amount_minor=1500), make_invoice(customer, amount_minor=2500)
    errors = _watch_console(page)
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
    _sign_in(page, live_server)
    page.goto(f"{live_server}/invoices")

    row = page.locator(f"#invoice-{to_void.id}")
    row.get_by_text("More").click()
    row.get_by_role("button", name="Void").click()
    page.wait_for_selector(f"#invoice-{to_void.id} .badge-void")
    assert "voided" in page.locator(f"#invoice-{to_void.id} .row-msg").inner_text()

    db.session.rollback()  # end this test's read snapshot: SQLite refuses a write from a stale one
    make_manual_payment(paid_meanwhile, "25.00")  # paid in another tab while this one still offers "Void"
    row = page.locator(f"#invoice-{paid_meanwhile.id}")
    row.get_by_text("More").click()
    row.get_by_role("button", name="Void").click()
    page.wait_for_selector(f"#invoice-{paid_meanwhile.id} .row-msg-error")
    assert "is paid; cannot void" in page.locator(f"#invoice-{paid_meanwhile.id} .row-msg").inner_text()
    assert page.locator(f"#invoice-{paid_meanwhile.id} .badge-paid").count() == 1
    screenshot(page, "invoices-row-actions")

    page.locator("nav.tabs").get_by_role("link", name="Paid").click()  # a filter tab: fragment swap, pushed URL
    page.wait_for_url(f"{live_server}/invoices?status=paid")
    assert page.locator("tbody tr").count() == 1
    page.go_back()
    page.wait_for_function("location.search === ''")
    expect(page.locator("nav.tabs a.active")).to_have_text("Open")
    assert errors == []


def test_a_tour_of_every_screen_with_data(live_server, page, operator, db):
    customers = [make_customer(name=n, external_id=f"usr_{i}") for i, n in enumerate(("Ada Lovelace", "Alan Turing"))]
    plan = make_plan(code="pro-monthly", amount_minor=4900, limits={"seats": 5})
    _, first = start_subscription(customers[0], plan, actor="test")
    db.session.commit()
    make_manual_payment(first, "49.00", method="check", reference="CHK-1001")
    late = make_invoice(customers[1], amount_minor=12000, now=utcnow() - timedelta(days=90))
    expire_invoice(late, actor="test")
    db.session.commit()
    make_manual_payment(late, "120.00", method="wire", reference="WIRE-77")  # held for review
    make_invoice(customers[1], amount_minor=3000, now=utcnow() - timedelta(days=20))  # overdue
    errors = _watch_console(page)
    _sign_in(page, live_server)

    page.goto(f"{live_server}/customers")
    page.locator("input[type=search]").press_sequentially("turing")
    page.wait_for_function("location.search === '?q=turing'")  # htmx pushed the search into the address bar
    expect(page.locator("#customer-results tbody tr")).to_have_count(1)
    page.go_back()
    page.wait_for_function("location.search === ''")
    expect(page.locator("#customer-results tbody tr")).to_have_count(2)
    screenshot(page, "customers")

    for path, heading, shot in (
        (f"/customers/{customers[0].id}", "Ada Lovelace", "customer"),
        ("/customers/new", "New customer", "customer-new"),
        ("/invoices?status=all", "Invoices", "invoices"),
        (f"/invoices/{late.id}", f"Invoice #{late.number}", "invoice-expired"),
        (f"/customers/{customers[1].id}/invoices/new", "New invoice for Alan Turing", "invoice-new"),
        ("/payments?status=needs_review", "Payments", "payments-needs-review"),
        ("/plans", "Plans", "plans"),
        ("/settings", "Settings", "settings"),
    ):
        page.goto(f"{live_server}{path}")
        assert page.locator("h1").inner_text().startswith(heading), path
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280, path
        screenshot(page, shot)

    page.goto(f"{live_server}/customers/{customers[1].id}/invoices/new")
    page.get_by_role("button", name="+ Add line").click()
    page.wait_for_selector("input[name='lines-3-description']")
    assert page.locator(".line-row").count() == 4 and page.locator("#add-line").count() == 1
    assert errors == []


def test_the_pay_page_fits_a_phone_and_copies_the_reference(live_server, phone_page, page, db):
    open_invoice = make_invoice(make_customer(name="Ada Lovelace"), amount_minor=12000)
    make_manual_payment(open_invoice, "20.00")
    paid = make_invoice(make_customer(name="Alan Turing"), amount_minor=4900)
    make_manual_payment(paid, "49.00")
    errors = _watch_console(phone_page)
    phone_page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    phone_page.goto(f"{live_server}/pay/{open_invoice.pay_token}")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone_page.locator(".pay-amount").inner_text() == "$100.00"
    screenshot(phone_page, "pay-page-phone")
    phone_page.locator(".copy-ref button").first.click()
    expect(phone_page.locator(".copy-ref button").first).to_have_text("Copied")
    assert phone_page.evaluate("navigator.clipboard.readText()") == open_invoice.reference_code

    phone_page.goto(f"{live_server}/pay/{paid.pay_token}")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone_page.locator("h1").inner_text() == "Paid, thank you"
    screenshot(phone_page, "pay-page-paid-phone")
    assert errors == []

    page.goto(f"{live_server}/pay/{open_invoice.pay_token}")
    screenshot(page, "pay-page")


def test_operator_upgrades_a_free_customer_and_the_change_waits_for_payment(live_server, page, operator, db):
    from app.billing.plans import free_plan

    customer = make_customer(name="Katherine Johnson")
    start_subscription(customer, free_plan(), actor="test")
    make_plan(code="team-monthly", amount_minor=7900, limits={"seats": 10})
    errors = _watch_console(page)
    _sign_in(page, live_server)
    page.goto(f"{live_server}/customers/{customer.id}")
    page.select_option("#change-plan select[name=plan]", "team-monthly")
    page.click("#change-plan button[type=submit]")
    page.wait_for_url(f"{live_server}/customers/{customer.id}")
    assert "starts when invoice #" in page.locator(".flash-success").inner_text()
    assert "Changing to Pro when its first invoice is paid" in page.locator(".cards").inner_text()
    assert page.locator(".cards").get_by_text("Free").count() == 1  # still on the free plan meanwhile
    screenshot(page, "customer-plan-change-waiting")
    assert errors == []


def test_operator_records_a_wire_that_arrived_in_euros(live_server, page, operator, db):
    invoice = make_invoice(make_customer(name="Emmy Noether"), amount_minor=4900)
    errors = _watch_console(page)
    _sign_in(page, live_server)
    page.goto(f"{live_server}/invoices/{invoice.id}#record-payment")
    page.select_option("#record-payment select[name=method]", "wire")
    page.click("#record-payment .fx-details summary")
    page.select_option("#record-payment select[name=received_currency]", "EUR")
    page.fill("#record-payment input[name=received_amount]", "45.00")
    page.fill("#record-payment input[name=reference]", "FW-EUR-0042")
    page.locator("#record-payment").scroll_into_view_if_needed()
    screenshot(page, "record-payment-in-euros")
    page.click("#record-payment button[type=submit]")
    page.wait_for_url(f"{live_server}/invoices/{invoice.id}#payments")
    assert "is paid" in page.locator(".flash-success").inner_text()
    assert errors == []
