"""Disputes (chargebacks): flagged on the payment with the evidence deadline while open; cleared when won; when
lost, the disputed amount leaves the books as a refund named by the dispute id (du_...)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.audit.service import record_audit
from app.extensions import db
from app.money import format_money
from app.payments.models import Payment, PaymentStatus, Rail
from app.payments.refunds import RefundError, record_refund
from app.payments.stripe.outcome import Outcome

OPEN = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
WON = ("won", "warning_closed", "prevented")


def apply_dispute(dispute: dict[str, Any], *, actor: str) -> Outcome:
    """`dispute` as Stripe shows it now (its status decides, not the event that brought it)."""
    payment = db.session.scalar(
        select(Payment)
        .where(Payment.rail == Rail.CARD, Payment.rail_payment_id == (dispute.get("payment_intent") or ""))
        .with_for_update()
    )
    if payment is None:
        return Outcome.unmatched(
            f"dispute {dispute['id']} on PaymentIntent {dispute.get('payment_intent')}, which is not in our books"
        )
    status = dispute.get("status")
    if status in OPEN:
        return _open(payment, dispute, actor)
    if status in WON:
        if not payment.disputed and payment.dispute_due_by is None:
            return Outcome.done(f"dispute {dispute['id']} {status}; payment {payment.id} was not flagged")
        payment.disputed, payment.dispute_due_by = False, None
        record_audit("payment.dispute_won", payment, actor=actor, dispute=dispute["id"], status=status)
        return Outcome.done(f"dispute {dispute['id']} {status}: payment {payment.id} keeps its money")
    if status == "lost":
        return _lost(payment, dispute, actor)
    return Outcome.done(f"dispute {dispute['id']} is {status}; nothing to change")


def _open(payment: Payment, dispute: dict[str, Any], actor: str) -> Outcome:
    due_by = _due_by(dispute)
    when = f"evidence due {due_by:%Y-%m-%d %H:%M} UTC" if due_by else "no evidence deadline given"
    if payment.disputed and payment.dispute_due_by == due_by:
        return Outcome.done(f"dispute {dispute['id']} already flagged on payment {payment.id} ({when})")
    payment.disputed, payment.dispute_due_by = True, due_by
    record_audit(
        "payment.disputed",
        payment,
        actor=actor,
        dispute=dispute["id"],
        reason=dispute.get("reason"),
        amount_minor=dispute.get("amount"),
        due_by=due_by.isoformat() if due_by else None,
    )
    return Outcome.done(f"dispute {dispute['id']} ({dispute.get('reason')}) flagged on payment {payment.id}: {when}")


def _lost(payment: Payment, dispute: dict[str, Any], actor: str) -> Outcome:
    amount = min(int(dispute.get("amount") or 0), payment.amount_minor - payment.refunded_minor)
    taken = ""
    if amount > 0 and payment.status in (PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED):
        try:
            _, created = record_refund(payment.id, amount, dispute["id"], actor=actor, reason="dispute lost")
        except RefundError as exc:
            return Outcome.unmatched(f"dispute {dispute['id']} lost; booking it on payment {payment.id} failed: {exc}")
        taken = f"{format_money(amount, payment.currency)} taken back" if created else "already booked"
    changed = not payment.disputed or payment.dispute_due_by is not None
    payment.disputed, payment.dispute_due_by = True, None
    if changed or taken.endswith("back"):
        record_audit("payment.dispute_lost", payment, actor=actor, dispute=dispute["id"], amount_minor=amount)
    return Outcome.done(f"dispute {dispute['id']} lost on payment {payment.id}: {taken or 'nothing left to take back'}")


def _due_by(dispute: dict[str, Any]) -> datetime | None:
    due = (dispute.get("evidence_details") or {}).get("due_by")
    return datetime.fromtimestamp(int(due), UTC) if due else None


def open_disputes(customer_id: int | None = None) -> list[Payment]:
    """Payments under an open dispute, soonest deadline first (for the customer page and the dashboard)."""
    query = select(Payment).where(Payment.disputed.is_(True), Payment.dispute_due_by.is_not(None))
    if customer_id is not None:
        query = query.where(Payment.customer_id == customer_id)
    return list(db.session.scalars(query.order_by(Payment.dispute_due_by)))
