"""One customer's page, with the forms that act on their subscription (re-rendered with errors by their routes)."""

from __future__ import annotations

from flask import render_template
from wtforms import SelectChoice

from app.billing.forms import ChangePlanForm, EndSubscriptionForm
from app.billing.models import Subscription
from app.billing.plans import active_plans, format_plan_price
from app.customers.models import Customer
from app.customers.overview import customer_overview
from app.customers.timeline import customer_timeline
from app.payments.disputes import customer_disputes


def customer_page(
    customer: Customer,
    *,
    plan_form: ChangePlanForm | None = None,
    end_form: EndSubscriptionForm | None = None,
    status: int = 200,
):
    overview = customer_overview(customer)
    return render_template(
        "customers/show.html",
        customer=customer,
        overview=overview,
        timeline=customer_timeline(customer),
        disputes=customer_disputes(customer.id),
        plan_form=plan_form or plan_form_for(overview.subscription),
        end_form=end_form or EndSubscriptionForm.for_subscription(overview.subscription),
    ), status


def plan_form_for(sub: Subscription | None) -> ChangePlanForm:
    """The plans on offer, the current one left out (to start a subscription when `sub` is None, else to change)."""
    form = ChangePlanForm()
    form.plan.choices = [
        SelectChoice(plan.code, f"{plan.name} · {format_plan_price(plan)}")
        for plan in active_plans()
        if sub is None or plan.id != sub.plan_id
    ]
    return form
