"""The payments screen, and resolving payments held for review: apply to the invoice, or move to credit."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.billing.invoices import expire_invoice, void_invoice
from app.billing.models import InvoiceStatus
from app.db_types import utcnow
from app.ledger.models import Account
from app.ledger.service import balance, check_books
from app.notifications.models import OutboxMessage
from app.payments.models import PaymentStatus
from tests.factories import make_customer, make_invoice, make_manual_payment
from tests.screens import htmx, is_fragment, token_of

pytestmark = pytest.mark.usefixtures("fresh_reads")


def _held_payment(db, amount="49.00", *, amount_minor=4900, on="expired"):
    customer = make_customer(name="Ada Lovelace")
    invoice = make_invoice(customer, amount_minor=amount_minor, now=utcnow() - timedelta(days=90))
    if on == "expired":
        expire_invoice(invoice, actor="test")
    else:
        void_invoice(invoice, actor="test")
    db.session.commit()
    payment = make_manual_payment(invoice, amount, method="wire", reference=f"LATE-{on}")
    assert payment.status == PaymentStatus.NEEDS_REVIEW
    return invoice, payment


def test_payments_list_shows_rail_amount_status_invoice_and_customer(operator_client, db):
    invoice = make_invoice(make_customer(name="Grace Hopper"), amount_minor=4900)
    make_manual_payment(invoice, "49.00", method="money_order", reference="MO-1")
    _, held = _held_payment(db)
    html = operator_client.get("/payments").get_data(as_text=True)
    row = html[html.index("MO-1") :]
    row = row[: row.index("</tr>")]
    assert "$49.00" in row and "badge-settled" in row and f"#{invoice.number}" in row and "Grace Hopper" in row
    assert f'id="payment-{held.id}" class="row-review' in html  # held payments stand out
    assert 'class="count count-warn">1<' in html


def test_needs_review_filter_answers_with_only_held_payments_as_a_fragment(operator_client, db):
    make_manual_payment(make_invoice(amount_minor=1000), "10.00", reference="ON-TIME")
    _, held = _held_payment(db)
    response = operator_client.get("/payments?status=needs_review", headers=htmx())
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and is_fragment(html)
    assert "LATE-expired" in html and "ON-TIME" not in html
    assert operator_client.get("/payments?status=nope").status_code == 400


def test_applying_a_held_payment_reopens_the_expired_invoice_and_pays_it(operator_client, operator, db):
    invoice, payment = _held_payment(db)
    token = token_of(operator_client, "/payments")
    response = operator_client.post(f"/payments/{payment.id}/apply", headers=htmx(token))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith("<tr") and "now paid" in html
    db.session.refresh(invoice)
    db.session.refresh(payment)
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid_minor == 4900
    assert payment.status == PaymentStatus.SETTLED and payment.applied_minor == 4900
    assert balance(Account.SUSPENSE, "USD") == 0 and balance(Account.CASH_WIRE, "USD") == 4900
    assert balance(Account.REVENUE, "USD") == -4900 and balance(Account.RECEIVABLE, "USD") == 0
    assert check_books() == []
    actors = db.session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "payment.review_apply")).all()
    assert actors == [f"user:{operator.id}"]
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"receipt:payment:{payment.id}"))


def test_a_smaller_held_payment_leaves_the_reopened_invoice_partly_paid(operator_client, db):
    invoice, payment = _held_payment(db, "20.00")
    token = token_of(operator_client, "/payments")
    response = operator_client.post(f"/payments/{payment.id}/apply", headers=htmx(token))
    assert "partly paid" in response.get_data(as_text=True)
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.OPEN and invoice.amount_remaining_minor == 2900
    assert balance(Account.RECEIVABLE, "USD", invoice.customer_id) == 2900 and check_books() == []


def test_moving_a_held_payment_to_credit_gives_the_customer_credit(operator_client, db):
    invoice, payment = _held_payment(db, on="void")
    token = token_of(operator_client, "/payments")
    row = operator_client.get("/payments?status=needs_review").get_data(as_text=True)
    assert "Apply to invoice" not in row  # a void invoice cannot take money
    response = operator_client.post(f"/payments/{payment.id}/credit", headers=htmx(token))
    assert response.status_code == 200 and "moved to the customer&#39;s credit" in response.get_data(as_text=True)
    db.session.refresh(payment)
    db.session.refresh(invoice.customer)
    assert payment.status == PaymentStatus.CREDITED
    assert invoice.customer.credit_balance_minor == 4900
    assert balance(Account.CUSTOMER_CREDIT, "USD", invoice.customer_id) == -4900
    assert balance(Account.SUSPENSE, "USD") == 0 and check_books() == []


def test_resolving_a_payment_twice_says_it_is_no_longer_held_and_changes_nothing(operator_client, db):
    _, payment = _held_payment(db)
    token = token_of(operator_client, "/payments")
    assert operator_client.post(f"/payments/{payment.id}/credit", headers=htmx(token)).status_code == 200
    audit_before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    for second in ("apply", "credit", "return"):
        response = operator_client.post(f"/payments/{payment.id}/{second}", headers=htmx(token))
        html = response.get_data(as_text=True)
        assert response.status_code == 409 and "is credited, not waiting for review" in html, second
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == audit_before
    assert check_books() == []


def test_a_held_payment_for_a_void_invoice_cannot_be_applied(operator_client, db):
    invoice, payment = _held_payment(db, on="void")
    token = token_of(operator_client, "/payments")
    response = operator_client.post(f"/payments/{payment.id}/apply", headers=htmx(token))
    assert response.status_code == 409 and "is void; move the payment to credit instead" in response.get_data(
        as_text=True
    )
    db.session.refresh(payment)
    assert payment.status == PaymentStatus.NEEDS_REVIEW and check_books() == []


def test_returning_a_held_payment_records_the_refund_with_the_operators_reference(operator_client, db):
    _, payment = _held_payment(db)
    token = token_of(operator_client, "/payments")
    refused = operator_client.post(f"/payments/{payment.id}/return", headers=htmx(token))
    assert refused.status_code == 409 and "needs the reference" in refused.get_data(as_text=True)
    response = operator_client.post(
        f"/payments/{payment.id}/return", headers=htmx(token, **{"HX-Prompt": "OUT-2024-77"})
    )
    assert response.status_code == 200 and "recorded as returned (ref OUT-2024-77)" in response.get_data(as_text=True)
    db.session.refresh(payment)
    assert payment.status == PaymentStatus.REFUNDED and payment.refunds[0].rail_refund_id == "OUT-2024-77"
    assert balance(Account.SUSPENSE, "USD") == 0 and balance(Account.CASH_WIRE, "USD") == 0 and check_books() == []
