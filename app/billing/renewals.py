"""Subscription renewals, the 02:00 job: invoice every paid subscription whose period has ended, spend credit,
charge a card on file, and move what is still unpaid to past due so dunning starts.

A job body: it commits once per batch, so a crash keeps the batches done and a re-run finishes the rest.
Running it twice creates nothing the second time: a renewed subscription is past due (or paid into its next
period) and no longer due, and the schema allows one invoice per (subscription, period start).

Most renewals take the bulk path (bulk_renewals.py: a few statements per batch of a thousand). Anything unusual
(credit to spend, a card on file, an invoice already there) takes the per-row path through the same services
the rest of the application uses; both write the same rows (tests/billing/test_renewal_paths.py compares them).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Select, select

from app.billing.bulk_renewals import renew_in_bulk
from app.billing.card_on_file import CARD_RAIL_UNAVAILABLE, charge_card_on_file, has_card_on_file
from app.billing.credit import apply_credit
from app.billing.models import Interval, Invoice, InvoiceStatus, Plan, Subscription, SubscriptionStatus
from app.billing.periods import next_period
from app.billing.subscriptions import apply_paid_invoice, cancel_subscription, invoice_for_period, mark_past_due
from app.customers.models import Customer
from app.extensions import db

ACTOR = "job:subscription_renewals"


@dataclass(frozen=True)
class DueRenewal:
    """What renewing one subscription needs, read for a whole batch in one query."""

    subscription_id: int
    customer_id: int
    customer_external_id: str
    credit_balance_minor: int
    preferred_currency: str
    stripe_customer_id: str | None
    plan_code: str
    plan_name: str
    plan_limits: dict
    amount_minor: int
    currency: str
    interval: Interval
    billing_anchor: datetime
    current_period_end: datetime

    @cached_property
    def period(self) -> tuple[datetime, datetime]:
        return next_period(self.billing_anchor, self.interval, self.current_period_end)

    @property
    def needs_per_row(self) -> bool:
        """Credit to spend or a card to charge: rare, and handled by the services one at a time."""
        has_credit = self.credit_balance_minor > 0 and self.preferred_currency == self.currency
        return has_credit or has_card_on_file(self.stripe_customer_id)


def run_renewals(
    now: datetime,
    *,
    batch_size: int = 1000,
    per_row: bool = False,
    actor: str = ACTOR,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Renews every subscription due at `now`; returns counts for the job's run record.

    `per_row=True` sends every renewal through the per-row services (the benchmark's baseline).
    """
    tally: Tally[str] = Tally()
    tally["canceled_at_period_end"] = _cancel_at_period_end(now, batch_size, actor)
    after_id = 0
    while rows := _due_batch(now, after_id, batch_size):
        after_id = rows[-1].subscription_id
        tally["due"] += len(rows)
        tally.update(_renew_batch(rows, now, actor, per_row))
        db.session.commit()
        if progress:
            progress(_summary(tally))
    return _summary(tally)


def _summary(tally: Tally[str]) -> dict[str, Any]:
    keys = (
        "due",
        "invoices_created",
        "past_due",
        "paid_by_credit",
        "paid_by_card",
        "already_invoiced",
        "canceled_at_period_end",
    )
    summary: dict[str, Any] = {key: tally[key] for key in keys}
    summary["card_not_charged"] = tally["card_not_charged"]
    if tally["card_not_charged"]:
        summary["card_not_charged_reason"] = CARD_RAIL_UNAVAILABLE
    return summary


@dataclass(frozen=True)
class Renewal:
    """What became of one renewal on the per-row path."""

    #: "past_due", "paid_by_credit", "paid_by_card" or "already_invoiced"
    outcome: str
    invoice_created: bool
    #: the customer has a card on file but no charge was attempted (see card_on_file.py)
    card_not_charged: bool = False


def _renew_batch(rows: list[DueRenewal], now: datetime, actor: str, per_row: bool) -> Tally[str]:
    """Numbers follow subscription ids whichever path a row takes: runs of plain rows go in bulk between the
    rows that need the per-row path."""
    tally: Tally[str] = Tally()
    invoiced = _already_invoiced(rows)
    plain: list[DueRenewal] = []
    for row in rows:
        if per_row or row.needs_per_row or row.subscription_id in invoiced:
            if plain:
                tally.update(renew_in_bulk(plain, now, actor))
                plain = []
            renewal = renew_subscription(db.session.get(Subscription, row.subscription_id), now, actor=actor)
            tally[renewal.outcome] += 1
            tally["invoices_created"] += renewal.invoice_created
            tally["card_not_charged"] += renewal.card_not_charged
        else:
            plain.append(row)
    if plain:
        tally.update(renew_in_bulk(plain, now, actor))
    return tally


