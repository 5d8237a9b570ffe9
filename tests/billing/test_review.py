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
