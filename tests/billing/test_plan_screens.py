"""The plans screen: what is sold, and the form that adds a plan."""

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.billing.models import Interval, Plan
from app.billing.subscriptions import start_subscription
from tests.factories import make_customer, make_plan
from tests.screens import text_of, token_of

pytestmark = pytest.mark.usefixtures("fresh_reads")


def test_plans_are_listed_with_price_trial_limits_and_subscribers(operator_client, db):
    plan = make_plan(code="pro-monthly", amount_minor=4900, trial_days=14, limits={"seats": 5})
    for _ in range(2):
        start_subscription(make_customer(), plan, actor="test")
    db.session.commit()
    html = operator_client.get("/plans").get_data(as_text=True)
    row = text_of(html[html.index("pro-monthly") : html.index("</tr>", html.index("pro-monthly"))])
    assert row.split() == [
        "pro-monthly",
        "$49.00",
        "/month",
        "14",
        "d",
        "seats:",
        "5",
        "2",
        plan.created_at.strftime("%Y-%m-%d"),
    ]


def test_create_plan_with_seats_and_other_limits_merged(operator_client, operator, db):
    token = token_of(operator_client, "/plans")
    response = operator_client.post(
        "/plans",
        data={
            "csrf_token": token,
            "code": "team-yearly",
            "name": "Team",
            "amount": "490.00",
            "currency": "EUR",
            "interval": "year",
            "trial_days": "7",
            "seats": "10",
            "limits": '{"projects": 50}',
        },
    )
    assert response.status_code == 302
    plan = db.session.scalar(select(Plan).where(Plan.code == "team-yearly"))
    assert (plan.amount_minor, plan.currency, plan.interval, plan.trial_days) == (49000, "EUR", Interval.YEAR, 7)
    assert plan.limits == {"projects": 50, "seats": 10}
    assert (
        db.session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "plan.created")) == f"user:{operator.id}"
    )


def test_a_taken_code_is_refused_on_its_field(operator_client, db):
    make_plan(code="pro")
    token = token_of(operator_client, "/plans")
    response = operator_client.post(
        "/plans",
        data={
            "csrf_token": token,
            "code": "pro",
            "name": "Pro again",
            "amount": "10",
            "currency": "USD",
            "interval": "month",
            "trial_days": "0",
        },
    )
    assert response.status_code == 409 and "a plan with this code already exists" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Plan)) == 1


def test_bad_plan_input_names_each_field_and_changes_nothing(operator_client, db):
    token = token_of(operator_client, "/plans")
    response = operator_client.post(
        "/plans",
        data={
            "csrf_token": token,
            "code": "Pro Plan!",
            "name": "",
            "amount": "9.999",
            "currency": "USD",
            "interval": "week",
            "trial_days": "-1",
            "limits": "[1, 2]",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in (
        "lower-case letters, digits and dashes",
        "This field is required",
        "USD has 2 decimal places",
        "Not a valid choice",
        "Number must be between 0 and 365",
        "must be a JSON object",
    ):
        assert message in html, message
    assert db.session.scalar(select(func.count()).select_from(Plan)) == 0
