"""Sending an invoice to its customer by email, on the operator's request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.audit.service import record_audit
from app.billing.invoices import IllegalInvoiceTransition, invoice_for_update
from app.billing.links import pay_url
from app.billing.listing import send_key_prefix
from app.billing.models import Invoice, InvoiceStatus
from app.db_types import utcnow
from app.extensions import db
from app.money import format_money
from app.notifications.models import OutboxMessage
from app.notifications.outbox import queue_email


class InvoiceSendError(ValueError):
    pass


def send_invoice(
    invoice_id: int, *, sequence: int, actor: str, now: datetime | None = None
) -> tuple[Invoice, OutboxMessage, bool]:
    """Queues the "invoice" email; (invoice, message, queued). `sequence` is the operator's n-th send of this invoice,
    as their screen showed it: the same n twice (a double click, a retried request) queues one email, and a resend
    is a deliberate n + 1. Only open invoices are sent."""
    invoice = invoice_for_update(invoice_id)
    if invoice is None:
        raise InvoiceSendError(f"no invoice {invoice_id}")
    if invoice.status != InvoiceStatus.OPEN:
        raise IllegalInvoiceTransition(
            f"invoice {invoice.number} is {invoice.status.value}; only open invoices are sent"
        )
    if not isinstance(sequence, int) or sequence < 1:
        raise InvoiceSendError("n must be a whole number from 1")
    now = now or utcnow()
    customer = invoice.customer
    key = f"{send_key_prefix(invoice.id)}:{sequence}"
    # The invoice row is locked until commit, so this read cannot race another send of the same invoice.
    existing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
    if existing is not None:
        return invoice, existing, False
    message = queue_email(
        to=customer.email,
        subject=f"Invoice {invoice.number} from {_business_name()}",
        template="invoice",
        context={
            "customer_name": customer.name,
            "invoice_number": invoice.number,
            "reference_code": invoice.reference_code,
            "amount": format_money(invoice.amount_remaining_minor, invoice.currency),
            "due_date": invoice.due_at.strftime("%Y-%m-%d") if invoice.due_at else "",
            "pay_url": pay_url(invoice),
        },
        dedupe_key=key,
        customer_id=customer.id,
        attachments=[{"kind": "invoice_pdf", "invoice_id": invoice.id}],
    )
    invoice.sent_at = now
    record_audit("invoice.sent", invoice, actor=actor, to=customer.email, sequence=sequence)
    return invoice, message, True


def _business_name() -> str:
    from app.settings.service import get_setting

    return get_setting("business.name")
