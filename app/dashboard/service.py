"""What needs the operator today, gathered in a few queries (one per table), amounts per currency."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select

from app.automation.models import JobRun, RunOutcome
from app.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from app.db_types import utcnow
from app.extensions import db
from app.payments.disputes import EVIDENCE_SENT
from app.payments.models import Dispute, DisputeStatus, Payment, PaymentStatus

#: trials ending within this many days are worth a look (a nudge, a call)
TRIALS_HORIZON = timedelta(days=7)


@dataclass(frozen=True)
class Overview:
    job_runs_24h: int
    job_failures_24h: int


@dataclass
class Attention:
    """Counts, and amounts in minor units by currency (never added across currencies)."""

    open_invoices: int = 0
    open_by_currency: dict[str, int] = field(default_factory=dict)
    overdue_invoices: int = 0
    overdue_by_currency: dict[str, int] = field(default_factory=dict)
    oldest_overdue_due_at: datetime | None = None
    held_payments: int = 0
    held_by_currency: dict[str, int] = field(default_factory=dict)
    #: disputed payments whose response deadline has not passed
    open_disputes: int = 0
    past_due_subscriptions: int = 0
    oldest_past_due_since: datetime | None = None
    trials_ending: int = 0
    trials_running: int = 0


def in_currency_order(amounts: dict[str, int]) -> dict[str, int]:
    """US dollars first (the demo's and most operators' main currency), then alphabetical."""
    return dict(sorted(amounts.items(), key=lambda item: (item[0] != "USD", item[0])))


def overview(now: datetime | None = None) -> Overview:
    since = (now or utcnow()) - timedelta(hours=24)
    counts = dict(
        db.session.execute(
            select(JobRun.outcome, func.count()).where(JobRun.started_at >= since).group_by(JobRun.outcome)
        ).all()
    )
    return Overview(job_runs_24h=sum(counts.values()), job_failures_24h=counts.get(RunOutcome.FAILED, 0))


def attention(now: datetime | None = None) -> Attention:
    now = now or utcnow()
    result = Attention()
    _invoices(result, now)
    _payments(result, now)
    _subscriptions(result, now)
    for name in ("open_by_currency", "overdue_by_currency", "held_by_currency"):
        setattr(result, name, in_currency_order(getattr(result, name)))
    return result


def _count_if(condition) -> object:  # noqa: ANN001
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _sum_if(condition, amount) -> object:  # noqa: ANN001
    return func.coalesce(func.sum(case((condition, amount), else_=0)), 0)


def _invoices(result: Attention, now: datetime) -> None:
    """Open invoices and, among them, the overdue ones (an open invoice past its due date), per currency."""
    overdue = Invoice.due_at < now
    remaining = Invoice.amount_due_minor - Invoice.amount_paid_minor
    rows = db.session.execute(
        select(
            Invoice.currency,
            func.count(),
            func.sum(remaining),
            _count_if(overdue),
            _sum_if(overdue, remaining),
            func.min(case((overdue, Invoice.due_at))),
        )
        .where(Invoice.status == InvoiceStatus.OPEN)
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    )
    for currency, count, amount, overdue_count, overdue_amount, oldest in rows:
        result.open_invoices += count
        result.open_by_currency[currency] = int(amount)
        if overdue_count:
            result.overdue_invoices += int(overdue_count)
            result.overdue_by_currency[currency] = int(overdue_amount)
        oldest = _aware(oldest)
        if oldest and (result.oldest_overdue_due_at is None or oldest < result.oldest_overdue_due_at):
            result.oldest_overdue_due_at = oldest


def _payments(result: Attention, now: datetime) -> None:
    held = Payment.status == PaymentStatus.NEEDS_REVIEW
    rows = db.session.execute(
        select(Payment.currency, func.count(), func.sum(Payment.amount_minor))
        .where(held)
        .group_by(Payment.currency)
        .order_by(Payment.currency)
    )
    for currency, held_count, held_amount in rows:
        result.held_payments += int(held_count)
        result.held_by_currency[currency] = int(held_amount)
    # to answer: open, the deadline ahead, no evidence sent yet (then the bank decides and nothing is asked of us)
    result.open_disputes = db.session.scalar(
        select(func.count())
        .select_from(Dispute)
        .where(
            Dispute.status == DisputeStatus.OPEN,
            Dispute.due_by >= now,
            or_(Dispute.rail_status.is_(None), Dispute.rail_status.not_in(EVIDENCE_SENT)),
        )
    )


def _subscriptions(result: Attention, now: datetime) -> None:
    past_due = Subscription.status == SubscriptionStatus.PAST_DUE
    trialing = Subscription.status == SubscriptionStatus.TRIALING
    row = db.session.execute(
        select(
            _count_if(past_due),
            func.min(case((past_due, Subscription.past_due_since))),
            # A trial whose end has passed is still "ending" until the 03:00 job moves it to the free plan.
            _count_if(and_(trialing, Subscription.trial_end < now + TRIALS_HORIZON)),
            _count_if(trialing),
        ).where(Subscription.status.in_((SubscriptionStatus.PAST_DUE, SubscriptionStatus.TRIALING)))
    ).one()
    result.past_due_subscriptions = int(row[0])
    result.oldest_past_due_since = _aware(row[1])
    result.trials_ending, result.trials_running = int(row[2]), int(row[3])


def _aware(value) -> datetime | None:  # noqa: ANN001
    """min() over a UTCDateTime column comes back untyped (SQLite: a string): read it as the column would."""
    if value is None or isinstance(value, datetime) and value.tzinfo is not None:
        return value
    from app.db_types import UTCDateTime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return UTCDateTime().process_result_value(value, db.engine.dialect)
