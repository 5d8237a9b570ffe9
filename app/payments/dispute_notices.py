"""The operator's emails about disputes: one when a dispute opens (with the evidence deadline), one when it closes.

Queued through the outbox in the caller's transaction; the dedupe key makes each one once per dispute, whatever the
number of times the rail reports it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.customers.models import Customer
from app.extensions import db
from app.money import format_money
from app.notifications.outbox import queue_email
from app.payments.models import Dispute, DisputeStatus, Payment
from app.settings.service import get_setting


def queue_dispute_opened(dispute: Dispute, payment: Payment) -> None:
    context = _context(dispute, payment)
    context["taken"] = taken_text(dispute)
    queue_email(
        to=get_setting("operator.alert_email"),
        subject=f"Dispute on invoice {context['invoice_number']}: evidence due {context['evidence_due']}",
        template="operator_dispute_opened",
        context=context,
        dedupe_key=f"dispute:opened:{dispute.rail_dispute_id}",
    )


def queue_dispute_closed(dispute: Dispute, payment: Payment) -> None:
    context = _context(dispute, payment)
    del context["evidence_due"]
    context["outcome"] = dispute.status.value
    context["fee_kept"] = format_money(dispute.fee_minor, dispute.currency)
    won = dispute.status == DisputeStatus.WON
    queue_email(
        to=get_setting("operator.alert_email"),
        subject=f"Dispute on invoice {context['invoice_number']} {'won' if won else 'lost'}",
        template="operator_dispute_closed",
        context=context,
        dedupe_key=f"dispute:closed:{dispute.rail_dispute_id}",
    )


def _context(dispute: Dispute, payment: Payment) -> dict[str, Any]:
    customer = db.session.get(Customer, payment.customer_id)
    return {
        "customer_name": customer.name or customer.email,
        "invoice_number": payment.invoice.number if payment.invoice else "(none)",
        "amount": format_money(dispute.amount_minor, dispute.currency),
        "reason": reason_text(dispute.reason),
        "evidence_due": deadline_text(dispute.due_by),
        "payment_ref": payment.rail_payment_id,
        "dispute_ref": dispute.rail_dispute_id,
    }


def reason_text(reason: str | None) -> str:
    """Stripe's reason codes read as words: product_not_received -> "product not received"."""
    return (reason or "not given").replace("_", " ")


def taken_text(dispute: Dispute) -> str:
    """What the rail took from our balance so far: "$100.00 and a $15.00 dispute fee"."""
    held = format_money(dispute.withdrawn_minor - dispute.reinstated_minor, dispute.currency)
    if dispute.fee_minor:
        return f"{held} and a {format_money(dispute.fee_minor, dispute.currency)} dispute fee"
    return held


def deadline_text(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "no deadline given"
