"""The customers list filtered by subscription status: where the dashboard's dunning and trial cards lead."""

from app.billing.subscriptions import mark_past_due, start_subscription
from app.extensions import db
from tests.factories import make_customer, make_plan, make_subscription


def test_the_list_keeps_only_customers_whose_subscription_has_the_status(operator_client):
    behind = make_subscription(make_customer(name="Paula Behind"))
    mark_past_due(behind, actor="test")
    start_subscription(make_customer(name="Tara Trial"), make_plan(trial_days=14), actor="test")
    make_subscription(make_customer(name="Ada Active"))
    db.session.commit()

    past_due = operator_client.get("/customers?subscription=past_due").get_data(as_text=True)
    assert "Paula Behind" in past_due and "Tara Trial" not in past_due and "Ada Active" not in past_due
    assert 'name="subscription" value="past_due"' in past_due  # the search keeps the filter
    trialing = operator_client.get("/customers?subscription=trialing").get_data(as_text=True)
    assert "Tara Trial" in trialing and "Paula Behind" not in trialing
    everyone = operator_client.get("/customers").get_data(as_text=True)
    assert all(name in everyone for name in ("Paula Behind", "Tara Trial", "Ada Active"))


def test_an_unknown_status_is_refused_naming_the_parameter(operator_client):
    response = operator_client.get("/customers?subscription=late")
    assert response.status_code == 400
    assert "subscription must be one of" in response.get_data(as_text=True)
