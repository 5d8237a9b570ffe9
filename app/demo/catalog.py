"""What the demo business sells: a free plan and four paid tiers, priced in dollars, euros and pounds."""

from __future__ import annotations

from dataclasses import dataclass

from app.billing.models import Interval, Plan
from app.billing.plans import create_plan, free_plan

ACTOR = "seed"


@dataclass(frozen=True)
class PlanSpec:
    code: str
    name: str
    tier: str
    amount_minor: int
    currency: str
    interval: Interval
    trial_days: int
    limits: dict


STARTER = {"seats": 3, "projects": 10}
PRO = {"seats": 10, "projects": 50}
BUSINESS = {"seats": 50, "projects": 500, "sso": True}

PAID_PLANS = (
    PlanSpec("starter-monthly", "Starter", "starter", 1900, "USD", Interval.MONTH, 14, STARTER),
    PlanSpec("pro-monthly", "Pro", "pro", 4900, "USD", Interval.MONTH, 14, PRO),
    PlanSpec("pro-yearly", "Pro (yearly)", "pro", 49000, "USD", Interval.YEAR, 0, PRO),
    PlanSpec("business-monthly", "Business", "business", 19900, "USD", Interval.MONTH, 0, BUSINESS),
    PlanSpec("starter-monthly-eur", "Starter", "starter", 1800, "EUR", Interval.MONTH, 14, STARTER),
    PlanSpec("pro-monthly-eur", "Pro", "pro", 4500, "EUR", Interval.MONTH, 14, PRO),
    PlanSpec("starter-monthly-gbp", "Starter", "starter", 1500, "GBP", Interval.MONTH, 14, STARTER),
    PlanSpec("pro-monthly-gbp", "Pro", "pro", 3900, "GBP", Interval.MONTH, 14, PRO),
)


@dataclass
class Catalog:
    free: Plan
    plans: dict[str, Plan]
    specs: dict[str, PlanSpec]

    def monthly(self, tier: str, currency: str) -> Plan | None:
        """The monthly plan of a tier in a currency; None when that tier is not sold in it."""
        for spec in PAID_PLANS:
            if spec.tier == tier and spec.currency == currency and spec.interval == Interval.MONTH:
                return self.plans[spec.code]
        return None

    def tier_of(self, plan: Plan) -> str:
        return self.specs[plan.code].tier


def create_catalog() -> Catalog:
    plans = {
        spec.code: create_plan(
            spec.code,
            spec.name,
            spec.amount_minor,
            spec.currency,
            spec.interval,
            trial_days=spec.trial_days,
            limits=spec.limits,
            actor=ACTOR,
        )
        for spec in PAID_PLANS
    }
    return Catalog(free=free_plan(), plans=plans, specs={spec.code: spec for spec in PAID_PLANS})
