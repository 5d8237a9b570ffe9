"""Operator screen for plans: what is sold, and a form to add a plan."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from sqlalchemy import func, select

from app.audit.service import current_actor
from app.auth.guards import admin_required
from app.billing.forms import PlanForm
from app.billing.models import Interval, Plan, Subscription, SubscriptionStatus
from app.billing.plans import PlanExists, create_plan
from app.extensions import db

bp = Blueprint("plans", __name__, url_prefix="/plans")

#: subscriptions that count as a plan's customers
LIVE = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


def plans_with_subscribers() -> list[tuple[Plan, int]]:
    live = (
        select(Subscription.plan_id, func.count().label("n"))
        .where(Subscription.status.in_(LIVE))
        .group_by(Subscription.plan_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Plan, func.coalesce(live.c.n, 0))
        .outerjoin(live, live.c.plan_id == Plan.id)
        .order_by(Plan.active.desc(), Plan.currency, Plan.amount_minor, Plan.code)
    )
    return [(plan, int(n)) for plan, n in rows]


@bp.route("", methods=["GET", "POST"])
@admin_required
def index():
    form = PlanForm()
    taken = False
    if form.validate_on_submit():
        try:
            plan = create_plan(
                form.code.data,
                form.name.data,
                form.amount.minor,
                form.currency.data,
                Interval(form.interval.data),
                trial_days=form.trial_days.data or 0,
                limits=form.limits_value(),
                actor=current_actor(),
            )
        except PlanExists:
            db.session.rollback()
            taken = True
            form.code.errors.append("a plan with this code already exists")
        else:
            db.session.commit()
            flash(f"Plan {plan.name} ({plan.code}) created.", "success")
            return redirect(url_for("plans.index"))
    status = 409 if taken else 422 if form.errors else 200
    return render_template("billing/plans.html", form=form, plans=plans_with_subscribers()), status
