"""The payments list and its filters."""

from __future__ import annotations

from flask import abort
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.customers.models import Customer
from app.extensions import db
from app.pagination import Page, paginate
from app.payments.models import Payment, PaymentStatus

PER_PAGE = 30
#: the tabs of the payments screen; the dashboard links to ?status=needs_review
FILTERS: dict[str, str] = {"all": "All", "needs_review": "Needs review", "refunded": "Refunded", "failed": "Failed"}


def payment_filter(raw: str | None) -> str:
    status = raw or "all"
    if status not in FILTERS:
        abort(400, description=f"status must be one of {', '.join(FILTERS)}")
    return status


def list_payments(status: str, number: int = 1, per_page: int = PER_PAGE) -> Page:
    """Rows of (payment, customer), newest first (by id: recording order, and the primary key's index)."""
    stmt = (
        select(Payment, Customer)
        .join(Customer, Customer.id == Payment.customer_id)
        .options(joinedload(Payment.invoice))
    )
    if status == "needs_review":
        stmt = stmt.where(Payment.status == PaymentStatus.NEEDS_REVIEW)
    elif status == "refunded":
        stmt = stmt.where(Payment.status.in_((PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)))
    elif status == "failed":
        stmt = stmt.where(Payment.status == PaymentStatus.FAILED)
    return paginate(stmt.order_by(Payment.id.desc()), number, per_page, rows=True)


def needs_review_count() -> int:
    return db.session.scalar(
        select(func.count()).select_from(Payment).where(Payment.status == PaymentStatus.NEEDS_REVIEW)
    )
