"""A customer's history in one list, newest first: invoices, payments, refunds, emails and audit entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import joinedload

from app.audit.models import AuditEntry
from app.auth.models import User
from app.billing.models import Invoice, Subscription
from app.customers.models import Customer
from app.extensions import db
from app.notifications.models import OutboxKind, OutboxMessage
from app.payments.models import Payment, Refund

#: audit actions already told by an invoice, payment or refund item of the timeline
TOLD_ELSEWHERE = frozenset({"invoice.created", "invoice.finalize", "payment.settled", "payment.refunded"})


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    #: invoice, payment, refund, email, audit
    kind: str
    title: str
    obj: object = None
    detail: str = ""
    badge: str | None = None
    extra: dict = field(default_factory=dict)


def customer_timeline(customer: Customer, limit: int = 60) -> list[TimelineItem]:
    items = [
        *_invoices(customer, limit),
        *_payments(customer, limit),
        *_refunds(customer, limit),
        *_emails(customer, limit),
        *_audit(customer, limit),
    ]
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


def _invoices(customer: Customer, limit: int) -> list[TimelineItem]:
    invoices = db.session.scalars(
        select(Invoice).where(Invoice.customer_id == customer.id).order_by(Invoice.created_at.desc()).limit(limit)
    )
    return [
        TimelineItem(inv.issued_at or inv.created_at, "invoice", f"Invoice #{inv.number} issued", inv, badge="invoice")
        for inv in invoices
    ]


def _payments(customer: Customer, limit: int) -> list[TimelineItem]:
    payments = db.session.scalars(
        select(Payment)
        .options(joinedload(Payment.invoice))
        .where(Payment.customer_id == customer.id)
        .order_by(Payment.created_at.desc())
        .limit(limit)
    )
    return [TimelineItem(p.created_at, "payment", f"{p.rail.value} payment recorded", p) for p in payments]


def _refunds(customer: Customer, limit: int) -> list[TimelineItem]:
    refunds = db.session.scalars(
        select(Refund)
        .options(joinedload(Refund.payment))
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Payment.customer_id == customer.id)
        .order_by(Refund.created_at.desc())
        .limit(limit)
    )
    return [TimelineItem(r.created_at, "refund", "Refund recorded", r) for r in refunds]


def _emails(customer: Customer, limit: int) -> list[TimelineItem]:
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.customer_id == customer.id, OutboxMessage.kind == OutboxKind.EMAIL)
        .order_by(OutboxMessage.created_at.desc())
        .limit(limit)
    )
    return [
        TimelineItem(m.created_at, "email", m.payload.get("subject", "(no subject)"), m, detail=m.payload.get("to", ""))
        for m in messages
    ]


def _audit(customer: Customer, limit: int) -> list[TimelineItem]:
    # The ids first, then one query by (object_type, object_id), which the audit log's index answers.
    owned = {
        "customers": [customer.id],
        "invoices": db.session.scalars(select(Invoice.id).where(Invoice.customer_id == customer.id)).all(),
        "payments": db.session.scalars(select(Payment.id).where(Payment.customer_id == customer.id)).all(),
        "subscriptions": db.session.scalars(
            select(Subscription.id).where(Subscription.customer_id == customer.id)
        ).all(),
    }
    entries = db.session.scalars(
        select(AuditEntry)
        .where(
            or_(
                *(
                    and_(AuditEntry.object_type == kind, AuditEntry.object_id.in_([str(i) for i in ids]))
                    for kind, ids in owned.items()
                    if ids
                )
            ),
            AuditEntry.action.not_in(TOLD_ELSEWHERE),
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    ).all()
    names = actor_names([e.actor for e in entries])
    return [
        TimelineItem(e.at, "audit", e.action, e, detail=names.get(e.actor, e.actor), extra=e.details or {})
        for e in entries
    ]


def actor_names(actors: list[str]) -> dict[str, str]:
    """ "user:3" -> the user's email, so the operator reads who, not an id."""
    ids = {int(a.split(":", 1)[1]) for a in actors if a.startswith("user:") and a.split(":", 1)[1].isdigit()}
    if not ids:
        return {}
    return {
        f"user:{uid}": email for uid, email in db.session.execute(select(User.id, User.email).where(User.id.in_(ids)))
    }
