"""Customer emails about invoices and subscriptions: links and the context every billing template gets."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.billing.models import Invoice
from app.customers.models import Customer
from app.money import format_money


def pay_url(invoice: Invoice) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/pay/{invoice.pay_token}"


def update_payment_method_url(invoice: Invoice) -> str:
    """Where a customer changes how they pay. There is no card page yet (it arrives with the card rail), and the
    pay page is where a customer picks another method, so this is the pay link until then."""
    return pay_url(invoice)


def invoice_context(invoice: Invoice, customer: Customer, **extra: Any) -> dict[str, Any]:
    """JSON-able, so it can wait in the outbox; amounts are formatted once, here."""
    return {
        "customer_name": customer.name or customer.email,
        "invoice_number": invoice.number,
        "reference_code": invoice.reference_code,
        "amount": format_money(invoice.amount_remaining_minor, invoice.currency),
        "due_date": invoice.due_at.date().isoformat() if invoice.due_at else None,
        "pay_url": pay_url(invoice),
        **extra,
    }
