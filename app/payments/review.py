"""Payments held for review (late money for an expired, void or paid invoice): the operator applies them to their
invoice after all, or turns them into the customer's credit. Either way the money leaves suspense exactly once."""

from __future__ import annotations

from sqlalchemy import select, update

from app.audit.service import record_audit
from app.billing.invoices import invoice_for_update, reopen_invoice
from app.billing.models import Invoice, InvoiceStatus
from app.customers.models import Customer
from app.extensions import db
from app.ledger.models import Account
from app.ledger.service import Line, post
from app.payments.models import Payment, PaymentStatus
from app.payments.settlement import SettlementOutcome, apply_payment

#: invoice statuses a held payment can still be applied to (the first two are reopened first)
APPLICABLE = (InvoiceStatus.EXPIRED, InvoiceStatus.UNCOLLECTIBLE, InvoiceStatus.OPEN)


class ReviewError(ValueError):
    """The payment is not (or no longer) held, or its invoice cannot take it; nothing changed."""


def can_apply(payment: Payment, invoice: Invoice | None) -> bool:
    return payment.status == PaymentStatus.NEEDS_REVIEW and invoice is not None and invoice.status in APPLICABLE


def _held(payment_id: int) -> Payment:
    """The payment, locked: a second click waits for the first and then finds it resolved."""
    payment = db.session.scalar(
        select(Payment).where(Payment.id == payment_id).with_for_update().execution_options(populate_existing=True)
    )
    if payment is None:
        raise ReviewError(f"no payment {payment_id}")
    if payment.status != PaymentStatus.NEEDS_REVIEW:
        raise ReviewError(f"payment {payment.id} is {payment.status.value}; only held payments are resolved here")
    return payment


def apply_held_payment(payment_id: int, *, actor: str) -> tuple[Payment, SettlementOutcome]:
    """Reopens an expired or uncollectible invoice, releases the hold and settles the payment on it."""
    payment = _held(payment_id)
    invoice = invoice_for_update(payment.invoice_id) if payment.invoice_id else None
    if invoice is None or invoice.status not in APPLICABLE:
        state = f"invoice {invoice.number} is {invoice.status.value}" if invoice else "it has no invoice"
        raise ReviewError(f"{state}, so the payment cannot be applied; move it to the customer's credit instead")
    if invoice.status != InvoiceStatus.OPEN:
        reopen_invoice(invoice, actor=actor)
    _release_hold(payment)
    outcome = apply_payment(invoice, payment, actor=actor)
    payment.review_reason = f"{payment.review_reason}; applied after review"[:200]
    record_audit("payment.review_applied", payment, actor=actor, invoice=invoice.number, outcome=outcome.value)
    return payment, outcome


def credit_held_payment(payment_id: int, *, actor: str) -> Payment:
    """The held money becomes the customer's credit, used by their next invoices."""
    payment = _held(payment_id)
    post(
        "payment.credited",
        f"payment.credited:{payment.id}",
        payment.currency,
        [
            Line(Account.SUSPENSE, payment.amount_minor),
            Line(Account.CUSTOMER_CREDIT, -payment.amount_minor, payment.customer_id),
        ],
        payment_id=payment.id,
        customer_id=payment.customer_id,
        description=f"Held {payment.rail.value} payment {payment.rail_payment_id} moved to customer credit",
    )
    # The cached balance is kept in the customer's preferred currency (as settlement does); the ledger holds the rest.
    # Incremented in SQL so a concurrent settlement's credit is not overwritten.
    db.session.execute(
        update(Customer)
        .where(Customer.id == payment.customer_id, Customer.preferred_currency == payment.currency)
        .values(credit_balance_minor=Customer.credit_balance_minor + payment.amount_minor)
    )
    payment.status = PaymentStatus.CREDITED
    record_audit("payment.credited", payment, actor=actor, amount_minor=payment.amount_minor, currency=payment.currency)
    return payment


def _release_hold(payment: Payment) -> None:
    """The exact reverse of settlement's "payment.held" posting; settling then books the cash as for any payment."""
    post(
        "payment.hold_released",
        f"payment.hold_released:{payment.id}",
        payment.currency,
        [
            Line(Account.SUSPENSE, payment.amount_minor),
            Line(Account.cash_for(payment.rail.value), -(payment.amount_minor - payment.fee_minor)),
            Line(Account.FEES, -payment.fee_minor),
        ],
        payment_id=payment.id,
        customer_id=payment.customer_id,
        description=f"Hold released on {payment.rail.value} payment {payment.rail_payment_id}",
    )
