"""Disputes (chargebacks): the rail tells us a payment is contested; the operator answers by a deadline."""

from __future__ import annotations

from datetime import datetime

from app.audit.service import record_audit
from app.extensions import db
from app.payments.models import Payment


class DisputeError(ValueError):
    pass


def flag_dispute(payment_id: int, *, respond_by: datetime, actor: str, reason: str | None = None) -> Payment:
    """Marks the payment disputed with its response deadline. The money moves only when the rail rules."""
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        raise DisputeError(f"no payment {payment_id}")
    if payment.disputed:
        return payment
    payment.disputed = True
    payment.dispute_due_by = respond_by
    record_audit("payment.disputed", payment, actor=actor, reason=reason, respond_by=respond_by.isoformat())
    return payment
