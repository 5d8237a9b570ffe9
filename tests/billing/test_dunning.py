"""Dunning: each step of the operator's schedule once, the latest due step only after missed days, then the
free plan; paying (or credit) stops it."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.access.entitlement import entitlement_for
from app.billing.dunning import DunningScheduleError, parse_schedule, run_dunning
from app.billing.models import Invoice, InvoiceStatus, SubscriptionStatus
from app.billing.renewals import run_renewals
from app.ledger.models import Account
from app.ledger.service import balance, check_books
from app.notifications.models import OutboxMessage
from app.settings.service import set_setting
from tests.factories import make_customer, make_invoice, make_subscription, pay_in_cash

START = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
RENEWAL_RUN = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


def nine_am(days_after_renewal: int) -> datetime:
    return datetime(2027, 3, 1, 9, 0, tzinfo=UTC) + timedelta(days=days_after_renewal)


def past_due_subscription(db, customer=None):
    sub = make_subscription(customer, now=START)
    run_renewals(RENEWAL_RUN)
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.PAST_DUE
    return sub


def renewal_of(db, sub) -> Invoice:
    return db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id).order_by(Invoice.id.desc()))


def dunning_emails(db) -> list[tuple[str, dict]]:
    rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key.like("dunning:%")).order_by(OutboxMessage.id)
    )
    return [(m.payload["template"], m.payload["context"]) for m in rows]


def test_each_step_happens_once_on_its_day_then_the_customer_is_on_the_free_plan(db):
    sub = past_due_subscription(db)
    renewal = renewal_of(db, sub)
    sent_on = {}
    for day in range(0, 13):
        for _ in range(2):  # a second run the same day changes nothing
            run_dunning(nine_am(day))
        for template, _ in dunning_emails(db):
            sent_on.setdefault(template, day)
        assert check_books() == []
        if day < 10:
            assert entitlement_for(sub.customer, nine_am(day))["active"] is True  # grace during dunning

    assert sent_on == {
        "dunning_retry": 1,
        "dunning_update_card": 3,
        "dunning_final_warning": 7,
        "dunning_downgraded": 10,
    }
    assert len(dunning_emails(db)) == 4
    db.session.refresh(sub)
    db.session.refresh(renewal)
    assert sub.status == SubscriptionStatus.CANCELED and sub.cancellation_reason == "dunning" and sub.dunning_step == 10
    assert renewal.status == InvoiceStatus.VOID  # the period they no longer get is not owed
    access = entitlement_for(sub.customer, nine_am(12))
    assert access["plan"] == "free" and access["limits"] == {"seats": 1}
    assert balance(Account.RECEIVABLE, "USD", sub.customer_id) == 0


def test_the_emails_carry_the_pay_link_and_what_is_owed(db, app):
    sub = past_due_subscription(db)
    renewal = renewal_of(db, sub)
    run_dunning(nine_am(1))
    [(template, context)] = dunning_emails(db)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("dunning:%")))
    assert template == "dunning_retry" and message.payload["to"] == sub.customer.email
    assert context["pay_url"] == f"{app.config['PUBLIC_URL']}/pay/{renewal.pay_token}"
    assert context["invoice_number"] == renewal.number and context["amount"] == "$49.00"
    assert context["plan_name"] == "Pro" and context["customer_name"] == sub.customer.name
    assert context["update_url"]


def test_missed_days_catch_up_to_the_latest_due_step_only(db):
    sub = past_due_subscription(db)
    summary = run_dunning(nine_am(5))  # days 1 and 3 were missed
    assert summary["emails"] == 1
    assert [t for t, _ in dunning_emails(db)] == ["dunning_update_card"]
    db.session.refresh(sub)
    assert sub.dunning_step == 3
    run_dunning(nine_am(6))
    assert len(dunning_emails(db)) == 1
    run_dunning(nine_am(7))
    assert [t for t, _ in dunning_emails(db)] == ["dunning_update_card", "dunning_final_warning"]


def test_missing_everything_up_to_the_last_day_downgrades_with_one_email(db):
    sub = past_due_subscription(db)
    run_dunning(nine_am(30))
    assert [t for t, _ in dunning_emails(db)] == ["dunning_downgraded"]
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.CANCELED
    assert check_books() == []


def test_paying_during_dunning_stops_it(db):
    sub = past_due_subscription(db)
    run_dunning(nine_am(1))
    pay_in_cash(renewal_of(db, sub))
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.ACTIVE and sub.dunning_step == 0 and sub.past_due_since is None
    for day in range(2, 15):
        run_dunning(nine_am(day))
    assert [t for t, _ in dunning_emails(db)] == ["dunning_retry"]
    assert sub.status == SubscriptionStatus.ACTIVE


def test_a_retry_spends_credit_that_arrived_since_the_renewal(db):
    customer = make_customer()
    sub = past_due_subscription(db, customer)
    pay_in_cash(make_invoice(customer, amount_minor=1000), 1000 + 6000)  # overpaid elsewhere: 60.00 credit
    summary = run_dunning(nine_am(1))
    assert summary["recovered"] == 1 and summary["emails"] == 0
    db.session.refresh(sub)
    db.session.refresh(customer)
    assert sub.status == SubscriptionStatus.ACTIVE and renewal_of(db, sub).status == InvoiceStatus.PAID
    assert customer.credit_balance_minor == 1100
    assert check_books() == []


def test_what_was_paid_on_the_voided_renewal_becomes_credit(db):
    customer = make_customer()
    sub = past_due_subscription(db, customer)
    pay_in_cash(renewal_of(db, sub), 2000)  # part of it, by cash
    run_dunning(nine_am(10))
    db.session.refresh(customer)
    renewal = renewal_of(db, sub)
    assert renewal.status == InvoiceStatus.VOID and renewal.amount_paid_minor == 2000
    assert customer.credit_balance_minor == 2000
    assert balance(Account.CUSTOMER_CREDIT, "USD", customer.id) == -2000
    assert check_books() == []


def test_the_schedule_is_read_from_the_settings_on_every_run(db):
    sub = past_due_subscription(db)
    run_dunning(nine_am(1))
    set_setting(
        "dunning.schedule",
        [
            {
                "day": 2,
                "action": "retry",
                "email": "dunning_final_warning",
                "subject": "Last call, {customer_name} {unknown} {",
            },
            {"day": 4, "action": "downgrade", "email": None},
        ],
        actor="test",
    )
    db.session.commit()
    run_dunning(nine_am(2))
    run_dunning(nine_am(4))
    assert [t for t, _ in dunning_emails(db)] == ["dunning_retry", "dunning_final_warning"]
    last = db.session.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
    assert last.payload["subject"] == f"Last call, {sub.customer.name} {{unknown}} {{"  # only known names filled
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.CANCELED  # a silent downgrade on day 4


@pytest.mark.parametrize(
    "schedule, field",
    [
        ([], ""),
        ([{"day": 0, "action": "retry", "email": "x"}, {"day": 3, "action": "downgrade", "email": None}], "[0].day"),
        ([{"day": 1, "action": "pester", "email": "x"}], "[0].action"),
        ([{"day": 1, "action": "retry", "email": 5}, {"day": 3, "action": "downgrade", "email": None}], "[0].email"),
        ([{"day": 1, "action": "retry", "email": "x"}], "action"),
        ([{"day": 5, "action": "downgrade"}, {"day": 7, "action": "retry", "email": "x"}], "action"),
        ([{"day": 2, "action": "retry"}, {"day": 2, "action": "downgrade"}], "day"),
        ("every day", ""),
    ],
)
def test_a_schedule_that_cannot_be_followed_is_refused_naming_the_field(schedule, field):
    with pytest.raises(DunningScheduleError) as error:
        parse_schedule(schedule)
    assert error.value.field == field


def test_a_broken_schedule_fails_the_run_and_changes_nothing(db):
    sub = past_due_subscription(db)
    set_setting("dunning.schedule", [{"day": 1, "action": "retry", "email": "dunning_retry"}], actor="test")
    db.session.commit()
    with pytest.raises(DunningScheduleError):
        run_dunning(nine_am(12))
    db.session.rollback()
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.PAST_DUE and sub.dunning_step == 0 and dunning_emails(db) == []
