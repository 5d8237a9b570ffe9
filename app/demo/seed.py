"""A deterministic demo business, so `make run` opens on a living company."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select, text

from app.auth.models import Role, User
from app.extensions import db

DEMO_OPERATOR_EMAIL = "operator@advancia.test"
DEMO_OPERATOR_PASSWORD = "advancia-demo-2026"  # noqa: S105 (published demo login)
#: signups grow by this factor each month, so the business looks like it is taking off
MONTHLY_GROWTH = 1.05


@dataclass(frozen=True)
class DemoOptions:
    customers: int = 2000
    months: int = 36
    seed: int = 1
    #: the day the history ends (midnight UTC); None means today, so the demo is always current
    end: datetime | None = None


def database_is_empty() -> bool:
    return db.session.scalar(select(User.id).where(User.role == Role.ADMIN).limit(1)) is None


def history_end(options: DemoOptions) -> datetime:
    end = options.end or datetime.now(UTC)
    return end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def seed_demo_data(options: DemoOptions, progress: Callable[[str], None] | None = None) -> dict[str, int | str]:
    """One transaction: a failed seed leaves nothing behind, so it can simply be run again. `progress` hears
    about each simulated quarter (the full demo takes a minute or so)."""
    from app.auth.service import create_user
    from app.customers.models import Customer

    rng = random.Random(options.seed)
    report: dict[str, int | str] = {}
    if db.session.scalar(select(User.id).where(User.email == DEMO_OPERATOR_EMAIL)) is None:
        create_user(DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD, Role.ADMIN, actor="seed")
    report["operator"] = f"{DEMO_OPERATOR_EMAIL} / {DEMO_OPERATOR_PASSWORD}"
    if db.session.scalar(select(func.count()).select_from(Customer)):
        report["business"] = "customers already present; no demo business added"
        db.session.commit()
        return report
    report.update(_seed_business(rng, options, progress))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # Fresh statistics for the planner: until autovacuum gets round to it, the dashboard's queries would be
        # planned for empty tables.
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return report


def _seed_business(
    rng: random.Random, options: DemoOptions, progress: Callable[[str], None] | None
) -> dict[str, int | str]:
    from app.db_types import utcnow
    from app.demo import journeys
    from app.demo.catalog import create_catalog
    from app.demo.clock import HistoryClock, stamping_history
    from app.demo.finishing import close_outbox
    from app.demo.market import Market
    from app.demo.ops_history import seed_ops_history
    from app.demo.rails import Cashier
    from app.demo.state import Business
    from app.demo.timeline import Timeline
    from app.payments.models import Rail
    from app.settings.service import get_setting

    end = history_end(options)
    start = end - relativedelta(months=options.months)
    clock = HistoryClock(start)
    session = db.session()
    with stamping_history(session, clock):
        market = Market(options.seed, start)
        biz = Business(
            rng=rng,
            clock=clock,
            timeline=Timeline(clock, end),
            market=market,
            cashier=Cashier(rng, market),
            catalog=create_catalog(),
            start=start,
            end=end,
            on_new_period=journeys.new_period,
            rails_to_show=[Rail(rail) for rail in get_setting("rails.enabled")],
        )
        for index, when in enumerate(signup_times(rng, options.customers, start, end), start=1):
            biz.timeline.at(when, journeys.signup, biz, index)
        events = biz.timeline.run(on_new_month=_quarterly(progress, biz))
        session.flush()  # at the last event's moment: rows still waiting for a flush take its date, not the end's
        biz.clock.now = end
    report: dict[str, int | str] = {"history": f"{start:%Y-%m-%d} to {end:%Y-%m-%d}", "events": events}
    report.update(sorted(biz.tally.items()))
    report.update(close_outbox(rng, end))
    # Uptime and past incidents for the status page (its own random stream, so the business above is unchanged).
    report.update(seed_ops_history(random.Random(f"ops:{options.seed}"), utcnow()))
    return report


def _quarterly(progress: Callable[[str], None] | None, biz) -> Callable[[datetime], None] | None:  # noqa: ANN001
    if progress is None:
        return None

    def report(when: datetime) -> None:
        if when.month % 3 == 1:
            progress(f"{when:%Y-%m}: {biz.tally['customers']} customers so far")

    return report


def signup_times(rng: random.Random, count: int, start: datetime, end: datetime) -> list[datetime]:
    """`count` moments in [start, end), more of them each month; sorted, so customer numbers follow signup order."""
    months = []
    month_start = start
    while month_start < end:
        months.append((month_start, min(month_start + relativedelta(months=1), end)))
        month_start += relativedelta(months=1)
    weights = [MONTHLY_GROWTH**i for i in range(len(months))]
    picks = rng.choices(months, weights=weights, k=count)
    return sorted(lo + timedelta(seconds=rng.uniform(0, (hi - lo).total_seconds() - 1)) for lo, hi in picks)
