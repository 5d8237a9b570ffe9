"""Declined attempts, dispute flags and trials waived for returning customers."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.billing.models import InvoiceStatus, SubscriptionStatus
from app.billing.subscriptions import start_subscription
from app.ledger.models import LedgerTransaction
from app.ledger.service import check_books
from app.payments.disputes import flag_dispute
from app.payments.failures import FailedPaymentError, record_failed_payment
from app.payments.models import Payment, PaymentStatus, Rail
from tests.factories import make_customer, make_invoice, make_plan, make_settled_payment


def test_a_declined_card_is_kept_with_its_reason_and_moves_no_money(db):
    invoice = make_invoice(amount_minor=4900)
    payment, created = record_failed_payment(
        invoice.id, Rail.CARD, "pi_declined_1", 4900, reason="card_declined: insufficient_funds", actor="test"
    )
    db.session.commit()
    assert created and payment.status == PaymentStatus.FAILED and payment.note == "card_declined: insufficient_funds"
    assert (payment.amount_minor, payment.applied_minor, payment.amount_received_minor) == (4900, 0, 0)
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.OPEN and invoice.amount_paid_minor == 0
    assert db.session.scalar(select(func.count()).where(LedgerTransaction.payment_id == payment.id)) == 0
    assert check_books() == []
    again, created_again = record_failed_payment(
        invoice.id, Rail.CARD, "pi_declined_1", 4900, reason="card_declined: insufficient_funds", actor="test"
    )
    assert not created_again and again.id == payment.id
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1


@pytest.mark.parametrize("amount", [0, -5, True])
def test_a_declined_attempt_needs_a_positive_whole_amount(db, amount):
    invoice = make_invoice()
    with pytest.raises(FailedPaymentError, match="positive integer"):
        record_failed_payment(invoice.id, Rail.CARD, "pi_x", amount, reason="declined", actor="test")
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0


def test_a_dispute_is_flagged_once_with_its_deadline_and_an_audit_entry(db):
    payment = make_settled_payment(make_invoice(), rail="card")
    respond_by = datetime(2026, 12, 1, tzinfo=UTC)
    flag_dispute(payment.id, respond_by=respond_by, actor="test", reason="fraudulent")
    flag_dispute(payment.id, respond_by=respond_by + timedelta(days=3), actor="test", reason="fraudulent")
    db.session.commit()
    db.session.refresh(payment)
    assert payment.disputed and payment.dispute_due_by == respond_by
    assert payment.status == PaymentStatus.SETTLED  # the money moves only when the rail rules
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "payment.disputed")).all()
    assert len(entries) == 1 and entries[0].details["reason"] == "fraudulent"
    assert check_books() == []


def test_a_customer_who_had_their_trial_starts_paying_at_once(db):
    plan = make_plan(trial_days=14)
    trialing, no_invoice = start_subscription(make_customer(), plan, actor="test")
    assert trialing.status == SubscriptionStatus.TRIALING and no_invoice is None
    sub, invoice = start_subscription(make_customer(), plan, actor="test", trial_days=0)
    assert sub.status == SubscriptionStatus.INCOMPLETE and sub.trial_end is None
    assert invoice.amount_due_minor == plan.amount_minor
    with pytest.raises(ValueError, match="must not be negative"):
        start_subscription(make_customer(), plan, actor="test", trial_days=-1)
