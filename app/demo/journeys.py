"""Customers' paths through the demo business: sign up, trial, pay, renew, move plans, leave."""

from __future__ import annotations

from datetime import timedelta

from app.billing.credit import apply_credit
from app.billing.models import Interval, InvoiceStatus, Plan, SubscriptionStatus
from app.billing.periods import next_period, period_end
from app.billing.subscriptions import cancel_subscription, invoice_for_period, start_subscription
from app.billing.trials import end_trial
from app.customers.service import create_customer
from app.demo import collecting
from app.demo.people import make_person
from app.demo.rails import ACTOR, choose_rail
from app.demo.state import Business, Change, Member
from app.demo.timeline import daily_run

#: monthly chance of cancelling, by tier; yearly plans decide once a year
MONTHLY_CHURN = {"starter": 0.035, "pro": 0.022, "business": 0.012}
YEARLY_CHURN = 0.14
FEEDBACK = {
    "too_expensive": ("Budget cuts this quarter.", "We only use a couple of features.", "Cheaper tools exist."),
    "missing_feature": ("No SSO on our plan.", "We need an API for exports.", "Missing team permissions."),
    "switched_competitor": ("Moved to a bundle our agency uses.", "Our new CTO prefers another tool."),
    "no_longer_needed": ("Project finished.", "We closed the side business.", "Merged into another team."),
}


def signup(biz: Business, index: int) -> None:
    person = make_person(biz.rng, index)
    customer = create_customer(
        person.external_id, person.email, person.name, country=person.country, currency=person.currency, actor=ACTOR
    )
    path = biz.rng.choices(("free", "trial", "paid"), weights=(58, 32, 10))[0]
    if biz.take("trial_soon", biz.end - timedelta(days=13) <= biz.clock.now < biz.end - timedelta(days=8)):
        path = "trial"
    plan = _first_plan(biz, person.currency, path)
    business = plan is not None and biz.catalog.tier_of(plan) == "business"
    member = Member(customer=customer, rail=choose_rail(biz.rng, person.currency, business=business))
    biz.tally["customers"] += 1
    if plan is None:
        sub, _ = start_subscription(customer, biz.catalog.free, actor=ACTOR, now=biz.clock.now)
        member.replace(sub)
        _maybe_upgrade_later(biz, member, 0.08)
        return
    start_paid(biz, member, plan, trial_days=None if path == "trial" else 0)
    if business:
        # Businesses buy onboarding too, paid by transfer on the usual terms; some of it late.
        biz.timeline.at(biz.clock.now + timedelta(days=2), collecting.bill_one_off, biz, member, True)


def _first_plan(biz: Business, currency: str, path: str) -> Plan | None:
    if path == "free":
        return None
    if path == "trial":
        return biz.catalog.monthly(biz.rng.choices(("starter", "pro"), weights=(55, 45))[0], currency)
    if currency != "USD":
        return biz.catalog.monthly(biz.rng.choices(("starter", "pro"), weights=(40, 60))[0], currency)
    code = biz.rng.choices(("starter-monthly", "pro-monthly", "pro-yearly", "business-monthly"), (25, 35, 22, 18))[0]
    return biz.catalog.plans[code]


def start_paid(biz: Business, member: Member, plan: Plan, *, trial_days: int | None, kind: str = "first") -> None:
    sub, invoice = start_subscription(member.customer, plan, actor=ACTOR, now=biz.clock.now, trial_days=trial_days)
    member.replace(sub)
    if sub.status == SubscriptionStatus.TRIALING:
        member.had_trial = True
        biz.tally["trials"] += 1
        # Converting customers pay for their first period in the last days of the trial; the 03:00 job moves
        # the others to the free plan once the trial has ended.
        decides = sub.trial_end - timedelta(days=biz.rng.uniform(0.5, 3))
        biz.timeline.at(decides, trial_decides, biz, member, member.generation)
        biz.timeline.at(daily_run("trial_cleanup", sub.trial_end), trial_cleanup, biz, member, member.generation)
    if invoice is not None:
        collecting.collect(biz, member, invoice, kind)


def trial_decides(biz: Business, member: Member, generation: int) -> None:
    sub = biz.live(member, generation)
    if sub is None or sub.status != SubscriptionStatus.TRIALING:
        return
    if biz.rng.random() < (0.42 if biz.catalog.tier_of(sub.plan) == "starter" else 0.52):
        end = period_end(sub.billing_anchor, sub.plan.interval, 1)
        invoice = invoice_for_period(sub, sub.trial_end, end, actor=ACTOR, now=biz.clock.now)
        collecting.collect(biz, member, invoice, "conversion")


def trial_cleanup(biz: Business, member: Member, generation: int) -> None:
    sub = biz.live(member, generation)
    if sub is None or sub.status != SubscriptionStatus.TRIALING:
        return
    free_sub, _ = end_trial(sub, biz.clock.now, actor=ACTOR)
    member.replace(free_sub)
    biz.tally["trials ended unconverted"] += 1
    _maybe_upgrade_later(biz, member, 0.06)


