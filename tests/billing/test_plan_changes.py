"""Plan changes: a paid change takes effect when its first invoice is paid; the customer never loses access to what
they have while it waits, and the unused part of a paid period comes back as credit."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.access.entitlement import entitlement_for
from app.billing.models import InvoiceStatus, SubscriptionStatus
from app.billing.plan_changes import PlanChangeError, change_plan
from app.billing.plans import free_plan
from app.billing.reminders import expire_stale_invoices
from app.billing.subscriptions import PlanNotAvailable, start_subscription
from app.db_types import utcnow
from app.ledger.service import check_books
from tests.factories import make_customer, make_invoice, make_plan, make_subscription, pay_in_cash


def _free_customer(db):
    customer = make_customer()
    sub, _ = start_subscription(customer, free_plan(), actor="test")
    db.session.commit()
    return customer, sub


def test_an_upgrade_from_free_waits_for_its_invoice_and_the_customer_keeps_the_free_plan_meanwhile(db):
    customer, free_sub = _free_customer(db)
    pro = make_plan(code="pro", amount_minor=2900)
    change = change_plan(free_sub, pro, actor="test")
    db.session.commit()
    assert change.pending and change.invoice.amount_due_minor == 2900
    assert change.subscription.status == SubscriptionStatus.INCOMPLETE
    waiting = entitlement_for(customer)
    assert (waiting["plan"], waiting["active"]) == ("free", True)

    pay_in_cash(change.invoice)
    db.session.refresh(free_sub)
    db.session.refresh(change.subscription)
    assert free_sub.status == SubscriptionStatus.CANCELED and free_sub.cancellation_reason == "plan_change"
    assert change.subscription.status == SubscriptionStatus.ACTIVE
    now_on = entitlement_for(customer)
    assert (now_on["plan"], now_on["active"], now_on["limits"]) == ("pro", True, {"seats": 5})
    assert customer.credit_balance_minor == 0  # nothing was paid on the free plan
    assert check_books() == []


def test_an_upgrade_mid_period_credits_the_unused_part_of_the_paid_period_when_it_takes_effect(db):
    customer = make_customer()
    starter = make_plan(code="starter", amount_minor=3000)
    sub = make_subscription(customer, starter, now=utcnow() - timedelta(days=10))
    business = make_plan(code="business", amount_minor=9900)
    change = change_plan(sub, business, actor="test")
    db.session.commit()
    assert change.pending and change.invoice.amount_due_minor == 9900

    pay_in_cash(change.invoice)
    db.session.refresh(sub)
    db.session.refresh(customer)
    invoice = change.invoice
    length = (sub.current_period_end - sub.current_period_start).total_seconds()
    unused = (sub.current_period_end - invoice.paid_at).total_seconds()
    assert customer.credit_balance_minor == 3000 * int(unused) // int(length)
    assert 1900 < customer.credit_balance_minor < 2100  # about two thirds of a month left
    assert sub.status == SubscriptionStatus.CANCELED
    assert entitlement_for(customer)["plan"] == "business"
    assert check_books() == []


def test_credit_that_covers_the_new_plan_makes_the_change_at_once(db):
    customer = make_customer()
    sub = make_subscription(customer, make_plan(code="basic", amount_minor=1000))
    extra = make_invoice(customer, amount_minor=500)
    pay_in_cash(extra, 5500)  # 5,000 over: credit
    db.session.refresh(customer)
    assert customer.credit_balance_minor == 5000
    change = change_plan(sub, make_plan(code="plus", amount_minor=2000), actor="test")
    db.session.commit()
    assert not change.pending and change.invoice.status == InvoiceStatus.PAID
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.CANCELED
    assert entitlement_for(customer)["plan"] == "plus"
    assert check_books() == []


def test_a_trial_switches_plan_in_place_and_keeps_its_end(db):
    customer = make_customer()
    trial_plan = make_plan(code="trial-pro", amount_minor=2900, trial_days=14)
    sub, _ = start_subscription(customer, trial_plan, actor="test")
    db.session.commit()
    trial_end = sub.trial_end
    change = change_plan(sub, make_plan(code="trial-team", amount_minor=7900), actor="test")
    db.session.commit()
    assert change.subscription.id == sub.id and not change.pending and change.invoice is None
    assert sub.status == SubscriptionStatus.TRIALING and sub.trial_end == trial_end
    assert entitlement_for(customer)["plan"] == "trial-team"


def test_moving_to_the_free_plan_happens_at_once_with_credit_for_the_unused_time(db):
    customer = make_customer()
    sub = make_subscription(customer, make_plan(code="monthly", amount_minor=3000))
    change = change_plan(sub, free_plan(), actor="test")
    db.session.commit()
    db.session.refresh(customer)
    assert not change.pending and change.subscription.plan.is_free
    assert 2900 <= customer.credit_balance_minor <= 3000  # nearly the whole month unused
    assert entitlement_for(customer)["plan"] == "free"
    assert check_books() == []


def test_a_change_never_paid_expires_and_the_customer_keeps_the_plan_they_had(db):
    customer, free_sub = _free_customer(db)
    change = change_plan(free_sub, make_plan(code="pro-x", amount_minor=2900), actor="test")
    db.session.commit()
    expire_stale_invoices(change.invoice.expires_at + timedelta(seconds=1))
    db.session.refresh(change.subscription)
    db.session.refresh(free_sub)
    assert change.subscription.status == SubscriptionStatus.CANCELED
    assert free_sub.status == SubscriptionStatus.ACTIVE
    assert entitlement_for(customer)["plan"] == "free"
    # ...and the customer can try again.
    again = change_plan(free_sub, change.subscription.plan, actor="test")
    assert again.pending
    assert check_books() == []


def test_changes_that_cannot_be_made_say_why_and_change_nothing(db):
    customer, free_sub = _free_customer(db)
    pro = make_plan(code="pro-y", amount_minor=2900)
    with pytest.raises(PlanChangeError, match="already on plan"):
        change_plan(free_sub, free_sub.plan, actor="test")
    change_plan(free_sub, pro, actor="test")
    db.session.commit()
    with pytest.raises(PlanChangeError, match="waiting for its first invoice"):
        change_plan(free_sub, make_plan(code="team-y", amount_minor=7900), actor="test")
    db.session.rollback()
    retired = make_plan(code="retired", amount_minor=100)
    retired.active = False
    db.session.commit()
    with pytest.raises(PlanNotAvailable):
        change_plan(free_sub, retired, actor="test")
    db.session.rollback()
    past_due = make_subscription(make_customer(), make_plan(code="pd", amount_minor=900))
    past_due.status = SubscriptionStatus.PAST_DUE
    db.session.commit()
    with pytest.raises(PlanChangeError, match="past due"):
        change_plan(past_due, pro, actor="test")


def test_the_operator_changes_a_plan_from_the_customer_page(operator_client, db):
    from tests.conftest import csrf_from

    customer, free_sub = _free_customer(db)
    make_plan(code="page-pro", amount_minor=2900)
    page = operator_client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert "Change plan" in page and "$29.00 a month" in page
    token = csrf_from(page)
    refused = operator_client.post(f"/customers/{customer.id}/plan", data={"csrf_token": token, "plan": "bogus"})
    assert refused.status_code == 422 and "Not a valid choice" in refused.get_data(as_text=True)
    done = operator_client.post(f"/customers/{customer.id}/plan", data={"csrf_token": token, "plan": "page-pro"})
    assert done.status_code == 302
    page = operator_client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert "Changing to <strong>Pro</strong> when its first invoice is paid" in page
    assert "starts when invoice #" in page and 'id="change-plan"' not in page  # one change at a time
    again = operator_client.post(f"/customers/{customer.id}/plan", data={"csrf_token": token, "plan": "page-pro"})
    assert again.status_code == 409 and "waiting for its first invoice" in again.get_data(as_text=True)


def test_the_operator_starts_and_ends_subscriptions_from_the_customer_page(operator_client, db):
    from app.billing.models import Invoice, Subscription
    from tests.conftest import csrf_from

    customer = make_customer()
    make_plan(code="desk-pro", amount_minor=2900)
    page = operator_client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert 'id="start-subscription"' in page and 'id="end-subscription"' not in page
    token = csrf_from(page)
    started = operator_client.post(
        f"/customers/{customer.id}/subscription", data={"csrf_token": token, "plan": "desk-pro"}
    )
    assert started.status_code == 302
    db.session.rollback()
    sub = db.session.scalar(select(Subscription).where(Subscription.customer_id == customer.id))
    assert sub.status == SubscriptionStatus.INCOMPLETE
    first = db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id))
    assert first.status == InvoiceStatus.OPEN

    # Unpaid, it can only end now; its first invoice is voided so nobody pays for a plan that is gone.
    page = operator_client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert "At the end of the paid period" not in page
    refused = operator_client.post(
        f"/customers/{customer.id}/subscription/end", data={"csrf_token": token, "when": "period_end"}
    )
    assert refused.status_code == 422 and "Not a valid choice" in refused.get_data(as_text=True)
    ended = operator_client.post(
        f"/customers/{customer.id}/subscription/end", data={"csrf_token": token, "when": "now"}
    )
    assert ended.status_code == 302
    db.session.rollback()
    assert db.session.get(Subscription, sub.id).status == SubscriptionStatus.CANCELED
    assert db.session.get(Invoice, first.id).status == InvoiceStatus.VOID
    assert check_books() == []


def test_an_active_paid_subscription_can_run_to_the_end_of_its_period(operator_client, db):
    from app.billing.models import Subscription
    from tests.conftest import csrf_from

    customer = make_customer()
    sub = make_subscription(customer, make_plan(code="desk-team", amount_minor=7900))
    page = operator_client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert f"At the end of the paid period ({sub.current_period_end:%Y-%m-%d})" in page
    done = operator_client.post(
        f"/customers/{customer.id}/subscription/end", data={"csrf_token": csrf_from(page), "when": "period_end"}
    )
    assert done.status_code == 302
    db.session.rollback()
    sub = db.session.get(Subscription, sub.id)
    assert sub.status == SubscriptionStatus.ACTIVE and sub.cancel_at_period_end
    assert entitlement_for(customer)["active"] is True  # access until the period ends
    page = operator_client.get(f"/customers/{customer.id}").get_data(as_text=True)
    assert "cancels at period end" in page and 'id="end-subscription"' not in page
