"""Everything the operator's invoice page shows, gathered for the billing and payments screens alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select

from app.audit.models import AuditEntry
from app.billing.links import pay_url
from app.billing.listing import sent_counts
from app.billing.models import Invoice
from app.customers.timeline import actor_names
from app.extensions import db
from app.payments.models import Payment, PaymentStatus, Rail

#: payments whose money can still be given back from this screen (card refunds go through Stripe, later)
REFUNDABLE = (PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED)


def audit_trail(invoice: Invoice) -> list[AuditEntry]:
    """The invoice's own entries and those of the payments made against it, oldest first."""
    payment_ids = [str(p.id) for p in invoice.payments]
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(
                or_(
                    and_(AuditEntry.object_type == "invoices", AuditEntry.object_id == str(invoice.id)),
                    and_(AuditEntry.object_type == "payments", AuditEntry.object_id.in_(payment_ids)),
                )
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )


def refundable_payments(invoice: Invoice) -> list[Payment]:
    return [p for p in invoice.payments if p.status in REFUNDABLE and p.rail != Rail.CARD]


def invoice_page_context(invoice: Invoice, **forms: Any) -> dict[str, Any]:
    """`forms` carries the record-payment and refund forms, with their errors when a submission failed."""
    from app.payments.forms import RecordPaymentForm, RefundForm

    trail = audit_trail(invoice)
    record_form = forms.get("record_form") or RecordPaymentForm.for_invoice(invoice)
    refund_form = forms.get("refund_form") or RefundForm.for_invoice(invoice)
    return {
        "invoice": invoice,
        "pay_url": pay_url(invoice),
        "trail": trail,
        "actors": actor_names([e.actor for e in trail] + [p.recorded_by for p in invoice.payments]),
        "sends": sent_counts([invoice.id])[invoice.id],
        "record_form": record_form,
        "refund_form": refund_form,
        "refundable": refundable_payments(invoice),
        **{k: v for k, v in forms.items() if k not in ("record_form", "refund_form")},
    }
