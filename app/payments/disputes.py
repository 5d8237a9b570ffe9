"""Disputes (chargebacks): a rail tells us a payment is contested; the books follow the money the rail moves.

The accounting (debit positive; `cash` is the payment's rail account, e.g. cash:card):
- the rail withdraws the disputed amount A and a dispute fee F: Dr disputed_funds A, Cr cash A; Dr fees F, Cr cash F
- the rail reinstates the amount (won) and returns the fee if it does: Dr cash A, Cr disputed_funds A; Dr cash F,
  Cr fees F. Each of these is one posting per movement of the rail's balance (Stripe: a balance transaction),
  keyed by its id, so a repeated or late report never moves money twice and the books follow what the rail did,
  not what we assume it does (Stripe's fee rules differ by country and year).
- lost: what is still held becomes a refund to the customer, taken from disputed funds, not from cash again:
  Dr refunds (contra revenue; customer credit first for an overpaid surplus), Cr disputed_funds.
The `disputes` table keeps the totals of these movements; `flask ledger check` compares them with the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.access.events import emit_event
from app.audit.service import record_audit
from app.customers.models import Customer
from app.db_types import utcnow
from app.extensions import db
from app.ledger.models import Account
from app.ledger.service import Line, post
from app.money import format_money, to_decimal_string
from app.payments.dispute_notices import queue_dispute_closed, queue_dispute_opened
from app.payments.models import Dispute, DisputeStatus, Payment
from app.payments.refunds import RefundError, record_refund


class DisputeError(ValueError):
    pass


class IllegalDisputeMove(DisputeError):
    """A closed dispute stays closed: a report saying otherwise is older than what we already know."""


#: rail statuses of an open dispute whose evidence was sent: the bank decides, nothing is asked of the operator
EVIDENCE_SENT = ("under_review", "warning_under_review")

#: (from, to) moves a dispute may make; staying where it is is always allowed
MOVES = {
    (DisputeStatus.OPEN, DisputeStatus.WON),
    (DisputeStatus.OPEN, DisputeStatus.LOST),
}


@dataclass(frozen=True)
class BalanceMovement:
    """Money the rail moved on our balance because of the dispute, in the payment's currency."""

    #: the movement's id on the rail (Stripe: the balance transaction txn_...)
    rail_id: str
    #: signed as the rail shows it: negative when taken from us, positive when given back
    amount_minor: int
    #: dispute fee: positive when charged to us, negative when returned
    fee_minor: int = 0


@dataclass(frozen=True)
class DisputeFacts:
    """A dispute as the rail shows it now."""

    rail_dispute_id: str
    status: DisputeStatus
    amount_minor: int
    rail_status: str | None = None
    reason: str | None = None
    due_by: datetime | None = None
    movements: tuple[BalanceMovement, ...] = ()


@dataclass(frozen=True)
class DisputeResult:
    dispute: Dispute
    #: one sentence for the operator (the Stripe events screen shows it)
    text: str
    #: something the operator must book by hand (the lost money could not become a refund)
    needs_operator: bool = False


def record_dispute(payment: Payment, facts: DisputeFacts, *, actor: str) -> DisputeResult:
    """Brings our dispute row and the books to the rail's current state. `payment` is locked by the caller.

    Idempotent: any number of reports of the same state, in any order, end in the same books."""
    dispute, created = _dispute_row(payment, facts)
    said: list[str] = []
    if created:
        record_audit(
            "payment.disputed",
            payment,
            actor=actor,
            dispute=facts.rail_dispute_id,
            reason=facts.reason,
            amount_minor=facts.amount_minor,
            due_by=facts.due_by.isoformat() if facts.due_by else None,
        )
        said.append(f"dispute {dispute.rail_dispute_id} ({facts.reason or 'no reason given'}) recorded")
    said += _apply_movements(dispute, payment, facts.movements, actor)
    if created:
        emit_event("payment.disputed", dispute_payload(dispute, payment), event_key=f"payment.disputed:{dispute.id}")
    if created and facts.status == DisputeStatus.OPEN:
        queue_dispute_opened(dispute, payment)
    said += _follow_status(dispute, payment, facts, actor)
    needs_operator = False
    if dispute.status == DisputeStatus.LOST and dispute.refund_id is None:
        text, needs_operator = _refund_lost(dispute, payment, actor)
        said.append(text)
    _flag_payment(payment, dispute)
    if not said:
        said.append(f"dispute {dispute.rail_dispute_id} is {dispute.status.value}; already in the books")
    return DisputeResult(dispute, "; ".join(said), needs_operator)


