"""Stripe disputes (chargebacks) as Stripe shows them now, turned into the rail-neutral facts of
app/payments/disputes.py, which keeps the dispute row and the books.

Stripe reports the money through the dispute's `balance_transactions`: one withdrawal (amount negative, with the
dispute fee in `fee`) when it opens, and a reinstatement when it is won (with a negative fee when Stripe returns the
fee). We book exactly those, keyed by their txn_ ids, rather than assume Stripe's fee rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.money import MoneyError, normalise_currency
from app.payments.disputes import BalanceMovement, DisputeFacts, record_dispute
from app.payments.models import DisputeStatus, Payment, Rail
from app.payments.stripe.outcome import Outcome

#: Stripe's statuses in our three; inquiries (warning_*) and `prevented` never took money
OPEN = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
WON = ("won", "warning_closed", "prevented")
LOST = ("lost",)


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
    status = dispute_status(dispute.get("status"))
    if status is None:
        return Outcome.done(f"dispute {dispute['id']} is {dispute.get('status')}; nothing to change")
    facts = DisputeFacts(
        rail_dispute_id=dispute["id"],
        status=status,
        rail_status=dispute.get("status"),
        amount_minor=int(dispute.get("amount") or 0),
        reason=dispute.get("reason"),
        due_by=_due_by(dispute),
        movements=balance_movements(dispute, payment.currency),
    )
    result = record_dispute(payment, facts, actor=actor)
    text = f"payment {payment.id}: {result.text}"
    return Outcome.unmatched(text) if result.needs_operator else Outcome.done(text)


def dispute_status(stripe_status: str | None) -> DisputeStatus | None:
    if stripe_status in OPEN:
        return DisputeStatus.OPEN
    if stripe_status in WON:
        return DisputeStatus.WON
    if stripe_status in LOST:
        return DisputeStatus.LOST
    return None


def balance_movements(dispute: dict[str, Any], currency: str) -> tuple[BalanceMovement, ...]:
    """The dispute's balance transactions in the payment's currency.

    A balance transaction in the account's settlement currency (a EUR charge on a USD account) is not ours to
    convert: its direction is kept with the disputed amount in the charge currency, and its fee is left out, as
    the fee of such a charge is (app/payments/stripe/intents.py)."""
    movements = []
    disputed = int(dispute.get("amount") or 0)
    for txn in dispute.get("balance_transactions") or []:
        if not isinstance(txn, dict) or not txn.get("id"):
            continue
        amount, fee = int(txn.get("amount") or 0), int(txn.get("fee") or 0)
        if _currency(txn.get("currency")) != currency:
            amount, fee = (-disputed if amount < 0 else disputed if amount > 0 else 0), 0
        movements.append(BalanceMovement(txn["id"], amount, fee))
    return tuple(movements)


def _currency(code: Any) -> str:
    try:
        return normalise_currency(str(code or ""))
    except MoneyError:
        return str(code or "").upper()


def _due_by(dispute: dict[str, Any]) -> datetime | None:
    due = (dispute.get("evidence_details") or {}).get("due_by")
    return datetime.fromtimestamp(int(due), UTC) if due else None
