"""Every email the product sends: its template name, the context keys its templates need, an example context.

The templates live in templates/emails/<name>.txt and .html; docs/emails.md describes the same table for the
engineers who queue these emails. Rendering is strict: a missing key makes the message dead with the key's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: what the billing jobs' customer emails carry (dunning and reminders)
_INVOICE_KEYS = ("customer_name", "invoice_number", "reference_code", "amount", "due_date", "pay_url")
_DUNNING_KEYS = ("customer_name", "invoice_number", "amount", "pay_url", "plan_name")


@dataclass(frozen=True)
class EmailTemplate:
    name: str
    #: who queues it, in one line
    purpose: str
    required: tuple[str, ...]
    example: dict[str, Any] = field(default_factory=dict)
    #: attachments it usually carries ({"kind": ..., "<id key>": ...})
    attachments: tuple[str, ...] = ()


_INVOICE_EXAMPLE = {
    "customer_name": "Ada Lovelace",
    "invoice_number": 1042,
    "reference_code": "ADV00421337",
    "amount": "$49.00",
    "due_date": "2026-12-09",
    "pay_url": "https://billing.example.com/pay/tok_example",
}
_DISPUTE_KEYS = ("customer_name", "invoice_number", "amount", "reason", "payment_ref", "dispute_ref")
_DISPUTE_EXAMPLE = {
    "customer_name": "Ada Lovelace",
    "invoice_number": 1042,
    "amount": "$49.00",
    "reason": "product not received",
    "payment_ref": "pi_3QExample",
    "dispute_ref": "du_1QExample",
}
_DUNNING_EXAMPLE = {
    "customer_name": "Ada Lovelace",
    "invoice_number": 1042,
    "amount": "$49.00",
    "pay_url": "https://billing.example.com/pay/tok_example",
    "plan_name": "Pro",
}

TEMPLATES: dict[str, EmailTemplate] = {
    t.name: t
    for t in (
        EmailTemplate(
            "receipt",
            "payments.settlement: a payment was applied to an invoice",
            (
                "customer_name",
                "invoice_number",
                "reference_code",
                "amount",
                "remaining",
                "paid_in_full",
                "rail",
            ),
            {
                "customer_name": "Ada Lovelace",
                "invoice_number": 1042,
                "reference_code": "ADV00421337",
                "amount": "$49.00",
                "remaining": "$0.00",
                "paid_in_full": True,
                "rail": "bank_transfer",
            },
            ("receipt_pdf",),
        ),
        EmailTemplate(
            "credit_receipt",
            "billing.credit: the customer's credit paid an invoice in full (a renewal, a dunning retry)",
            ("customer_name", "invoice_number", "reference_code", "amount", "credit_left"),
            {
                "customer_name": "Ada Lovelace",
                "invoice_number": 1042,
                "reference_code": "ADV00421337",
                "amount": "$49.00",
                "credit_left": "$11.00",
            },
            ("invoice_pdf",),
        ),
        EmailTemplate(
            "operator_payment_review",
            "payments.settlement: money arrived for an invoice that cannot take it (to the operator)",
            ("invoice_number", "reference_code", "amount", "rail", "reason"),
            {
                "invoice_number": 1042,
                "reference_code": "ADV00421337",
                "amount": "$49.00",
                "rail": "wire",
                "reason": "arrived for invoice 1042, which is expired",
            },
        ),
        EmailTemplate(
            "invoice",
            "billing jobs: a new invoice with its pay link",
            _INVOICE_KEYS,
            _INVOICE_EXAMPLE,
            ("invoice_pdf",),
        ),
        EmailTemplate(
            "payment_reminder",
            "billing jobs: an open invoice is overdue (3, 7, 14 days by default)",
            (*_INVOICE_KEYS, "days_overdue"),
            {**_INVOICE_EXAMPLE, "days_overdue": 7},
            ("invoice_pdf",),
        ),
        EmailTemplate(
            "trial_ended",
            "billing jobs: a trial ended and the customer moved to the free plan",
            ("customer_name", "plan_name"),
            {"customer_name": "Ada Lovelace", "plan_name": "Pro"},
        ),
        EmailTemplate(
            "card_needs_confirmation",
            "card rail: an off-session charge needs the customer's bank check (3-D Secure); once per invoice",
            ("customer_name", "invoice_number", "amount", "pay_url", "confirm_url"),
            {
                **{key: _INVOICE_EXAMPLE[key] for key in ("customer_name", "invoice_number", "amount", "pay_url")},
                "confirm_url": "https://billing.example.com/pay/tok_example/card",
            },
        ),
        EmailTemplate(
            "dunning_retry",
            "billing jobs (dunning day 1): a renewal payment failed; we retry",
            _DUNNING_KEYS,
            _DUNNING_EXAMPLE,
        ),
        EmailTemplate(
            "dunning_update_card",
            "billing jobs (dunning day 3): ask the customer to update their card",
            (*_DUNNING_KEYS, "update_url"),
            {**_DUNNING_EXAMPLE, "update_url": "https://billing.example.com/pay/tok_example"},
        ),
        EmailTemplate(
            "dunning_final_warning",
            "billing jobs (dunning day 7): last warning before the downgrade",
            _DUNNING_KEYS,
            _DUNNING_EXAMPLE,
        ),
        EmailTemplate(
            "ops_alert",
            "ops.alerts: an incident opened or resolved, or a job keeps failing (to the operator)",
            ("message", "kind", "raised_at"),
            {
                "message": "Incident opened: Redis is down",
                "kind": "incident_opened",
                "raised_at": "2026-11-25T10:00:00+00:00",
            },
        ),
        EmailTemplate(
            "operator_dispute_opened",
            "payments.disputes: a customer's bank disputes a payment (to the operator), once per dispute",
            (*_DISPUTE_KEYS, "evidence_due", "taken"),
            {**_DISPUTE_EXAMPLE, "evidence_due": "2026-12-09 23:59 UTC", "taken": "$49.00 and a $15.00 dispute fee"},
        ),
        EmailTemplate(
            "operator_dispute_closed",
            "payments.disputes: a dispute closed, won or lost (to the operator), once per dispute",
            (*_DISPUTE_KEYS, "outcome", "fee_kept"),
            {**_DISPUTE_EXAMPLE, "outcome": "lost", "fee_kept": "$15.00"},
        ),
        EmailTemplate(
            "dunning_downgraded",
            "billing jobs (dunning day 10): moved to the free plan; paying restores the plan",
            _DUNNING_KEYS,
            _DUNNING_EXAMPLE,
        ),
    )
}

#: attachment kind -> the payload key naming its object
ATTACHMENT_KINDS: dict[str, str] = {"receipt_pdf": "payment_id", "invoice_pdf": "invoice_id"}