def _dispute_row(payment: Payment, facts: DisputeFacts) -> tuple[Dispute, bool]:
    existing = db.session.scalar(select(Dispute).where(Dispute.rail_dispute_id == facts.rail_dispute_id))
    if existing is not None:
        return existing, False
    dispute = Dispute(
        payment_id=payment.id,
        customer_id=payment.customer_id,
        rail_dispute_id=facts.rail_dispute_id,
        status=DisputeStatus.OPEN,
        rail_status=facts.rail_status,
        reason=facts.reason,
        amount_minor=facts.amount_minor,
        currency=payment.currency,
        withdrawn_minor=0,
        reinstated_minor=0,
        fee_minor=0,
        due_by=facts.due_by,
    )
    try:
        with db.session.begin_nested():
            db.session.add(dispute)
    except IntegrityError:
        return db.session.scalar(select(Dispute).where(Dispute.rail_dispute_id == facts.rail_dispute_id)), False
    return dispute, True


def _apply_movements(dispute: Dispute, payment: Payment, movements: tuple[BalanceMovement, ...], actor: str) -> list:
    said = []
    cash = Account.cash_for(payment.rail.value)
    for movement in movements:
        amount, fee = movement.amount_minor, movement.fee_minor
        txn = post(
            "dispute.withdrawn" if amount < 0 else "dispute.reinstated",
            f"dispute:{dispute.id}:{movement.rail_id}",
            dispute.currency,
            [
                Line(Account.DISPUTED_FUNDS, -amount),
                Line(cash, amount),
                Line(Account.FEES, fee),
                Line(cash, -fee),
            ],
            payment_id=payment.id,
            invoice_id=payment.invoice_id,
            customer_id=payment.customer_id,
            description=f"Dispute {dispute.rail_dispute_id} of {payment.rail.value} payment {payment.rail_payment_id}",
        )
        if txn is None:
            continue  # posted before (or nothing moved): the totals already hold it
        dispute.withdrawn_minor += max(0, -amount)
        dispute.reinstated_minor += max(0, amount)
        dispute.fee_minor += fee
        record_audit(
            "payment.dispute_funds_moved",
            payment,
            actor=actor,
            dispute=dispute.rail_dispute_id,
            movement=movement.rail_id,
            amount_minor=amount,
            fee_minor=fee,
        )
        said.append(_movement_text(amount, fee, dispute.currency))
    return said


def _movement_text(amount: int, fee: int, currency: str) -> str:
    parts = []
    if amount:
        parts.append(f"{format_money(abs(amount), currency)} {'withdrawn' if amount < 0 else 'reinstated'}")
    if fee:
        parts.append(f"fee {format_money(abs(fee), currency)} {'charged' if fee > 0 else 'returned'}")
    return ", ".join(parts)


def _follow_status(dispute: Dispute, payment: Payment, facts: DisputeFacts, actor: str) -> list[str]:
    if dispute.status == DisputeStatus.OPEN and facts.status == DisputeStatus.OPEN:
        if (dispute.due_by, dispute.rail_status) != (facts.due_by, facts.rail_status):
            dispute.due_by, dispute.rail_status = facts.due_by, facts.rail_status
            return [f"now {facts.rail_status}, evidence due {_when(facts.due_by)}"]
        return []
    try:
        moved = move_dispute(dispute, facts.status)
    except IllegalDisputeMove as exc:
        return [str(exc)]
    if not moved:
        return []
    dispute.rail_status = facts.rail_status
    record_audit(
        f"payment.dispute_{dispute.status.value}",
        payment,
        actor=actor,
        dispute=dispute.rail_dispute_id,
        status=facts.rail_status,
    )
    queue_dispute_closed(dispute, payment)
    emit_event(
        "payment.dispute_closed",
        dispute_payload(dispute, payment),
        event_key=f"payment.dispute_closed:{dispute.id}",
    )
    return [f"closed: {dispute.status.value}"]


