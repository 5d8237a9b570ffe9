"""Plans: what the operator sells."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit.service import record_audit
from app.billing.models import Interval, Plan
from app.extensions import db
from app.money import format_money, normalise_currency

FREE_PLAN_CODE = "free"


class PlanExists(ValueError):
    pass


class PlanNotFound(LookupError):
    pass


def create_plan(
    code: str,
    name: str,
    amount_minor: int,
    currency: str,
    interval: Interval = Interval.MONTH,
    *,
    trial_days: int = 0,
    limits: dict | None = None,
    is_free: bool = False,
    actor: str,
) -> Plan:
    if amount_minor < 0 or trial_days < 0:
        raise ValueError("amount and trial days must not be negative")
    plan = Plan(
        code=code.strip(),
        name=name.strip(),
        amount_minor=amount_minor,
        currency=normalise_currency(currency),
        interval=Interval(interval),
        trial_days=trial_days,
        limits=limits or {},
        is_free=is_free or amount_minor == 0,
    )
    try:
        with db.session.begin_nested():
            db.session.add(plan)
    except IntegrityError:
        raise PlanExists(f"plan {code!r} already exists") from None
    record_audit("plan.created", plan, actor=actor, code=plan.code)
    return plan


def plan_by_code(code: str) -> Plan:
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        raise PlanNotFound(code)
    return plan


def active_plans() -> list[Plan]:
    """What can be sold now, cheapest first."""
    return list(db.session.scalars(select(Plan).where(Plan.active.is_(True)).order_by(Plan.amount_minor, Plan.code)))


def format_plan_price(plan: Plan) -> str:
    if plan.is_free:
        return "free"
    return f"{format_money(plan.amount_minor, plan.currency)} a {plan.interval.value}"


def free_plan() -> Plan:
    """The plan customers fall back to; created on first use."""
    plan = db.session.scalar(select(Plan).where(Plan.code == FREE_PLAN_CODE))
    if plan is None:
        plan = create_plan(
            FREE_PLAN_CODE, "Free", 0, "USD", Interval.MONTH, limits={"seats": 1}, is_free=True, actor="system"
        )
    return plan