def _maybe_upgrade_later(biz: Business, member: Member, chance: float) -> None:
    if biz.rng.random() < chance:
        days = biz.rng.expovariate(1 / 120)
        biz.timeline.at(biz.clock.now + timedelta(days=days), upgrade_from_free, biz, member, member.generation)


def upgrade_from_free(biz: Business, member: Member, generation: int) -> None:
    sub = biz.live(member, generation)
    if sub is None or not sub.plan.is_free or sub.status != SubscriptionStatus.ACTIVE:
        return
    cancel_subscription(sub, actor=ACTOR, reason="upgrade", now=biz.clock.now)
    plan = biz.catalog.monthly(biz.rng.choice(("starter", "pro")), member.customer.preferred_currency)
    biz.tally["upgrades from free"] += 1
    start_paid(biz, member, plan, trial_days=0 if member.had_trial else None)


def new_period(biz: Business, member: Member) -> None:
    """A paid period began: decide what the customer does during it; the renewal job takes it at its end."""
    sub = member.sub
    end = sub.current_period_end
    if (sub.id, end) in biz.planned:
        return
    biz.planned.add((sub.id, end))
    generation = member.generation
    change = _decide_change(biz, member)
    if change is not None:
        span = max(0.0, (end - timedelta(days=1) - biz.clock.now).total_seconds())
        when = biz.clock.now + timedelta(seconds=biz.rng.uniform(0, span))
        biz.timeline.at(when, request_change, biz, member, generation, change)
    biz.timeline.at(daily_run("subscription_renewals", end), period_ends, biz, member, generation, end)


def _decide_change(biz: Business, member: Member) -> Change | None:
    sub, rng, catalog = member.sub, biz.rng, biz.catalog
    tier, currency = catalog.tier_of(sub.plan), sub.plan.currency
    yearly = sub.plan.interval == Interval.YEAR
    draw = rng.random()
    churn = YEARLY_CHURN if yearly else MONTHLY_CHURN[tier]
    if draw < churn:
        reason = rng.choices(tuple(FEEDBACK), weights=(35, 25, 15, 25))[0]
        feedback = rng.choice(FEEDBACK[reason]) if rng.random() < 0.6 else None
        return Change("cancel", reason=reason, feedback=feedback, to_free=rng.random() < 0.4)
    draw -= churn
    moves: list[tuple[str, str, float]] = []  # (kind, target plan code or tier, chance)
    if yearly:
        moves = [("downgrade", "pro-monthly", 0.05)]
    elif tier == "starter":
        moves = [("upgrade", "pro", 0.02)]
    elif tier == "pro":
        moves = [("upgrade", "business", 0.01), ("downgrade", "starter", 0.008), ("upgrade", "pro-yearly", 0.01)]
    elif tier == "business":
        moves = [("downgrade", "pro", 0.015)]
    for kind, target, chance in moves:
        plan = catalog.plans.get(target) or catalog.monthly(target, currency)
        if plan is not None and plan.currency == currency and draw < chance:
            return Change(kind, plan=plan)
        draw -= chance
    return None


def request_change(biz: Business, member: Member, generation: int, change: Change) -> None:
    sub = biz.live(member, generation)
    if sub is None or sub.status != SubscriptionStatus.ACTIVE:
        return
    if change.kind == "cancel":
        cancel_subscription(
            sub, actor=ACTOR, reason=change.reason, feedback=change.feedback, at_period_end=True, now=biz.clock.now
        )
    member.pending = change


def period_ends(biz: Business, member: Member, generation: int, end) -> None:  # noqa: ANN001
    """The 02:00 renewal job reaches the subscription: it ends as the customer asked, moves to the plan they
    chose, or is renewed (credit first, then the card; what is still unpaid falls past due)."""
    sub = biz.live(member, generation)
    if sub is None or sub.status != SubscriptionStatus.ACTIVE or sub.current_period_end != end:
        return
    now, change = biz.clock.now, member.pending
    if change is not None:
        cancel_subscription(sub, actor=ACTOR, reason=change.reason or change.kind, feedback=change.feedback, now=now)
        if change.kind != "cancel":
            biz.tally[f"{change.kind}s"] += 1
            start_paid(biz, member, change.plan, trial_days=0, kind="switch")
        elif change.to_free:
            biz.tally["churned to free"] += 1
            member.replace(start_subscription(member.customer, biz.catalog.free, actor=ACTOR, now=now)[0])
            _maybe_upgrade_later(biz, member, 0.03)
        else:
            biz.tally["churned"] += 1
            member.replace(None)
        return
    start, new_end = next_period(sub.billing_anchor, sub.plan.interval, end)
    invoice = invoice_for_period(sub, start, new_end, actor=ACTOR, now=now)
    if apply_credit(invoice, actor=ACTOR, now=now) and invoice.status == InvoiceStatus.PAID:
        biz.tally["renewals paid by credit"] += 1
        new_period(biz, member)
        return
    collecting.collect(biz, member, invoice, "renewal")
