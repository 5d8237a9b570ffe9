"""The bulk path of renewals: a batch of plain renewals written in a few statements, row for row what the
per-row services write (invoice, line, audit entries, receivable posting, past due, webhook deliveries).

Plain means: no credit to spend, no card on file, no invoice yet for the period (renewals.py decides). Kept
apart from the ORM on purpose: at 50,000 renewals a night, per-row flushes and savepoints are the cost. When a
service changes what it writes for a renewal, this file must follow; tests/billing/test_renewal_paths.py compares
the two paths row for row and fails until it does.
"""

from __future__ import annotations

import secrets
from collections import Counter as Tally
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.access.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.audit.models import AuditEntry
from app.billing.invoices import new_reference_code, reserve_numbers
from app.billing.models import Invoice, InvoiceLine, InvoiceStatus, Subscription, SubscriptionStatus
from app.billing.subscriptions import period_label
from app.bulk_insert import insert_rows, insert_rows_returning_ids
from app.db_types import utcnow
from app.extensions import db
from app.ledger.models import Account, LedgerEntry, LedgerTransaction
from app.settings.service import get_setting

if TYPE_CHECKING:
    from app.billing.renewals import DueRenewal

#: a reference code taken between our check and our insert fails the batch's savepoint; we draw again
ATTEMPTS = 3
PAST_DUE_EVENT = "subscription.updated"


def renew_in_bulk(rows: list[DueRenewal], now: datetime, actor: str) -> Tally[str]:
    """Invoices `rows` (locked by the caller) and moves them to past due, in the caller's transaction."""
    for attempt in range(ATTEMPTS):
        try:
            with db.session.begin_nested():
                _write(rows, now, actor)
            break
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    return Tally(invoices_created=len(rows), past_due=len(rows))


def _write(rows: list[DueRenewal], now: datetime, actor: str) -> None:
    wall = utcnow()  # what column defaults would stamp (created_at, at, posted_at)
    invoices = _insert_invoices(rows, now, wall)
    _insert_lines(rows, invoices)
    _post_receivables(invoices, wall)
    _mark_past_due(rows, now, wall)
    _insert_audit(
        wall,
        actor,
        [("invoice.created", "invoices", inv["id"], _created_details(inv)) for inv in invoices]
        + [("invoice.finalize", "invoices", inv["id"], {"from": "draft", "to": "open"}) for inv in invoices]
        + [
            ("subscription.fall_past_due", "subscriptions", row.subscription_id, {"from": "active", "to": "past_due"})
            for row in rows
        ],
    )


def _created_details(invoice: dict[str, Any]) -> dict[str, Any]:
    return {"number": invoice["number"], "amount_minor": invoice["amount_due_minor"], "currency": invoice["currency"]}


def _insert_invoices(rows: list[DueRenewal], now: datetime, wall: datetime) -> list[dict[str, Any]]:
    due_days = get_setting("invoice.due_days")
    expiry_days = get_setting("invoice.expiry_days")
    numbers = reserve_numbers(len(rows))
    codes = _fresh_reference_codes(len(rows))
    invoices = []
    for row, number, code in zip(rows, numbers, codes, strict=True):
        start, end = row.period
        invoices.append(
            {
                "number": number,
                "reference_code": code,
                "pay_token": secrets.token_urlsafe(24),
                "customer_id": row.customer_id,
                "subscription_id": row.subscription_id,
                "period_start": start,
                "period_end": end,
                "currency": row.currency,
                "amount_due_minor": row.amount_minor,
                "amount_paid_minor": 0,
                "status": InvoiceStatus.OPEN,
                "issued_at": now,
                "due_at": now + timedelta(days=due_days),
                "expires_at": now + timedelta(days=due_days + expiry_days),
                "reminder_days_sent": 0,
                "created_at": wall,
                # carried along for the lines, not columns
                "_label": period_label(row.plan_name, start, end)[:500],
            }
        )
    columns = [{k: v for k, v in inv.items() if not k.startswith("_")} for inv in invoices]
    ids = insert_rows_returning_ids(Invoice.__table__, columns)
    for inv, invoice_id in zip(invoices, ids, strict=True):
        inv["id"] = invoice_id
    return invoices


