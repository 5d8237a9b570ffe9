"""Giving money back: once a rail confirms a refund, it enters the books here."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.access.events import emit_event
from app.audit.service import record_audit
from app.customers.models import Customer
from app.extensions import db
from app.ledger.models import Account, LedgerEntry, LedgerTransaction
from app.ledger.service import Line, balance, post
from app.money import to_decimal_string
from app.payments.models import Payment, PaymentStatus, Refund, RefundStatus


class RefundError(ValueError):
    pass


def record_refund(
    payment_id: int,
    amount_minor: int,
    rail_refund_id: str,
    *,
    actor: str,
    reason: str | None = None,
    from_account: Account | None = None,
) -> tuple[Refund, bool]:
    """Records a confirmed refund; (refund, created). Idempotent on (payment, rail_refund_id).

    The money leaves the rail's cash account unless `from_account` says where the rail already took it from
    (a lost dispute: disputed funds)."""
    payment = db.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
    if payment is None:
        raise RefundError(f"no payment {payment_id}")
    existing = db.session.scalar(
        select(Refund).where(Refund.payment_id == payment.id, Refund.rail_refund_id == rail_refund_id)
    )
    if existing is not None:
        return existing, False
    if not isinstance(amount_minor, int) or amount_minor <= 0:
        raise RefundError("refund amount must be a positive integer of minor units")
    if payment.status not in (PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED):
        raise RefundError(f"payment {payment.id} is {payment.status.value}; it cannot be refunded")
    if amount_minor > payment.amount_minor - payment.refunded_minor:
        raise RefundError(
            f"at most {to_decimal_string(payment.amount_minor - payment.refunded_minor, payment.currency)}"
            f" {payment.currency} is left to refund"
        )
    refund = Refund(
        payment_id=payment.id,
        amount_minor=amount_minor,
        currency=payment.currency,
        status=RefundStatus.SUCCEEDED,
        rail_refund_id=rail_refund_id,
        reason=reason,
        recorded_by=actor,
    )
    try:
        with db.session.begin_nested():
            db.session.add(refund)
    except IntegrityError:
        return db.session.scalar(
            select(Refund).where(Refund.payment_id == payment.id, Refund.rail_refund_id == rail_refund_id)
        ), False
    from_credit = _part_from_credit(payment, amount_minor)
    payment.refunded_minor += amount_minor
    payment.status = (
        PaymentStatus.REFUNDED if payment.refunded_minor == payment.amount_minor else PaymentStatus.PARTIALLY_REFUNDED
    )
    if from_credit:
        customer = db.session.get(Customer, payment.customer_id)
        if payment.currency == customer.preferred_currency:
            customer.credit_balance_minor -= from_credit
    post(
        "refund",
        f"refund:{refund.id}",
        payment.currency,
        [
            Line(Account.CUSTOMER_CREDIT, from_credit, payment.customer_id),
            Line(Account.REFUNDS, amount_minor - from_credit),
            Line(from_account or Account.cash_for(payment.rail.value), -amount_minor),
        ],
        payment_id=payment.id,
        refund_id=refund.id,
        invoice_id=payment.invoice_id,
        customer_id=payment.customer_id,
        description=f"Refund of {payment.rail.value} payment {payment.rail_payment_id}",
    )
    record_audit("payment.refunded", payment, actor=actor, refund=refund.id, amount_minor=amount_minor, reason=reason)
    emit_event(
        "payment.refunded",
        {
            "payment_id": payment.id,
            "invoice_id": payment.invoice_id,
            "rail": payment.rail.value,
            "amount": to_decimal_string(amount_minor, payment.currency),
            "currency": payment.currency,
            "fully_refunded": payment.status == PaymentStatus.REFUNDED,
        },
        event_key=f"payment.refunded:{refund.id}",
    )
    return refund, True


def _part_from_credit(payment: Payment, amount_minor: int) -> int:
    """An overpayment became customer credit; refunding it takes it back from the credit first, so the customer
    is never both refunded and credited for the same money."""
    surplus = payment.amount_minor - payment.applied_minor
    already = int(
        db.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(
                LedgerTransaction.kind == "refund",
                LedgerTransaction.payment_id == payment.id,
                LedgerEntry.account == Account.CUSTOMER_CREDIT,
            )
        )
    )
    available_credit = -balance(Account.CUSTOMER_CREDIT, payment.currency, payment.customer_id)
    return max(0, min(amount_minor, surplus - already, available_credit))