def renew_subscription(sub: Subscription, now: datetime, *, actor: str = ACTOR) -> Renewal:
    """The per-row path: one renewal through the invoice, credit, card and subscription services."""
    start, end = next_period(sub.billing_anchor, sub.plan.interval, sub.current_period_end)
    invoice = db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id, Invoice.period_start == start))
    if invoice is not None:
        _settle_existing(sub, invoice, now, actor)
        return Renewal("already_invoiced", invoice_created=False)
    invoice = invoice_for_period(sub, start, end, actor=actor, now=now)
    apply_credit(invoice, actor=actor, now=now)
    if invoice.status == InvoiceStatus.PAID:
        return Renewal("paid_by_credit", invoice_created=True)
    card_not_charged = False
    if has_card_on_file(sub.customer.stripe_customer_id):
        # A succeeded charge settles the invoice through app.payments.settlement, which also renews the period.
        card_not_charged = charge_card_on_file(invoice, now=now) is None
        if invoice.status == InvoiceStatus.PAID:
            return Renewal("paid_by_card", invoice_created=True)
    mark_past_due(sub, actor=actor, now=now)
    return Renewal("past_due", invoice_created=True, card_not_charged=card_not_charged)


def _settle_existing(sub: Subscription, invoice: Invoice, now: datetime, actor: str) -> None:
    """The period's invoice is already there (made by hand, say): a paid one moves the period on; anything
    else leaves the subscription unpaid at period end, so dunning takes it."""
    if invoice.status == InvoiceStatus.PAID:
        apply_paid_invoice(invoice, actor=actor)
    else:
        mark_past_due(sub, actor=actor, now=now)


def _due_query(now: datetime) -> Select:
    return select(Subscription).where(
        Subscription.status == SubscriptionStatus.ACTIVE,
        Subscription.current_period_end <= now,
    )


def _cancel_at_period_end(now: datetime, batch_size: int, actor: str) -> int:
    """Customers who canceled keep their plan to the end of the period they paid for, then it ends."""
    canceled = 0
    while True:
        subs = db.session.scalars(
            _due_query(now)
            .where(Subscription.cancel_at_period_end.is_(True))
            .order_by(Subscription.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        if not subs:
            return canceled
        for sub in subs:
            # The reason and feedback the customer gave when they scheduled it stay on the subscription.
            cancel_subscription(
                sub, actor=actor, reason=sub.cancellation_reason, feedback=sub.cancellation_feedback, now=now
            )
        canceled += len(subs)
        db.session.commit()


def _due_batch(now: datetime, after_id: int, batch_size: int) -> list[DueRenewal]:
    """The next batch of paid subscriptions whose period has ended, locked so a second runner skips them.
    Free plans have nothing to invoice; their period does not limit access (see app/access/entitlement.py)."""
    query = (
        select(
            Subscription.id,
            Customer.id,
            Customer.external_id,
            Customer.credit_balance_minor,
            Customer.preferred_currency,
            Customer.stripe_customer_id,
            Plan.code,
            Plan.name,
            Plan.limits,
            Plan.amount_minor,
            Plan.currency,
            Plan.interval,
            Subscription.billing_anchor,
            Subscription.current_period_end,
        )
        .join(Plan, Plan.id == Subscription.plan_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscription.current_period_end <= now,
            Subscription.cancel_at_period_end.is_(False),
            Plan.is_free.is_(False),
            Subscription.id > after_id,
        )
        .order_by(Subscription.id)
        .limit(batch_size)
        .with_for_update(of=Subscription, skip_locked=True)
    )
    return [DueRenewal(*row) for row in db.session.execute(query)]


def _already_invoiced(rows: list[DueRenewal]) -> set[int]:
    """Subscriptions whose next period already has an invoice: one query for the batch, reading only invoices
    from the earliest next period on (not the subscriptions' whole history)."""
    starts = {row.subscription_id: row.period[0] for row in rows}
    found = db.session.execute(
        select(Invoice.subscription_id, Invoice.period_start).where(
            Invoice.subscription_id.in_(starts), Invoice.period_start >= min(starts.values())
        )
    )
    return {sub_id for sub_id, start in found if start == starts[sub_id]}
