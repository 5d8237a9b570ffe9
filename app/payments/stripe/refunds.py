"""Card refunds: the operator asks Stripe to give money back; once Stripe confirms a refund it enters the books
through record_refund with Stripe's re_... id, whichever path confirms it first (the answer, a webhook, the sweep)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy import select

from app.audit.service import record_audit
from app.extensions import db
from app.money import format_money
from app.payments.models import Payment, PaymentStatus, Rail, Refund
from app.payments.refunds import RefundError, record_refund
from app.payments.stripe.client import CardRailUnavailable, stripe_client
from app.payments.stripe.outcome import Outcome

REFUNDABLE = (PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED)
#: the form's one-time key: a double submission of the same form is one refund at Stripe
_REQUEST_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class CardRefundError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CardRefundResult:
    refund_id: str
    #: Stripe's status: "succeeded" (in the books now), "pending" (in the books when Stripe confirms)
    status: str
    message: str


def card_payment(payment_id: int) -> Payment | None:
    payment = db.session.get(Payment, payment_id)
    return payment if payment is not None and payment.rail == Rail.CARD else None


def refundable_minor(payment: Payment) -> int:
    return payment.amount_minor - payment.refunded_minor if payment.status in REFUNDABLE else 0


def refund_card_payment(payment_id: int, amount_minor: int, *, actor: str, request_key: str) -> CardRefundResult:
    payment = card_payment(payment_id)
    if payment is None:
        raise CardRefundError("payment", f"no card payment {payment_id}")
    if payment.status not in REFUNDABLE:
        raise CardRefundError("payment", f"payment {payment.id} is {payment.status}; it cannot be refunded")
    if payment.disputed:
        raise CardRefundError("payment", "this payment is disputed: Stripe does not refund a disputed charge")
    left = refundable_minor(payment)
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor <= 0:
        raise CardRefundError("amount", "the refund amount must be greater than zero")
    if amount_minor > left:
        raise CardRefundError("amount", f"at most {format_money(left, payment.currency)} is left to refund")
    if not _REQUEST_KEY.match(request_key or ""):
        raise CardRefundError("request_key", "the form's request key is missing; reload the page and try again")
    try:
        refund = (
            stripe_client()
            .v1.refunds.create(
                params={
                    "payment_intent": payment.rail_payment_id,
                    "amount": amount_minor,
                    "metadata": {"advancia_payment": str(payment.id)},
                },
                options={"idempotency_key": f"advancia-refund:{payment.id}:{request_key}"},
            )
            .to_dict()
        )
    except CardRailUnavailable as exc:
        raise CardRefundError("stripe", str(exc)) from exc
    except stripe.InvalidRequestError as exc:
        raise CardRefundError("amount", f"Stripe refused the refund: {exc.user_message or exc}") from exc
    except stripe.StripeError as exc:
        raise CardRefundError("stripe", f"Stripe did not answer the refund: {exc.user_message or exc}") from exc
    money = format_money(refund["amount"], payment.currency)
    if _already_recorded(payment, refund["id"]):
        return CardRefundResult(refund["id"], refund["status"], f"Refund {refund['id']} of {money} is already in.")
    record_audit(
        "payment.card_refund_requested",
        payment,
        actor=actor,
        refund=refund["id"],
        amount_minor=refund["amount"],
        status=refund["status"],
    )
    apply_stripe_refunds(payment.rail_payment_id, [refund], actor=actor)
    if refund["status"] == "succeeded":
        return CardRefundResult(refund["id"], "succeeded", f"Refunded {money} to the card ({refund['id']}).")
    return CardRefundResult(
        refund["id"],
        refund["status"],
        f"Stripe accepted the refund of {money} ({refund['id']}, {refund['status']}); it enters the books when "
        "Stripe confirms it.",
    )


def _already_recorded(payment: Payment, refund_id: str) -> bool:
    return (
        db.session.scalar(select(Refund.id).where(Refund.payment_id == payment.id, Refund.rail_refund_id == refund_id))
        is not None
    )


def apply_stripe_refunds(payment_intent_id: str, refunds: list[dict[str, Any]], *, actor: str) -> Outcome:
    """Stripe's refunds of one PaymentIntent as they are now: every succeeded one is recorded once."""
    payment = db.session.scalar(
        select(Payment).where(Payment.rail == Rail.CARD, Payment.rail_payment_id == payment_intent_id)
    )
    if payment is None:
        return Outcome.unmatched(f"refund of PaymentIntent {payment_intent_id}, which is not a payment in our books")
    recorded, known, notes = [], 0, []
    for refund in sorted(refunds, key=lambda r: (r.get("created") or 0, r["id"])):
        if refund.get("status") != "succeeded":
            notes.append(f"{refund['id']} is {refund.get('status')}")
            continue
        try:
            _, created = record_refund(
                payment.id, int(refund["amount"]), refund["id"], actor=actor, reason=refund.get("reason")
            )
        except RefundError as exc:
            return Outcome.unmatched(f"refund {refund['id']} could not be recorded on payment {payment.id}: {exc}")
        if created:
            recorded.append(f"{refund['id']} ({format_money(int(refund['amount']), payment.currency)})")
        else:
            known += 1
    parts = [f"recorded refund {', '.join(recorded)}"] if recorded else []
    if known:
        parts.append(f"{known} refund{'s' if known > 1 else ''} already recorded")
    parts += notes
    return Outcome.done("; ".join(parts) or f"no refunds on PaymentIntent {payment_intent_id}")
