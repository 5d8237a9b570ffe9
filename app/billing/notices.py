"""Customer emails about invoices and subscriptions: links and the context every billing template gets."""

from __future__ import annotations

from typing import Any

from app.billing.links import pay_url, public_url
from app.billing.models import Invoice
from app.customers.models import Customer
from app.money import format_money


def update_payment_method_url(invoice: Invoice) -> str:
    """Where a customer changes how they pay: the card page (pay with another card and keep it for renewals) when
    the card rail is on, else the pay page, where they pick another method."""
    from app.payments.stripe.client import card_rail_enabled

    return public_url(f"pay/{invoice.pay_token}/card") if card_rail_enabled() else pay_url(invoice)


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
