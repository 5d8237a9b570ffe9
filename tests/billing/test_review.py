"""Held payments: the operator applies, credits or returns them; the books follow."""

import pytest

from app.billing.invoices import expire_invoice
from app.billing.models import InvoiceStatus
from app.ledger.models import Account
from app.ledger.service import balance, check_books
from app.payments.models import PaymentStatus, Rail
from app.payments.review import Resolution, ReviewError, resolve_held_payment
from tests.billing.test_settlement import cash, settle
from tests.factories import make_invoice


@pytest.fixture
def held(db):
    invoice = make_invoice(amount_minor=4900)
    expire_invoice(invoice, actor="test")
    db.session.commit()
    payment = settle(invoice, cash("LATE", 5000, rail=Rail.WIRE)).payment
    assert payment.status == PaymentStatus.NEEDS_REVIEW
    return invoice, payment


def test_applying_a_late_payment_reopens_and_pays_the_invoice(db, held):
    invoice, payment = held
    resolve_held_payment(payment.id, Resolution.APPLY, actor="user:1")
    db.session.commit()
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.PAID and payment.status == PaymentStatus.SETTLED
    assert payment.applied_minor == 4900 and invoice.customer.credit_balance_minor == 100
    assert balance(Account.SUSPENSE, "USD") == 0
    assert check_books() == []


def test_a_partly_paid_reopened_invoice_gets_a_fresh_expiry_and_the_next_run_leaves_it_open(db):
    from datetime import timedelta

    from app.billing.reminders import expire_stale_invoices
    from app.db_types import utcnow

    invoice = make_invoice(amount_minor=4900)
    invoice.expires_at = utcnow() - timedelta(days=1)
    assert expire_stale_invoices(utcnow())["invoices_expired"] == 1  # the job expired it
    db.session.refresh(invoice)
    payment = settle(invoice, cash("LATE-PART", 2000, rail=Rail.WIRE)).payment
    resolve_held_payment(payment.id, Resolution.APPLY, actor="user:1")
    db.session.commit()
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.OPEN and invoice.amount_remaining_minor == 2900
    assert invoice.expires_at > utcnow()
    assert expire_stale_invoices(utcnow())["invoices_expired"] == 0
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.OPEN and check_books() == []


def test_moving_a_held_payment_to_credit(db, held):
    invoice, payment = held
    resolve_held_payment(payment.id, Resolution.CREDIT, actor="user:1")
    db.session.commit()
    assert payment.status == PaymentStatus.CREDITED and invoice.customer.credit_balance_minor == 5000
    assert invoice.status == InvoiceStatus.EXPIRED
    assert check_books() == []


def test_returning_a_held_payment_needs_a_reference_and_empties_suspense(db, held):
    _, payment = held
    with pytest.raises(ReviewError, match="reference"):
        resolve_held_payment(payment.id, Resolution.REFUND, actor="user:1")
    db.session.rollback()
    resolve_held_payment(payment.id, Resolution.REFUND, actor="user:1", reference="WIRE-BACK-1")
    db.session.commit()
    assert payment.status == PaymentStatus.REFUNDED
    assert balance(Account.SUSPENSE, "USD") == 0 and balance(Account.CASH_WIRE, "USD") == 0
    assert check_books() == []


def test_a_resolved_payment_cannot_be_resolved_again(db, held):
    _, payment = held
    resolve_held_payment(payment.id, Resolution.CREDIT, actor="user:1")
    db.session.commit()
    with pytest.raises(ReviewError, match="not waiting"):
        resolve_held_payment(payment.id, Resolution.APPLY, actor="user:1")


def test_a_reopened_invoice_that_expires_again_releases_what_is_still_owed_again(db):
    """Found by the ledger property test: the second expiry of an invoice reused the first one's ledger key, so
    what the reopening had put back in receivables stayed there."""
    from datetime import timedelta

    from app.billing.reminders import expire_stale_invoices

    invoice = make_invoice(amount_minor=4900)
    expire_invoice(invoice, actor="test")
    db.session.commit()
    payment = settle(invoice, cash("LATE-1", 2000, rail=Rail.WIRE)).payment
    resolve_held_payment(payment.id, Resolution.APPLY, actor="user:1")
    db.session.commit()
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.OPEN and balance(Account.RECEIVABLE, "USD") == 2900
    assert expire_stale_invoices(invoice.expires_at + timedelta(seconds=1))["invoices_expired"] == 1
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.EXPIRED and balance(Account.RECEIVABLE, "USD") == 0
    assert check_books() == []
