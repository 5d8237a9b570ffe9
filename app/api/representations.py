"""How the API shows each object: amounts as decimal strings in the currency's units, times in ISO 8601 UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from app.billing.links import pay_url
from app.billing.models import Invoice, Plan, Subscription
from app.customers.models import Customer
from app.money import to_decimal_string
from app.payments.models import Payment


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "external_id": customer.external_id,
        "email": customer.email,
        "name": customer.name,
        "country": customer.country,
        "currency": customer.preferred_currency,
        "credit_balance": to_decimal_string(customer.credit_balance_minor, customer.preferred_currency),
        "created_at": _time(customer.created_at),
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "code": plan.code,
        "name": plan.name,
        "amount": to_decimal_string(plan.amount_minor, plan.currency),
        "currency": plan.currency,
        "interval": plan.interval.value,
        "trial_days": plan.trial_days,
        "limits": plan.limits,
        "is_free": plan.is_free,
        "active": plan.active,
        "created_at": _time(plan.created_at),
    }


def invoice_json(invoice: Invoice) -> dict[str, Any]:
    currency = invoice.currency
    return {
        "id": invoice.id,
        "number": invoice.number,
        "reference_code": invoice.reference_code,
        "customer": invoice.customer.external_id,
        "subscription": invoice.subscription_id,
        "status": invoice.status.value,
        "currency": currency,
        "amount_due": to_decimal_string(invoice.amount_due_minor, currency),
        "amount_paid": to_decimal_string(invoice.amount_paid_minor, currency),
        "amount_remaining": to_decimal_string(invoice.amount_remaining_minor, currency),
        "pay_url": pay_url(invoice),
        "issued_at": _time(invoice.issued_at),
        "due_at": _time(invoice.due_at),
        "expires_at": _time(invoice.expires_at),
        "paid_at": _time(invoice.paid_at),
        "period_start": _time(invoice.period_start),
        "period_end": _time(invoice.period_end),
        "memo": invoice.memo,
        "lines": [
            {
                "description": line.description,
                "quantity": line.quantity,
                "unit_amount": to_decimal_string(line.unit_amount_minor, currency),
                "amount": to_decimal_string(line.amount_minor, currency),
            }
            for line in invoice.lines
        ],
        "created_at": _time(invoice.created_at),
    }


def subscription_json(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "customer": sub.customer.external_id,
        "plan": sub.plan.code,
        "status": sub.status.value,
        "current_period_start": _time(sub.current_period_start),
        "current_period_end": _time(sub.current_period_end),
        "trial_end": _time(sub.trial_end),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": _time(sub.canceled_at),
        "created_at": _time(sub.created_at),
    }


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "invoice": payment.invoice_id,
        "method": payment.rail.value,
        "reference": payment.rail_payment_id,
        "status": payment.status.value,
        "amount": to_decimal_string(payment.amount_minor, payment.currency),
        "currency": payment.currency,
        "received": {
            "amount": to_decimal_string(payment.amount_received_minor, payment.currency_received),
            "currency": payment.currency_received,
            "exchange_rate": _rate_text(payment.exchange_rate),
        },
        "applied": to_decimal_string(payment.applied_minor, payment.currency),
        "refunded": to_decimal_string(payment.refunded_minor, payment.currency),
        "received_at": _time(payment.received_at),
        "note": payment.note,
        "review_reason": payment.review_reason,
        "recorded_by": payment.recorded_by,
        "created_at": _time(payment.created_at),
    }


def _rate_text(rate: Decimal) -> str:
    """The stored rate without its trailing zeros ("1", "1.0889"), never in exponent form."""
    text = format(rate, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
