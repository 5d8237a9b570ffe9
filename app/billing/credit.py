"""Customer credit (overpayments, held money turned into credit) spent on the customer's invoices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.access.events import emit_event
from app.audit.service import record_audit
from app.billing.invoices import transition
from app.billing.models import Invoice, InvoiceStatus, Subscription
from app.billing.subscriptions import apply_paid_invoice
from app.customers.models import Customer
from app.extensions import db
from app.ledger.models import Account
from app.ledger.service import Line, post
from app.money import format_money
from app.notifications.outbox import queue_email
from app.payments.settlement import invoice_payload


def apply_credit(invoice: Invoice, *, actor: str, now: datetime | None = None) -> int:
    """Spends the customer's credit on what the invoice still owes; returns the amount applied (0 if none).

    Once per invoice (ledger key "credit.applied:<invoice id>"). The cached balance is in the customer's
    preferred currency, so only an invoice in that currency can use it. Pays the invoice when credit covers it,
    and then queues the customer's receipt: no payment arrived, so settlement's receipt never goes out.
    The caller holds the invoice (just created, or locked with invoice_for_update) and commits.
    """
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_remaining_minor <= 0:
        return 0
    # Locked so two invoices of one customer cannot spend the same credit.
    customer = db.session.scalar(
        select(Customer)
        .where(Customer.id == invoice.customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer.credit_balance_minor <= 0 or customer.preferred_currency != invoice.currency:
        return 0
    amount = min(customer.credit_balance_minor, invoice.amount_remaining_minor)
    posted = post(
        "credit.applied",
        f"credit.applied:{invoice.id}",
        invoice.currency,
        [
            Line(Account.CUSTOMER_CREDIT, amount, customer.id),
            Line(Account.RECEIVABLE, -amount, customer.id),
        ],
        invoice_id=invoice.id,
        customer_id=customer.id,
        description=f"Credit applied to invoice {invoice.number}",
    )
    if posted is None:
        return 0  # credit was applied to this invoice before
    customer.credit_balance_minor -= amount
    invoice.amount_paid_minor += amount
    record_audit("credit.applied", invoice, actor=actor, amount_minor=amount, currency=invoice.currency)
    if invoice.amount_remaining_minor == 0:
        transition(invoice, "pay", actor=actor, now=now, credit_minor=amount)
        apply_paid_invoice(invoice, actor=actor)
        emit_event("invoice.paid", invoice_payload(invoice), event_key=f"invoice.paid:{invoice.id}")
        _queue_credit_receipt(invoice, customer, amount)
    return amount


def _queue_credit_receipt(invoice: Invoice, customer: Customer, amount_minor: int) -> None:
    queue_email(
        to=customer.email,
        subject=f"Receipt for invoice {invoice.number}: paid from your account credit",
        template="credit_receipt",
        context={
            "customer_name": customer.name,
            "invoice_number": invoice.number,
            "reference_code": invoice.reference_code,
            "amount": format_money(amount_minor, invoice.currency),
            "credit_left": format_money(customer.credit_balance_minor, invoice.currency),
        },
        # the ledger posts credit once per invoice, so one receipt per invoice
        dedupe_key=f"receipt:credit:{invoice.id}",
        customer_id=customer.id,
        attachments=[{"kind": "invoice_pdf", "invoice_id": invoice.id}],
    )


def credit_what_was_paid(invoice: Invoice, *, actor: str) -> int:
    """After voiding an invoice the customer no longer gets anything for: what they paid on it (partial
    payments, applied credit) becomes their credit, so no money is kept for nothing. Returns the amount."""
    amount = invoice.amount_paid_minor
    if invoice.status != InvoiceStatus.VOID or amount <= 0:
        return 0
    return issue_credit(
        invoice,
        amount,
        invoice.currency,
        key=f"void:{invoice.id}",
        description=f"Paid on voided invoice {invoice.number}, kept as credit",
        actor=actor,
    )


def issue_credit(
    subject: Invoice | Subscription, amount: int, currency: str, *, key: str, description: str, actor: str, **details
) -> int:
    """Revenue given back as the customer's credit, once per `key`; returns the amount (0 when already issued).

    `subject` (an invoice or a subscription) names the customer and carries the audit entry."""
    posted = post(
        "credit.issued",
        f"credit.issued:{key}",
        currency,
        [Line(Account.REVENUE, amount), Line(Account.CUSTOMER_CREDIT, -amount, subject.customer_id)],
        invoice_id=subject.id if isinstance(subject, Invoice) else None,
        customer_id=subject.customer_id,
        description=description,
    )
    if posted is None:
        return 0
    customer = db.session.scalar(
        select(Customer)
        .where(Customer.id == subject.customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer.preferred_currency == currency:
        customer.credit_balance_minor += amount
    record_audit("credit.issued", subject, actor=actor, amount_minor=amount, currency=currency, **details)
    return amount
