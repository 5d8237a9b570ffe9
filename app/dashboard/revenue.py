"""Revenue figures for the dashboard: MRR from live subscriptions, money collected by month from the ledger."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, case, func, or_, select

from app.billing.models import Interval, Plan, Subscription, SubscriptionStatus
from app.dashboard.service import in_currency_order
from app.db_types import utcnow
from app.extensions import db
from app.ledger.models import Account, LedgerEntry, LedgerTransaction

#: how many months the collected-revenue chart shows, this one included
CHART_MONTHS = 12
#: The ledger lines that say what customers paid, net of what was given back: a settled payment credits the
#: receivable (what it paid off) and customer credit (any surplus); a refund debits refunds (revenue given back)
#: and customer credit (a refunded surplus). Refunds of held money come out of suspense: never collected, so
#: not subtracted. Negated, these lines sum to money collected.
COLLECTED_LINES = (("payment.settled", Account.RECEIVABLE), ("payment.settled", Account.CUSTOMER_CREDIT))
GIVEN_BACK_LINES = (("refund", Account.REFUNDS), ("refund", Account.CUSTOMER_CREDIT))


@dataclass(frozen=True)
class Revenue:
    #: monthly recurring revenue per currency, minor units: monthly prices plus yearly prices / 12, floored
    mrr: dict[str, int]
    #: the first instant (UTC) of each month shown, oldest first; the last is the current month
    months: list[datetime]
    #: money collected net of refunds per currency, one figure per month in `months`
    collected: dict[str, list[int]]

    @property
    def this_month(self) -> dict[str, int]:
        return {currency: values[-1] for currency, values in self.collected.items()}

    @property
    def last_month(self) -> dict[str, int]:
        return {currency: values[-2] for currency, values in self.collected.items()}


def revenue(now: datetime | None = None) -> Revenue:
    now = now or utcnow()
    months = month_starts(now, CHART_MONTHS)
    return Revenue(mrr=mrr(), months=months, collected=collected_by_month(months, now))


def month_starts(now: datetime, count: int) -> list[datetime]:
    """The first instant of the current month and the `count - 1` before it, in UTC (books close in UTC)."""
    now = now.astimezone(UTC)
    index = now.year * 12 + now.month - 1
    return [datetime((i // 12), i % 12 + 1, 1, tzinfo=UTC) for i in range(index - count + 1, index + 1)]


def mrr() -> dict[str, int]:
    """Active subscriptions only (not trialing, past due or incomplete). Yearly prices are summed per currency and
    divided by 12 once, rounding down: MRR never claims a fraction of a cent that will not be billed."""
    rows = db.session.execute(
        select(Plan.currency, Plan.interval, func.sum(Plan.amount_minor))
        .join(Subscription, Subscription.plan_id == Plan.id)
        .where(Subscription.status == SubscriptionStatus.ACTIVE, Plan.is_free.is_(False))
        .group_by(Plan.currency, Plan.interval)
    )
    monthly: dict[str, int] = defaultdict(int)
    yearly: dict[str, int] = defaultdict(int)
    for currency, interval, total in rows:
        (yearly if interval == Interval.YEAR else monthly)[currency] += int(total)
    return in_currency_order({c: monthly[c] + yearly[c] // 12 for c in set(monthly) | set(yearly)})


def collected_by_month(months: list[datetime], now: datetime) -> dict[str, list[int]]:
    """One query: ledger lines bucketed into months by a CASE on the posting time (portable SQL, no date
    functions), summed per currency."""
    # months[i] <= posted_at < months[i + 1] falls in bucket i; the current month is the last one
    before_next = [(LedgerTransaction.posted_at < start, i) for i, start in enumerate(months[1:])]
    bucket = case(*before_next, else_=len(months) - 1)
    wanted = [*COLLECTED_LINES, *GIVEN_BACK_LINES]
    lines = (
        select(LedgerEntry.currency, bucket.label("month"), LedgerEntry.amount_minor)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(
            LedgerTransaction.posted_at >= months[0],
            LedgerTransaction.posted_at <= now,
            # implied by the pairs below; spelled out so the planner can use them
            LedgerTransaction.kind.in_(sorted({kind for kind, _ in wanted})),
            LedgerEntry.account.in_(sorted({account for _, account in wanted})),
            or_(*(and_(LedgerTransaction.kind == kind, LedgerEntry.account == account) for kind, account in wanted)),
        )
        .subquery()
    )
    # Grouped outside, by name: PostgreSQL would not match a CASE with bound parameters in GROUP BY.
    rows = db.session.execute(
        select(lines.c.currency, lines.c.month, func.sum(lines.c.amount_minor)).group_by(
            lines.c.currency, lines.c.month
        )
    )
    collected: dict[str, list[int]] = {}
    for currency, index, total in rows:
        collected.setdefault(currency, [0] * len(months))[int(index)] -= int(total)
    return in_currency_order(collected)
