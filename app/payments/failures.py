"""Attempts that moved no money (a declined card): kept for the operator's eye, never in the books."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit.service import record_audit
from app.billing.models import Invoice
from app.db_types import utcnow
from app.extensions import db
from app.payments.models import Payment, PaymentStatus, Rail


class FailedPaymentError(ValueError):
    pass


def record_failed_payment(
    invoice_id: int,
    rail: Rail,
    rail_payment_id: str,
    amount_minor: int,
    *,
    reason: str,
    actor: str,
    at: datetime | None = None,
) -> tuple[Payment, bool]:
    """A FAILED payment row for the attempt; (payment, created). Idempotent on (rail, rail_payment_id).

    Nothing is applied and nothing is posted: the ledger's checks count only applied statuses."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise FailedPaymentError(f"no invoice {invoice_id}")
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor <= 0:
        raise FailedPaymentError("the attempted amount must be a positive integer of minor units")
    if not rail_payment_id or len(rail_payment_id) > 200:
        raise FailedPaymentError("rail_payment_id is required (at most 200 characters)")
    payment = Payment(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        rail=rail,
        rail_payment_id=rail_payment_id,
        status=PaymentStatus.FAILED,
        amount_received_minor=0,
        currency_received=invoice.currency,
        amount_minor=amount_minor,
        currency=invoice.currency,
        received_at=at or utcnow(),
        note=reason,
        recorded_by=actor,
    )
    try:
        with db.session.begin_nested():
            db.session.add(payment)
    except IntegrityError:
        existing = db.session.scalar(
            select(Payment).where(Payment.rail == rail, Payment.rail_payment_id == rail_payment_id)
        )
        if existing is None:
            raise
        return existing, False
    record_audit("payment.failed", payment, actor=actor, invoice=invoice.number, rail=rail.value, reason=reason)
    return payment, True
