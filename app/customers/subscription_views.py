"""The operator acts on a customer's subscription from their page: start one, change its plan, end it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for

from app.access.entitlement import current_subscription
from app.audit.service import current_actor
from app.auth.guards import admin_required
from app.billing.cancellations import CancellationError, end_subscription
from app.billing.forms import EndSubscriptionForm
from app.billing.plan_changes import PlanChangeError, change_plan
from app.billing.plans import plan_by_code
from app.billing.subscriptions import PlanNotAvailable, SubscriptionExists, subscribe
from app.customers.models import Customer
from app.customers.page import customer_page, plan_form_for
from app.extensions import db

bp = Blueprint("customer_subscriptions", __name__, url_prefix="/customers")


def _customer(customer_id: int) -> Customer:
    return db.session.get(Customer, customer_id) or abort(404)


def _back_to(customer: Customer):
    return redirect(url_for("customers.show", customer_id=customer.id))


@bp.route("/<int:customer_id>/subscription", methods=["POST"])
@admin_required
def start(customer_id: int):
    customer = _customer(customer_id)
    form = plan_form_for(None)
    if not form.validate_on_submit():
        return customer_page(customer, plan_form=form, status=422)
    try:
        sub, invoice = subscribe(customer, plan_by_code(form.plan.data), actor=current_actor())
    except (SubscriptionExists, PlanNotAvailable) as exc:
        db.session.rollback()
        form.plan.errors.append(str(exc))
        return customer_page(customer, plan_form=form, status=409)
    db.session.commit()
    if invoice is not None:
        flash(f"{sub.plan.name} starts when invoice #{invoice.number} is paid.", "success")
    elif sub.trial_end is not None:
        flash(f"{sub.plan.name} trial started; it ends on {sub.trial_end:%Y-%m-%d}.", "success")
    else:
        flash(f"{sub.plan.name} started.", "success")
    return _back_to(customer)


@bp.route("/<int:customer_id>/plan", methods=["POST"])
@admin_required
def change(customer_id: int):
    customer = _customer(customer_id)
    sub = current_subscription(customer)
    form = plan_form_for(sub)
    if not form.validate_on_submit():
        return customer_page(customer, plan_form=form, status=422)
    if sub is None:
        form.plan.errors.append("This customer has no live subscription to change; start one instead.")
        return customer_page(customer, plan_form=form, status=422)
    try:
        result = change_plan(sub, plan_by_code(form.plan.data), actor=current_actor())
    except (PlanChangeError, PlanNotAvailable) as exc:
        db.session.rollback()
        form.plan.errors.append(str(exc))
        return customer_page(customer, plan_form=form, status=409)
    db.session.commit()
    plan = result.subscription.plan
    if result.pending:
        number = result.invoice.number
        flash(f"{plan.name} starts when invoice #{number} is paid; the current plan stays until then.", "success")
    else:
        flash(f"Moved to {plan.name}.", "success")
    return _back_to(customer)


@bp.route("/<int:customer_id>/subscription/end", methods=["POST"])
@admin_required
def end(customer_id: int):
    customer = _customer(customer_id)
    sub = current_subscription(customer)
    form = EndSubscriptionForm.for_subscription(sub)
    if sub is None or not form.validate_on_submit():
        if sub is None:
            form.when.errors = ["This customer has no live subscription."]
        return customer_page(customer, end_form=form, status=422)
    at_period_end = form.when.data == "period_end"
    try:
        voided = end_subscription(sub, at_period_end=at_period_end, actor=current_actor())
    except CancellationError as exc:
        db.session.rollback()
        form.when.errors = [str(exc)]
        return customer_page(customer, end_form=form, status=409)
    db.session.commit()
    if at_period_end:
        flash(f"{sub.plan.name} ends on {sub.current_period_end:%Y-%m-%d}; access stays until then.", "success")
    else:
        also = f"; {voided} open invoice{'s' if voided != 1 else ''} voided" if voided else ""
        flash(f"{sub.plan.name} canceled{also}.", "success")
    return _back_to(customer)
