"""Operator screens for customers: the searchable list, one customer's page, and the new-customer form."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from app.audit.service import current_actor
from app.auth.guards import admin_required
from app.billing.models import SubscriptionStatus
from app.customers.forms import NewCustomerForm
from app.customers.listing import search_customers
from app.customers.models import Customer
from app.customers.page import customer_page
from app.customers.service import CustomerExists, create_customer
from app.extensions import db
from app.fragments import render_page_or_fragment
from app.pagination import page_number

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
    return customer_page(customer)