def dispute_payload(dispute: Dispute, payment: Payment) -> dict:
    """What the operator's product hears about a dispute (outbound webhooks)."""
    return {
        "dispute": dispute.rail_dispute_id,
        "payment_id": payment.id,
        "invoice_id": payment.invoice_id,
        "customer": db.session.get(Customer, payment.customer_id).external_id,
        "rail": payment.rail.value,
        "amount": to_decimal_string(dispute.amount_minor, dispute.currency),
        "currency": dispute.currency,
        "reason": dispute.reason,
        "outcome": dispute.status.value,
        "evidence_due": dispute.due_by.isoformat() if dispute.due_by else None,
    }


def move_dispute(dispute: Dispute, to: DisputeStatus) -> bool:
    """True when the dispute moved; raises IllegalDisputeMove for a move the MOVES table does not allow."""
    if dispute.status == to:
        return False
    if (dispute.status, to) not in MOVES:
        raise IllegalDisputeMove(
            f"dispute {dispute.rail_dispute_id} was already closed as {dispute.status.value}; a report of "
            f"{to.value} changes nothing"
        )
    dispute.status = to
    dispute.due_by = None
    dispute.closed_at = utcnow()
    return True


def _refund_lost(dispute: Dispute, payment: Payment, actor: str) -> tuple[str, bool]:
    """What the rail still holds becomes the customer's refund (Refund named by the dispute id)."""
    held = dispute.withdrawn_minor - dispute.reinstated_minor
    amount = min(held, payment.amount_minor - payment.refunded_minor)
    if amount <= 0:
        return "nothing held for it to refund", False
    try:
        refund, _ = record_refund(
            payment.id,
            amount,
            dispute.rail_dispute_id,
            actor=actor,
            reason="dispute lost",
            from_account=Account.DISPUTED_FUNDS,
        )
    except RefundError as exc:
        return f"booking the lost {format_money(amount, dispute.currency)} failed: {exc}; book it by hand", True
    dispute.refund_id = refund.id
    return f"{format_money(amount, dispute.currency)} taken back: refunded from disputed funds", False


def _flag_payment(payment: Payment, dispute: Dispute) -> None:
    """The payment's own flags (invoice page badge, dashboard count) mirror its dispute."""
    payment.disputed = dispute.status != DisputeStatus.WON
    payment.dispute_due_by = dispute.due_by if dispute.status == DisputeStatus.OPEN else None


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "(no deadline given)"


def flag_dispute(payment_id: int, *, respond_by: datetime, actor: str, reason: str | None = None) -> Payment:
    """A dispute known only by its deadline (no rail report of money moved): the money moves when the rail rules."""
    payment = db.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
    if payment is None:
        raise DisputeError(f"no payment {payment_id}")
    if payment.disputed:
        return payment
    facts = DisputeFacts(
        rail_dispute_id=f"flag:{payment.id}",
        status=DisputeStatus.OPEN,
        amount_minor=payment.amount_minor - payment.refunded_minor,
        reason=reason,
        due_by=respond_by,
    )
    record_dispute(payment, facts, actor=actor)
    return payment


def customer_disputes(customer_id: int) -> list[Dispute]:
    """A customer's disputes: open ones first, soonest deadline first, then closed ones newest first."""
    return list(
        db.session.scalars(
            select(Dispute)
            .options(joinedload(Dispute.payment).joinedload(Payment.invoice))
            .where(Dispute.customer_id == customer_id)
            .order_by(case((Dispute.status == DisputeStatus.OPEN, 0), else_=1), Dispute.due_by, Dispute.id.desc())
        )
    )


def open_disputes() -> list[Dispute]:
    """Every open dispute, soonest deadline first."""
    return list(
        db.session.scalars(
            select(Dispute)
            .options(joinedload(Dispute.payment).joinedload(Payment.invoice))
            .where(Dispute.status == DisputeStatus.OPEN)
            .order_by(Dispute.due_by, Dispute.id)
        )
    )
