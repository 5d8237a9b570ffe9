"""Operator screens for customers: the searchable list, one customer's page, and the new-customer form."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from wtforms import SelectChoice

from app.access.entitlement import current_subscription
from app.audit.service import current_actor
from app.auth.guards import admin_required
from app.billing.forms import ChangePlanForm
from app.billing.models import Subscription, SubscriptionStatus
from app.billing.plan_changes import PlanChangeError, change_plan
from app.billing.plans import active_plans, format_plan_price, plan_by_code
from app.billing.subscriptions import PlanNotAvailable
from app.customers.forms import NewCustomerForm
from app.customers.listing import search_customers
from app.customers.models import Customer
from app.customers.overview import customer_overview
from app.customers.service import CustomerExists, create_customer
from app.customers.timeline import customer_timeline
from app.extensions import db
from app.fragments import render_page_or_fragment
from app.pagination import page_number
from app.payments.disputes import customer_disputes

bp = Blueprint("customers", __name__, url_prefix="/customers")


@bp.route("")
@admin_required
def index():
    query = request.args.get("q", "").strip()[:200]
    status = _subscription_filter(request.args.get("subscription"))
    page = search_customers(query, page_number(request.args.get("page")), subscription_status=status)
    return render_page_or_fragment(
        "customers/index.html", "customers/partials/_results.html", page=page, q=query, subscription=status
    )


def _subscription_filter(raw: str | None) -> SubscriptionStatus | None:
    if not raw:
        return None
    try:
        return SubscriptionStatus(raw)
    except ValueError:
        abort(400, description=f"subscription must be one of {', '.join(s.value for s in SubscriptionStatus)}")


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new():
    form = NewCustomerForm()
    if form.validate_on_submit():
        try:
            customer = create_customer(
                form.external_id.data,
                form.email.data,
                form.name.data or "",
                country=form.country.data or None,
                currency=form.currency.data,
                actor=current_actor(),
            )
        except CustomerExists as exc:
            db.session.rollback()
            form.external_id.errors.append(f"already used by {exc.customer.name or exc.customer.email}")
            return render_template("customers/new.html", form=form, existing=exc.customer), 409
        db.session.commit()
        flash(f"Customer {customer.name or customer.email} created.", "success")
        return redirect(url_for("customers.show", customer_id=customer.id))
    return render_template("customers/new.html", form=form, existing=None), 422 if form.errors else 200


@bp.route("/<int:customer_id>")
@admin_required
def show(customer_id: int):
    customer = db.session.get(Customer, customer_id) or abort(404)
    return _customer_page(customer)


def _customer_page(customer: Customer, plan_form: ChangePlanForm | None = None, status: int = 200):
    overview = customer_overview(customer)
    return render_template(
        "customers/show.html",
        customer=customer,
        overview=overview,
        timeline=customer_timeline(customer),
        disputes=customer_disputes(customer.id),
        plan_form=plan_form or _plan_form(overview.subscription),
    ), status


def _plan_form(sub: Subscription | None) -> ChangePlanForm:
    form = ChangePlanForm()
    form.plan.choices = [
        SelectChoice(plan.code, f"{plan.name} · {format_plan_price(plan)}")
        for plan in active_plans()
        if sub is None or plan.id != sub.plan_id
    ]
    return form


@bp.route("/<int:customer_id>/plan", methods=["POST"])
@admin_required
def change_subscription_plan(customer_id: int):
    customer = db.session.get(Customer, customer_id) or abort(404)
    sub = current_subscription(customer)
    form = _plan_form(sub)
    if not form.validate_on_submit():
        return _customer_page(customer, form, 422)
    if sub is None:
        form.plan.errors.append("This customer has no live subscription to change; start one instead.")
        return _customer_page(customer, form, 422)
    try:
        change = change_plan(sub, plan_by_code(form.plan.data), actor=current_actor())
    except (PlanChangeError, PlanNotAvailable) as exc:
        db.session.rollback()
        form.plan.errors.append(str(exc))
        return _customer_page(customer, form, 409)
    db.session.commit()
    plan = change.subscription.plan
    if change.pending:
        flash(
            f"{plan.name} starts when invoice #{change.invoice.number} is paid; the current plan stays until then.",
            "success",
        )
    else:
        flash(f"Moved to {plan.name}.", "success")
    return redirect(url_for("customers.show", customer_id=customer.id))
