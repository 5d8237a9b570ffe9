"""Renewals: the next period is invoiced once, credit is spent, what stays unpaid falls past due."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.access.models import WebhookDelivery, WebhookEndpoint
from app.audit.models import AuditEntry
from app.billing.card_on_file import CARD_RAIL_UNAVAILABLE
from app.billing.models import Invoice, InvoiceStatus, SubscriptionStatus
from app.billing.renewals import run_renewals
from app.billing.subscriptions import cancel_subscription, invoice_for_period
from app.ledger.models import Account
from app.ledger.service import balance, check_books
from app.notifications.delivery import deliver_due
from app.notifications.models import OutboxMessage
from tests.factories import make_customer, make_plan, make_subscription, pay_in_cash

START = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
RENEWAL_RUN = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # the month after Jan 31 ends Feb 28 (no drift)


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_renewal_invoices_the_next_period_and_the_unpaid_subscription_falls_past_due(db):
    db.session.add(WebhookEndpoint(url="http://127.0.0.1:9/hook", secret="whsec_test", events=[]))
    sub = make_subscription(now=START)
    assert sub.current_period_end == datetime(2027, 2, 28, 12, tzinfo=UTC)

    summary = run_renewals(RENEWAL_RUN)

    assert summary["due"] == 1 and summary["invoices_created"] == 1 and summary["past_due"] == 1
    db.session.refresh(sub)
    invoice = db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id).order_by(Invoice.id.desc()))
    assert (invoice.period_start, invoice.period_end) == (sub.current_period_end, datetime(2027, 3, 31, 12, tzinfo=UTC))
    assert invoice.status == InvoiceStatus.OPEN and invoice.amount_due_minor == 4900
    assert invoice.issued_at == RENEWAL_RUN and invoice.due_at == RENEWAL_RUN + timedelta(days=14)
    assert [line.description for line in invoice.lines] == ["Pro (Feb 28, 2027 – Mar 31, 2027)"]
    assert sub.status == SubscriptionStatus.PAST_DUE and sub.past_due_since == RENEWAL_RUN and sub.dunning_step == 0
    assert balance(Account.RECEIVABLE, "USD", sub.customer_id) == 4900
    event = db.session.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()))
    assert event.event_type == "subscription.updated" and event.payload["data"]["status"] == "past_due"
    assert check_books() == []


def test_a_second_run_creates_nothing(db):
    make_subscription(now=START)
    run_renewals(RENEWAL_RUN)
    before = (count(db, Invoice), count(db, AuditEntry), count(db, WebhookDelivery))
    summary = run_renewals(RENEWAL_RUN + timedelta(hours=1))
    assert summary["due"] == 0 and summary["invoices_created"] == 0
    assert (count(db, Invoice), count(db, AuditEntry), count(db, WebhookDelivery)) == before


def test_paying_the_renewal_makes_the_subscription_active_through_the_new_period(db):
    sub = make_subscription(now=START)
    run_renewals(RENEWAL_RUN)
    renewal = db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id).order_by(Invoice.id.desc()))
    pay_in_cash(renewal)
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.ACTIVE and sub.past_due_since is None
    assert sub.current_period_end == datetime(2027, 3, 31, 12, tzinfo=UTC)
    assert run_renewals(datetime(2027, 3, 31, 11, tzinfo=UTC))["due"] == 0  # not before the period ends
    assert run_renewals(datetime(2027, 4, 1, 2, tzinfo=UTC))["invoices_created"] == 1
    assert check_books() == []


def test_credit_that_covers_the_renewal_pays_it_and_the_subscription_stays_active(db):
    customer = make_customer()
    sub = make_subscription(customer, now=START, paid=False)
    first = db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id))
    pay_in_cash(first, 4900 + 6000)  # overpaid: 60.00 of credit
    db.session.refresh(customer)
    assert customer.credit_balance_minor == 6000

    summary = run_renewals(RENEWAL_RUN)

    assert summary["paid_by_credit"] == 1 and summary["past_due"] == 0
    db.session.refresh(sub)
    db.session.refresh(customer)
    renewal = db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id).order_by(Invoice.id.desc()))
    assert renewal.status == InvoiceStatus.PAID and renewal.amount_paid_minor == 4900
    assert customer.credit_balance_minor == 1100
    assert sub.status == SubscriptionStatus.ACTIVE and sub.current_period_end == renewal.period_end
    assert balance(Account.CUSTOMER_CREDIT, "USD", customer.id) == -1100
    assert check_books() == []


def test_a_renewal_paid_by_credit_emails_the_customer_one_receipt(db, smtp_server):
    customer = make_customer(name="Ada Lovelace", email="ada@example.com")
    sub = make_subscription(customer, now=START, paid=False)
    pay_in_cash(db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id)), 4900 + 6000)
    deliver_due()  # the cash payment's own receipt
    smtp_server.sink.reset()

    run_renewals(RENEWAL_RUN)
    run_renewals(RENEWAL_RUN + timedelta(hours=1))  # a second run finds nothing due and queues nothing
    deliver_due()

    renewal = db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id).order_by(Invoice.id.desc()))
    [mail] = smtp_server.messages
    assert mail["To"] == "ada@example.com"
    assert mail["Subject"] == f"Receipt for invoice {renewal.number}: paid from your account credit"
    for body in (mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()):
        assert "$49.00" in body and str(renewal.number) in body and renewal.reference_code in body
        assert "$11.00" in body  # the credit left after the renewal
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf" and attachment.get_content().startswith(b"%PDF-")
    assert count(db, OutboxMessage, OutboxMessage.dedupe_key == f"receipt:credit:{renewal.id}") == 1


def test_credit_short_of_the_renewal_pays_part_and_the_rest_is_dunned(db):
    customer = make_customer()
    sub = make_subscription(customer, now=START, paid=False)
    pay_in_cash(db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id)), 4900 + 1000)

    summary = run_renewals(RENEWAL_RUN)

    assert summary["past_due"] == 1
    renewal = db.session.scalar(select(Invoice).where(Invoice.subscription_id == sub.id).order_by(Invoice.id.desc()))
    db.session.refresh(customer)
    assert renewal.status == InvoiceStatus.OPEN and renewal.amount_remaining_minor == 3900
    assert customer.credit_balance_minor == 0
    assert balance(Account.RECEIVABLE, "USD", customer.id) == 3900
    assert count(db, OutboxMessage, OutboxMessage.dedupe_key.like("receipt:credit:%")) == 0  # still owed: no receipt
    assert check_books() == []


def test_a_subscription_set_to_cancel_at_period_end_is_canceled_not_renewed(db):
    db.session.add(WebhookEndpoint(url="http://127.0.0.1:9/hook", secret="whsec_test", events=[]))
    sub = make_subscription(now=START)
    cancel_subscription(sub, actor="test", reason="too_expensive", feedback="cheaper elsewhere", at_period_end=True)
    db.session.commit()
    invoices = count(db, Invoice)

    summary = run_renewals(RENEWAL_RUN)

    db.session.refresh(sub)
    assert summary["canceled_at_period_end"] == 1 and summary["invoices_created"] == 0
    assert sub.status == SubscriptionStatus.CANCELED and sub.canceled_at == RENEWAL_RUN
    assert (sub.cancellation_reason, sub.cancellation_feedback) == ("too_expensive", "cheaper elsewhere")
    assert count(db, Invoice) == invoices
    events = db.session.scalars(select(WebhookDelivery.event_type).order_by(WebhookDelivery.id)).all()
    assert events[-1] == "subscription.canceled"


def test_free_plans_and_trials_are_not_invoiced(db):
    from app.billing.plans import free_plan

    free = make_subscription(plan=free_plan(), now=START)
    trial = make_subscription(plan=make_plan(trial_days=14), now=START)
    assert (free.status, trial.status) == (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)
    assert run_renewals(RENEWAL_RUN + timedelta(days=60))["due"] == 0
    assert count(db, Invoice) == 0


def test_an_invoice_already_made_for_the_period_is_not_made_again(db):
    sub = make_subscription(now=START)
    start, end = sub.current_period_end, datetime(2027, 3, 31, 12, tzinfo=UTC)
    invoice_for_period(sub, start, end, actor="test", now=START + timedelta(days=20))
    db.session.commit()
    invoices = count(db, Invoice)

    summary = run_renewals(RENEWAL_RUN)

    assert summary["already_invoiced"] == 1 and summary["invoices_created"] == 0
    assert count(db, Invoice) == invoices
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.PAST_DUE  # unpaid at period end, so dunning takes it
    assert check_books() == []


def test_a_card_on_file_goes_to_the_card_hook_which_says_it_is_not_built(db):
    customer = make_customer()
    customer.stripe_customer_id = "cus_test123"
    db.session.commit()
    make_subscription(customer, now=START)

    summary = run_renewals(RENEWAL_RUN)

    assert summary["card_not_charged"] == 1 and summary["card_not_charged_reason"] == CARD_RAIL_UNAVAILABLE
    assert summary["past_due"] == 1


def test_a_batch_boundary_does_not_skip_or_repeat_a_subscription(db):
    plan = make_plan()
    subs = [make_subscription(plan=plan, now=START + timedelta(minutes=i)) for i in range(7)]
    summary = run_renewals(RENEWAL_RUN, batch_size=3)
    assert summary["due"] == 7 and summary["invoices_created"] == 7
    numbers = db.session.scalars(
        select(Invoice.number).where(Invoice.period_start > START + timedelta(days=1)).order_by(Invoice.subscription_id)
    ).all()
    assert numbers == list(range(numbers[0], numbers[0] + 7))  # gap-free, in subscription order
    assert {s.id for s in subs} == set(
        db.session.scalars(select(Invoice.subscription_id).where(Invoice.period_start > START + timedelta(days=1)))
    )
    assert check_books() == []
