"""The one settlement path: every rail's money reaches the books through settle_payment()."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.access.events import emit_event
from app.audit.service import record_audit
from app.billing.invoices import invoice_for_update, transition
from app.billing.models import Invoice, InvoiceStatus
from app.billing.subscriptions import apply_paid_invoice
from app.customers.models import Customer
from app.db_types import utcnow
from app.extensions import db
from app.ledger.models import Account
from app.ledger.service import Line, post
from app.money import format_money
from app.notifications.outbox import queue_accounting_sync, queue_email
from app.payments.models import Payment, PaymentStatus, Rail
from app.settings.service import get_setting


class SettlementOutcome(enum.StrEnum):
    PAID = "paid"
    PARTIAL = "partial"
    #: already recorded under this rail id: nothing changed
    DUPLICATE = "duplicate"
    #: held for the operator (invoice expired, void, uncollectible or already paid)
    NEEDS_REVIEW = "needs_review"


@dataclass(frozen=True)
class IncomingPayment:
    """What a rail reports. Amounts are integers: received in the rail's unit, converted in the invoice's."""

    rail: Rail
    rail_payment_id: str
    amount_received_minor: int
    currency_received: str
    #: value in the invoice currency
    amount_minor: int
    exchange_rate: Decimal = Decimal(1)
    fee_minor: int = 0
    received_at: datetime | None = None
    note: str | None = None
    scan_path: str | None = None


@dataclass(frozen=True)
class SettlementResult:
    payment: Payment
    outcome: SettlementOutcome

    @property
    def created(self) -> bool:
        return self.outcome != SettlementOutcome.DUPLICATE


class SettlementError(ValueError):
    pass


def settle_payment(invoice_id: int, incoming: IncomingPayment, *, actor: str) -> SettlementResult:
    """Idempotent on (rail, rail_payment_id); concurrency-safe through the invoice row lock.

    Runs in the caller's transaction; the caller commits. Money beyond what the invoice still needs becomes
    customer credit; money for an invoice that can no longer be paid is held for the operator's review.
    """
    _validate(incoming)
    invoice = invoice_for_update(invoice_id)
    if invoice is None:
        raise SettlementError(f"no invoice {invoice_id}")
    existing = _existing(incoming)
    if existing is not None:
        return SettlementResult(existing, SettlementOutcome.DUPLICATE)
    payment = Payment(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        rail=incoming.rail,
        rail_payment_id=incoming.rail_payment_id,
        amount_received_minor=incoming.amount_received_minor,
        currency_received=incoming.currency_received.upper(),
        amount_minor=incoming.amount_minor,
        currency=invoice.currency,
        exchange_rate=incoming.exchange_rate,
        fee_minor=incoming.fee_minor,
        received_at=incoming.received_at or utcnow(),
        note=incoming.note,
        scan_path=incoming.scan_path,
        recorded_by=actor,
        status=PaymentStatus.SETTLED,
    )
    try:
        with db.session.begin_nested():
            db.session.add(payment)
    except IntegrityError:
        # Another transaction recorded this rail id on a different invoice, or committed between our read and
        # insert (only possible when racing on two invoices): the first one wins.
        existing = _existing(incoming)
        if existing is None:
            raise
        return SettlementResult(existing, SettlementOutcome.DUPLICATE)
    if invoice.status != InvoiceStatus.OPEN:
        return SettlementResult(_hold_for_review(invoice, payment, actor), SettlementOutcome.NEEDS_REVIEW)
    return SettlementResult(payment, _apply(invoice, payment, actor))


def _validate(incoming: IncomingPayment) -> None:
    for name in ("amount_received_minor", "amount_minor", "fee_minor"):
        value = getattr(incoming, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise SettlementError(f"{name} must be a non-negative integer")
    if incoming.amount_minor == 0:
        raise SettlementError("a payment of zero settles nothing")
    if incoming.fee_minor > incoming.amount_minor:
        raise SettlementError("the fee cannot exceed the payment")
    if not isinstance(incoming.exchange_rate, Decimal) or incoming.exchange_rate <= 0:
        raise SettlementError("exchange_rate must be a positive Decimal")
    if not incoming.rail_payment_id or len(incoming.rail_payment_id) > 200:
        raise SettlementError("rail_payment_id is required (at most 200 characters)")


def _existing(incoming: IncomingPayment) -> Payment | None:
    return db.session.scalar(
        select(Payment).where(Payment.rail == incoming.rail, Payment.rail_payment_id == incoming.rail_payment_id)
    )


def _cash_lines(payment: Payment) -> list[Line]:
    return [
        Line(Account.cash_for(payment.rail.value), payment.amount_minor - payment.fee_minor),
        Line(Account.FEES, payment.fee_minor),
    ]


def _apply(invoice: Invoice, payment: Payment, actor: str, *, released_from_review: bool = False) -> SettlementOutcome:
    """Applies the payment to the open invoice. The money comes from the rail's cash account, or, for a payment the
    operator released from review, from suspense where it was held."""
    customer = db.session.get(Customer, invoice.customer_id)
    applied = min(payment.amount_minor, invoice.amount_remaining_minor)
    surplus = payment.amount_minor - applied
    payment.applied_minor = applied
    payment.status = PaymentStatus.SETTLED
    payment.invoice_id = invoice.id
    funding = [Line(Account.SUSPENSE, payment.amount_minor)] if released_from_review else _cash_lines(payment)
    post(
        "payment.settled",
        f"payment.settled:{payment.id}",
        invoice.currency,
        [
            *funding,
            Line(Account.RECEIVABLE, -applied, customer.id),
            Line(Account.CUSTOMER_CREDIT, -surplus, customer.id),
        ],
        invoice_id=invoice.id,
        payment_id=payment.id,
        customer_id=customer.id,
        description=f"{payment.rail.value} payment for invoice {invoice.number}",
    )
    if surplus and invoice.currency == customer.preferred_currency:
        # The cached balance is in the preferred currency; credit in another currency stays in the ledger.
        customer.credit_balance_minor += surplus
    invoice.amount_paid_minor += applied
    outcome = SettlementOutcome.PARTIAL
    if invoice.amount_remaining_minor == 0:
        transition(invoice, "pay", actor=actor, payment=payment.id)
        outcome = SettlementOutcome.PAID
        apply_paid_invoice(invoice, actor=actor)
        emit_event("invoice.paid", invoice_payload(invoice), event_key=f"invoice.paid:{invoice.id}")
    record_audit(
        "payment.settled",
        payment,
        actor=actor,
        invoice=invoice.number,
        rail=payment.rail.value,
        amount_minor=payment.amount_minor,
        applied_minor=applied,
        credit_minor=surplus,
        outcome=outcome.value,
    )
    _queue_receipt(invoice, payment, customer)
    queue_accounting_sync(object_type="payment", object_id=payment.id)
    return outcome


def _hold_for_review(invoice: Invoice, payment: Payment, actor: str) -> Payment:
    payment.status = PaymentStatus.NEEDS_REVIEW
    payment.review_reason = f"arrived for invoice {invoice.number}, which is {invoice.status.value}"
    post(
        "payment.held",
        f"payment.held:{payment.id}",
        invoice.currency,
        [
            *_cash_lines(payment),
            Line(Account.SUSPENSE, -payment.amount_minor),
        ],
        invoice_id=None,
        payment_id=payment.id,
        customer_id=invoice.customer_id,
        description=payment.review_reason,
    )
    record_audit("payment.held_for_review", payment, actor=actor, invoice=invoice.number, reason=payment.review_reason)
    queue_email(
        to=get_setting("operator.alert_email"),
        subject=f"Payment needs your review: invoice {invoice.number}",
        template="operator_payment_review",
        context={
            "invoice_number": invoice.number,
            "reference_code": invoice.reference_code,
            "amount": format_money(payment.amount_minor, payment.currency),
            "rail": payment.rail.value,
            "reason": payment.review_reason,
        },
        dedupe_key=f"review:payment:{payment.id}",
    )
    return payment


def _queue_receipt(invoice: Invoice, payment: Payment, customer: Customer) -> None:
    queue_email(
        to=customer.email,
        subject=f"Receipt for invoice {invoice.number}",
        template="receipt",
        context={
            "customer_name": customer.name,
            "invoice_number": invoice.number,
            "reference_code": invoice.reference_code,
            "amount": format_money(payment.amount_minor, payment.currency),
            "remaining": format_money(invoice.amount_remaining_minor, invoice.currency),
            "paid_in_full": invoice.status == InvoiceStatus.PAID,
            "rail": payment.rail.value,
        },
        dedupe_key=f"receipt:payment:{payment.id}",
        customer_id=customer.id,
        attachments=[{"kind": "receipt_pdf", "payment_id": payment.id}],
    )


def invoice_payload(invoice: Invoice) -> dict:
    from app.money import to_decimal_string

    return {
        "id": invoice.id,
        "number": invoice.number,
        "reference_code": invoice.reference_code,
        "customer": invoice.customer.external_id,
        "status": invoice.status.value,
        "currency": invoice.currency,
        "amount_due": to_decimal_string(invoice.amount_due_minor, invoice.currency),
        "amount_paid": to_decimal_string(invoice.amount_paid_minor, invoice.currency),
    }
