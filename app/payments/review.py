"""Payments held for the operator's review (late, or for an invoice that can no longer take them): apply, credit,
or refund. The money sits in suspense until one of these moves it."""

from __future__ import annotations

import enum

from sqlalchemy import select

from app.audit.service import record_audit
from app.billing.invoices import invoice_for_update, reopen_invoice
from app.billing.models import InvoiceStatus
from app.customers.models import Customer
from app.extensions import db
from app.ledger.models import Account
from app.ledger.service import Line, post
from app.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from app.payments.settlement import SettlementOutcome, _apply


class Resolution(enum.StrEnum):
    APPLY = "apply"
    CREDIT = "credit"
    REFUND = "refund"


class ReviewError(ValueError):
    pass


def resolve_held_payment(
    payment_id: int, resolution: Resolution, *, actor: str, reference: str | None = None
) -> SettlementOutcome | PaymentStatus:
    payment = db.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
    if payment is None:
        raise ReviewError(f"no payment {payment_id}")
    if payment.status != PaymentStatus.NEEDS_REVIEW:
        raise ReviewError(f"payment {payment.id} is {payment.status.value}, not waiting for review")
    resolution = Resolution(resolution)
    record_audit(f"payment.review_{resolution.value}", payment, actor=actor, reason=payment.review_reason)
    if resolution == Resolution.APPLY:
        return _apply_to_invoice(payment, actor)
    if resolution == Resolution.CREDIT:
        return _move_to_credit(payment)
    return _refund_held(payment, actor, reference)


def _apply_to_invoice(payment: Payment, actor: str) -> SettlementOutcome:
    invoice = invoice_for_update(payment.invoice_id) if payment.invoice_id else None
    if invoice is None:
        raise ReviewError("this payment has no invoice to apply to; move it to credit or refund it")
    if invoice.status in (InvoiceStatus.EXPIRED, InvoiceStatus.UNCOLLECTIBLE):
        reopen_invoice(invoice, actor=actor)
    if invoice.status != InvoiceStatus.OPEN:
        raise ReviewError(f"invoice {invoice.number} is {invoice.status.value}; move the payment to credit instead")
    payment.review_reason = None
    return _apply(invoice, payment, actor, released_from_review=True)


def _move_to_credit(payment: Payment) -> PaymentStatus:
    customer = db.session.get(Customer, payment.customer_id)
    post(
        "payment.credited",
        f"payment.credited:{payment.id}",
        payment.currency,
        [
            Line(Account.SUSPENSE, payment.amount_minor),
            Line(Account.CUSTOMER_CREDIT, -payment.amount_minor, customer.id),
        ],
        payment_id=payment.id,
        customer_id=customer.id,
        description="Held payment moved to customer credit",
    )
    if payment.currency == customer.preferred_currency:
        customer.credit_balance_minor += payment.amount_minor
    payment.status = PaymentStatus.CREDITED
    return payment.status


def _refund_held(payment: Payment, actor: str, reference: str | None) -> PaymentStatus:
    if not reference:
        raise ReviewError("a refund needs the reference of the money sent back")
    refund = Refund(
        payment_id=payment.id,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        status=RefundStatus.SUCCEEDED,
        rail_refund_id=reference,
        reason="held payment returned",
        recorded_by=actor,
    )
    db.session.add(refund)
    db.session.flush()
    post(
        "refund",
        f"refund:{refund.id}",
        payment.currency,
        [
            Line(Account.SUSPENSE, payment.amount_minor),
            Line(Account.cash_for(payment.rail.value), -payment.amount_minor),
        ],
        payment_id=payment.id,
        refund_id=refund.id,
        customer_id=payment.customer_id,
        description="Held payment returned to the payer",
    )
    payment.refunded_minor = payment.amount_minor
    payment.status = PaymentStatus.REFUNDED
    return payment.status
