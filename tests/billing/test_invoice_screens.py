"""The invoices screen: filter tabs, inline actions that re-render their row, the invoice page, new invoices."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.billing.invoices import expire_invoice
from app.billing.models import Invoice, InvoiceStatus
from app.db_types import utcnow
from app.ledger.models import Account
from app.ledger.service import balance, check_books
from app.notifications.models import OutboxMessage
from tests.factories import make_customer, make_invoice, make_manual_payment
from tests.screens import htmx, is_fragment, text_of, token_of

pytestmark = pytest.mark.usefixtures("fresh_reads")


def _count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def invoices_by_state(db):
    customer = make_customer(name="Ada Lovelace")
    fresh = make_invoice(customer, amount_minor=1000)
    late = make_invoice(customer, amount_minor=2000, now=utcnow() - timedelta(days=30))
    paid = make_invoice(customer, amount_minor=3000)
    make_manual_payment(paid, "30.00")
    expired = make_invoice(customer, amount_minor=4000, now=utcnow() - timedelta(days=90))
    expire_invoice(expired, actor="test")
    db.session.commit()
    return {"open": fresh, "overdue": late, "paid": paid, "expired": expired}


TABS = {
    "open": ("Open", {"open", "overdue"}),
    "overdue": ("Overdue", {"overdue"}),
    "paid": ("Paid", {"paid"}),
    "expired": ("Expired", {"expired"}),
    "all": ("All", {"open", "overdue", "paid", "expired"}),
}


def test_each_tab_lists_exactly_its_invoices_as_a_fragment(operator_client, invoices_by_state):
    for status, (label, shown) in TABS.items():
        response = operator_client.get(f"/invoices?status={status}", headers=htmx())
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and is_fragment(html), status
        listed = {name for name, inv in invoices_by_state.items() if f'id="invoice-{inv.id}"' in html}
        assert listed == shown, status
        assert f'class="active" aria-current="page">{label}' in html, status


def test_overdue_invoices_carry_an_overdue_badge_and_the_page_opens_on_open(operator_client, invoices_by_state):
    html = operator_client.get("/invoices").get_data(as_text=True)
    late = invoices_by_state["overdue"]
    row = html[html.index(f'id="invoice-{late.id}"') :]
    assert 'badge-overdue">overdue<' in row[: row.index("</tr>")]
    assert "<html" in html and 'hx-target="#invoice-results"' in html


def test_an_unknown_filter_is_a_400_naming_it(operator_client):
    response = operator_client.get("/invoices?status=sideways")
    assert (
        response.status_code == 400
        and "status must be one of open, overdue, paid, expired, all" in response.get_data(as_text=True)
    )


def test_send_queues_the_invoice_email_once_per_deliberate_send_and_rerenders_the_row(operator_client, db):
    invoice = make_invoice(make_customer(email="ada@example.com"), amount_minor=4900)
    token = token_of(operator_client, "/invoices")
    first = operator_client.post(f"/invoices/{invoice.id}/send", data={"n": "1"}, headers=htmx(token))
    again = operator_client.post(f"/invoices/{invoice.id}/send", data={"n": "1"}, headers=htmx(token))  # double click
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and html.lstrip().startswith("<tr") and is_fragment(html)
    assert "queued for ada@example.com" in html and ">Resend<" in html and '"n": "2"' in html
    assert "already sent" in again.get_data(as_text=True)
    messages = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"invoice:sent:{invoice.id}:%"))
    )
    (message,) = messages.all()
    assert message.dedupe_key == f"invoice:sent:{invoice.id}:1" and message.payload["template"] == "invoice"
    assert message.payload["context"]["pay_url"].endswith(f"/pay/{invoice.pay_token}")
    assert message.payload["attachments"] == [{"kind": "invoice_pdf", "invoice_id": invoice.id}]
    assert message.customer_id == invoice.customer_id

    resend = operator_client.post(f"/invoices/{invoice.id}/send", data={"n": "2"}, headers=htmx(token))
    assert resend.status_code == 200
    assert _count(db, OutboxMessage, OutboxMessage.dedupe_key.like(f"invoice:sent:{invoice.id}:%")) == 2
    db.session.refresh(invoice)
    assert invoice.sent_at is not None
    assert _count(db, AuditEntry, AuditEntry.action == "invoice.sent") == 2


def test_void_from_its_row_cancels_what_is_owed_and_rerenders_only_that_row(operator_client, db):
    invoice = make_invoice(amount_minor=4900)
    token = token_of(operator_client, "/invoices")
    response = operator_client.post(f"/invoices/{invoice.id}/void", headers=htmx(token))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith("<tr") and html.count("<tr") == 1
    assert 'badge-void">void<' in html and "voided" in html
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.VOID
    assert balance(Account.RECEIVABLE, "USD") == 0 and check_books() == []


def test_mark_uncollectible_from_its_row_writes_it_off(operator_client, db):
    invoice = make_invoice(amount_minor=4900, now=utcnow() - timedelta(days=40))
    token = token_of(operator_client, "/invoices")
    response = operator_client.post(f"/invoices/{invoice.id}/uncollectible", headers=htmx(token))
    assert response.status_code == 200 and "uncollectible" in response.get_data(as_text=True)
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.UNCOLLECTIBLE
    assert balance(Account.BAD_DEBT, "USD") == 4900 and check_books() == []


def test_an_illegal_move_says_why_and_changes_nothing(operator_client, db):
    invoice = make_invoice(amount_minor=4900)
    make_manual_payment(invoice, "49.00")
    audit_before = _count(db, AuditEntry)
    outbox_before = _count(db, OutboxMessage)
    token = token_of(operator_client, "/invoices")
    for action in ("void", "uncollectible", "send"):
        response = operator_client.post(f"/invoices/{invoice.id}/{action}", data={"n": "1"}, headers=htmx(token))
        html = response.get_data(as_text=True)
        assert response.status_code == 409 and html.lstrip().startswith("<tr"), action
        assert f"Invoice {invoice.number} is paid" in html and 'role="alert"' in html, action
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert (_count(db, AuditEntry), _count(db, OutboxMessage)) == (audit_before, outbox_before)
    assert check_books() == []


def test_destructive_row_actions_ask_for_confirmation(operator_client):
    invoice = make_invoice(amount_minor=4900)
    html = operator_client.get("/invoices").get_data(as_text=True)
    row = html[html.index(f'id="invoice-{invoice.id}"') :]
    assert 'hx-confirm="Void invoice' in row and 'hx-confirm="Mark invoice' in row


def test_actions_posted_as_plain_forms_go_back_to_the_invoice_page_with_a_message(operator_client, db):
    invoice = make_invoice(amount_minor=4900)
    token = token_of(operator_client, f"/invoices/{invoice.id}")
    response = operator_client.post(f"/invoices/{invoice.id}/void", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == f"/invoices/{invoice.id}"
    page = operator_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "voided" in page and "badge-void" in page


def test_invoice_page_shows_lines_totals_payments_refunds_pay_link_and_audit_trail(operator_client, operator, db):
    from app.payments.refunds import record_refund

    invoice = make_invoice(make_customer(name="Ada Lovelace"), amount_minor=10000)
    payment = make_manual_payment(invoice, "60.00", reference="CHK-77", method="check", actor=f"user:{operator.id}")
    record_refund(payment.id, 500, "RF-9", actor=f"user:{operator.id}", reason="goodwill")
    db.session.commit()
    html = operator_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    text = text_of(html)
    assert "Consulting" in text and "$100.00" in text and "$60.00" in text and "$40.00" in text
    assert "CHK-77" in text and "RF-9" in text and "goodwill" in text and "−$5.00" in text
    assert f"/pay/{invoice.pay_token}" in html and 'data-copy-from="#pay-url"' in html
    trail = text[text.index("Audit trail") :]
    assert "invoice.created" in trail and "payment.settled" in trail and "payment.refunded" in trail
    assert "op@example.com" in trail  # who, by name rather than by id
    assert 'id="record-payment"' in html and 'id="refund"' in html


def test_new_invoice_form_creates_an_open_invoice_from_the_filled_lines(operator_client, db):
    customer = make_customer(name="Ada Lovelace", currency="EUR")
    page = operator_client.get(f"/customers/{customer.id}/invoices/new").get_data(as_text=True)
    assert '<option selected value="EUR">' in page or 'value="EUR" selected' in page
    token = token_of(operator_client, f"/customers/{customer.id}/invoices/new")
    response = operator_client.post(
        f"/customers/{customer.id}/invoices/new",
        data={
            "csrf_token": token,
            "currency": "EUR",
            "lines-0-description": "Setup",
            "lines-0-amount": "1,250.50",
            "lines-1-description": "",
            "lines-1-amount": "",
            "lines-2-description": "Support",
            "lines-2-amount": "99",
            "due_days": "30",
            "memo": "Thank you",
        },
    )
    invoice = db.session.scalar(select(Invoice))
    assert response.status_code == 302 and response.headers["Location"] == f"/invoices/{invoice.id}"
    assert (invoice.status, invoice.currency, invoice.amount_due_minor) == (InvoiceStatus.OPEN, "EUR", 134950)
    assert [(line.description, line.amount_minor) for line in invoice.lines] == [("Setup", 125050), ("Support", 9900)]
    assert (invoice.due_at - invoice.issued_at).days == 30 and invoice.memo == "Thank you"
    assert check_books() == []


def test_new_invoice_shows_each_bad_line_under_its_own_field_and_changes_nothing(operator_client, db):
    customer = make_customer()
    token = token_of(operator_client, f"/customers/{customer.id}/invoices/new")
    response = operator_client.post(
        f"/customers/{customer.id}/invoices/new",
        data={
            "csrf_token": token,
            "currency": "USD",
            "lines-0-description": "Too precise",
            "lines-0-amount": "12.345",
            "lines-1-description": "Words",
            "lines-1-amount": "abc",
            "lines-2-description": "Negative",
            "lines-2-amount": "-5",
            "lines-3-description": "",
            "lines-3-amount": "10.00",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in (
        "USD has 2 decimal places; &#39;12.345&#39; has 3",
        "&#39;abc&#39; is not an amount",
        "amount must not be negative",
        "a line needs a description",
    ):
        assert message in html, message
    # each message sits in its own line's field
    assert html.index('name="lines-0-amount"') < html.index("12.345&#39; has 3") < html.index('name="lines-1-amount"')
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_add_line_returns_one_row_and_the_next_add_button_out_of_band(operator_client):
    customer = make_customer()
    response = operator_client.get(f"/customers/{customer.id}/invoices/new/line?index=3", headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and is_fragment(html) and html.count("<tr") == 1
    assert 'name="lines-3-description"' in html and 'name="lines-3-amount"' in html
    assert 'hx-swap-oob="true"' in html and "index=4" in html
    assert operator_client.get(f"/customers/{customer.id}/invoices/new/line?index=x").status_code == 400