def _fresh_reference_codes(count: int) -> list[str]:
    """Random codes not already taken: one query for the batch instead of a savepoint per invoice."""
    codes: set[str] = set()
    while len(codes) < count:
        drawn = {new_reference_code() for _ in range(count - len(codes))} - codes
        taken = set(db.session.scalars(select(Invoice.reference_code).where(Invoice.reference_code.in_(drawn))))
        codes |= drawn - taken
    return list(codes)


def _insert_lines(rows: list[DueRenewal], invoices: list[dict[str, Any]]) -> None:
    insert_rows(
        InvoiceLine.__table__,
        [
            {
                "invoice_id": inv["id"],
                "description": inv["_label"],
                "quantity": 1,
                "unit_amount_minor": row.amount_minor,
                "amount_minor": row.amount_minor,
            }
            for row, inv in zip(rows, invoices, strict=True)
        ],
    )


def _insert_audit(wall: datetime, actor: str, entries: list[tuple[str, str, int, dict[str, Any]]]) -> None:
    insert_rows(
        AuditEntry.__table__,
        [
            {
                "at": wall,
                "actor": actor,
                "action": action,
                "object_type": object_type,
                "object_id": str(object_id),
                "details": details,
            }
            for action, object_type, object_id, details in entries
        ],
    )


def _post_receivables(invoices: list[dict[str, Any]], wall: datetime) -> None:
    """invoice.issued for each: Dr receivable (customer) / Cr revenue, as finalize_invoice posts it."""
    invoices = [inv for inv in invoices if inv["amount_due_minor"] != 0]  # post() writes nothing for zero
    if not invoices:
        return
    txn_ids = insert_rows_returning_ids(
        LedgerTransaction.__table__,
        [
            {
                "kind": "invoice.issued",
                "idempotency_key": f"invoice.issued:{inv['id']}",
                "invoice_id": inv["id"],
                "customer_id": inv["customer_id"],
                "description": f"Invoice {inv['number']}"[:300],
                "posted_at": wall,
            }
            for inv in invoices
        ],
    )
    entries = []
    for inv, txn_id in zip(invoices, txn_ids, strict=True):
        amount, currency = inv["amount_due_minor"], inv["currency"]
        entries.append((txn_id, Account.RECEIVABLE, amount, inv["customer_id"], currency))
        entries.append((txn_id, Account.REVENUE, -amount, None, currency))
    insert_rows(
        LedgerEntry.__table__,
        [
            {"transaction_id": t, "account": a, "amount_minor": m, "customer_id": c, "currency": cur}
            for t, a, m, c, cur in entries
        ],
    )


def _mark_past_due(rows: list[DueRenewal], now: datetime, wall: datetime) -> None:
    """mark_past_due for the batch: status, dunning clock and the product's webhook event (_write audits it)."""
    ids = [row.subscription_id for row in rows]
    db.session.execute(
        update(Subscription.__table__)
        .where(Subscription.__table__.c.id.in_(ids))
        .values(status=SubscriptionStatus.PAST_DUE, past_due_since=now, dunning_step=0, updated_at=wall)
    )
    endpoints = db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))).all()
    wanted = [e.id for e in endpoints if not e.events or PAST_DUE_EVENT in e.events]
    if not wanted:
        return
    deliveries = []
    for row in rows:
        event_id = f"evt_{secrets.token_hex(12)}"
        payload = {
            "id": event_id,
            "type": PAST_DUE_EVENT,
            "created": int(wall.timestamp()),
            "data": {
                "id": row.subscription_id,
                "customer": row.customer_external_id,
                "plan": row.plan_code,
                "status": SubscriptionStatus.PAST_DUE.value,
                "current_period_end": row.current_period_end.isoformat(),
                "limits": row.plan_limits,
            },
        }
        key = f"subscription.past_due:{row.subscription_id}:{now.isoformat()}"
        for endpoint_id in wanted:
            deliveries.append(
                {
                    "endpoint_id": endpoint_id,
                    "event_id": event_id,
                    "event_type": PAST_DUE_EVENT,
                    "event_key": key,
                    "payload": payload,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": wall,
                    "created_at": wall,
                }
            )
    insert_rows(WebhookDelivery.__table__, deliveries)
