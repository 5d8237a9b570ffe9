"""The invoices list and its filters, and how many times each invoice was sent."""

from __future__ import annotations

from datetime import datetime

from flask import abort
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.audit.models import AuditEntry
from app.billing.models import Invoice, InvoiceStatus
from app.db_types import utcnow
from app.extensions import db
from app.pagination import Page, paginate

PER_PAGE = 25
#: the tabs of the invoices screen, in order; the dashboard links to ?status=overdue
FILTERS: dict[str, str] = {"open": "Open", "overdue": "Overdue", "paid": "Paid", "expired": "Expired", "all": "All"}


def invoice_filter(raw: str | None) -> str:
    status = raw or "open"
    if status not in FILTERS:
        abort(400, description=f"status must be one of {', '.join(FILTERS)}")
    return status


def display_status(invoice: Invoice, now: datetime | None = None) -> str:
    """The status as the operator thinks of it: an open invoice past its due date is overdue."""
    if invoice.status == InvoiceStatus.OPEN and invoice.due_at is not None and invoice.due_at < (now or utcnow()):
        return "overdue"
    return invoice.status.value


def list_invoices(status: str, number: int = 1, *, now: datetime | None = None, per_page: int = PER_PAGE) -> Page:
    now = now or utcnow()
    stmt = select(Invoice).options(joinedload(Invoice.customer))
    if status == "overdue":
        stmt = stmt.where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_at < now).order_by(
            Invoice.due_at.asc(), Invoice.id.asc()
        )
    else:
        if status != "all":
            stmt = stmt.where(Invoice.status == InvoiceStatus(status))
        stmt = stmt.order_by(Invoice.number.desc())
    return paginate(stmt, number, per_page)


def send_key_prefix(invoice_id: int) -> str:
    return f"invoice:sent:{invoice_id}"


def sent_counts(invoice_ids: list[int]) -> dict[int, int]:
    """How many times the operator sent each invoice from the screens (the next send is n + 1).

    Read from the "invoice.sent" audit entries that send_invoice writes with each email, through the audit log's
    (object_type, object_id) index; the outbox's keys cannot be prefix-searched by an index. The scheduled
    first send ("invoice:sent:<id>", no n) is not counted: it shows as the invoice's sent_at."""
    if not invoice_ids:
        return {}
    rows = db.session.execute(
        select(AuditEntry.object_id, func.count())
        .where(
            AuditEntry.object_type == "invoices",
            AuditEntry.object_id.in_([str(i) for i in invoice_ids]),
            AuditEntry.action == "invoice.sent",
        )
        .group_by(AuditEntry.object_id)
    )
    counts = dict.fromkeys(invoice_ids, 0)
    counts.update({int(object_id): int(n) for object_id, n in rows})
    return counts
