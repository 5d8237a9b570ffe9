"""The 10:00 job: open invoices go out with their pay link, overdue ones get reminders, stale ones expire.

Each part is idempotent on its own: sent_at marks an invoice sent (and the outbox dedupe key backs it),
reminder_days_sent records the last reminder, and an expired invoice is no longer open. A run that missed days
sends only the most recent reminder that is due, never a pile of them. A job body: commits once per batch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from app.audit.service import record_audit
from app.billing.invoices import expire_invoice
from app.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from app.billing.notices import invoice_context
from app.billing.periods import calendar_days, start_of_day
from app.billing.subscriptions import cancel_subscription
from app.extensions import db
from app.notifications.outbox import queue_email
from app.settings.service import get_setting

ACTOR = "job:invoice_auto_send"


class ReminderScheduleError(ValueError):
    """The "reminders.days_overdue" setting is not a list of whole days."""


def run_invoice_auto_send(now: datetime, *, batch_size: int = 200, actor: str = ACTOR) -> dict[str, Any]:
    """Expiry first, so nothing past its expiry is sent or reminded."""
    return {
        **expire_stale_invoices(now, batch_size=batch_size, actor=actor),
        **send_new_invoices(now, batch_size=batch_size, actor=actor),
        **send_payment_reminders(now, batch_size=batch_size, actor=actor),
    }


def _open_batch(query, batch_size: int, after_id: int) -> list[Invoice]:  # noqa: ANN001
    return list(
        db.session.scalars(
            query.where(Invoice.status == InvoiceStatus.OPEN, Invoice.id > after_id)
            .order_by(Invoice.id)
            .limit(batch_size)
            .with_for_update(of=Invoice, skip_locked=True)
        )
    )


def send_new_invoices(now: datetime, *, batch_size: int = 200, actor: str = ACTOR) -> dict[str, int]:
    sent = after_id = 0
    query = select(Invoice).where(Invoice.sent_at.is_(None), Invoice.issued_at <= now)
    while invoices := _open_batch(query, batch_size, after_id):
        after_id = invoices[-1].id
        for invoice in invoices:
            customer = invoice.customer
            queue_email(
                to=customer.email,
                subject=f"Invoice {invoice.number} from {get_setting('business.name')}",
                template="invoice",
                context=invoice_context(invoice, customer),
                dedupe_key=f"invoice:sent:{invoice.id}",
                customer_id=customer.id,
                attachments=[{"kind": "invoice_pdf", "invoice_id": invoice.id}],
            )
            invoice.sent_at = now
            record_audit("invoice.sent", invoice, actor=actor, to=customer.email)
        sent += len(invoices)
        db.session.commit()
    return {"invoices_sent": sent}


def reminder_days() -> list[int]:
    value = get_setting("reminders.days_overdue")
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value):
        raise ReminderScheduleError(f"reminders.days_overdue must be a list of whole days above 0, got {value!r}")
    return sorted(set(value))


def reminder_due(days: list[int], days_overdue: int, last_sent: int) -> int | None:
    """The latest reminder day reached and not sent yet."""
    due = [d for d in days if last_sent < d <= days_overdue]
    return due[-1] if due else None


def send_payment_reminders(now: datetime, *, batch_size: int = 200, actor: str = ACTOR) -> dict[str, int]:
    """Invoices of a past-due subscription are left to dunning, whose emails already ask for that payment."""
    days = reminder_days()
    if not days:
        return {"reminders_sent": 0}
    sent = after_id = 0
    query = (
        select(Invoice)
        .outerjoin(Subscription, Subscription.id == Invoice.subscription_id)
        .where(
            # at least days[0] calendar days overdue
            Invoice.due_at < start_of_day(now.astimezone(UTC).date() - timedelta(days=days[0] - 1)),
            Invoice.reminder_days_sent < days[-1],
            or_(Subscription.id.is_(None), Subscription.status != SubscriptionStatus.PAST_DUE),
        )
    )
    while invoices := _open_batch(query, batch_size, after_id):
        after_id = invoices[-1].id
        for invoice in invoices:
            day = reminder_due(days, calendar_days(invoice.due_at, now), invoice.reminder_days_sent)
            if day is None:
                continue
            customer = invoice.customer
            queue_email(
                to=customer.email,
                subject=f"Reminder: invoice {invoice.number} is {day} days overdue",
                template="payment_reminder",
                context=invoice_context(invoice, customer, days_overdue=day),
                dedupe_key=f"invoice:reminder:{invoice.id}:{day}",
                customer_id=customer.id,
            )
            invoice.reminder_days_sent = day
            record_audit("invoice.reminder_sent", invoice, actor=actor, days_overdue=day)
            sent += 1
        db.session.commit()
    return {"reminders_sent": sent}


def expire_stale_invoices(now: datetime, *, batch_size: int = 200, actor: str = ACTOR) -> dict[str, int]:
    """Past expires_at the pay page stops quoting. A subscription whose first invoice expires never started:
    it is canceled."""
    expired = canceled = 0
    query = select(Invoice).where(Invoice.expires_at <= now)
    while invoices := _open_batch(query, batch_size, 0):  # expiring takes them out of the query
        for invoice in invoices:
            expire_invoice(invoice, actor=actor, now=now)
            sub = invoice.subscription
            if sub is not None and sub.status == SubscriptionStatus.INCOMPLETE:
                cancel_subscription(sub, actor=actor, reason="first_invoice_expired", now=now)
                canceled += 1
        expired += len(invoices)
        db.session.commit()
    return {"invoices_expired": expired, "subscriptions_canceled": canceled}
