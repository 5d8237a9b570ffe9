"""Trials that end unpaid fall to the free plan with one email; credit pays invoices through the ledger."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.access.entitlement import entitlement_for
from app.billing.credit import apply_credit
from app.billing.models import Invoice, InvoiceStatus, SubscriptionStatus
from app.billing.subscriptions import invoice_for_period
from app.billing.trials import end_expired_trials
from app.ledger.models import Account, LedgerTransaction
from app.ledger.service import balance, check_books
from app.notifications.models import OutboxMessage
from tests.factories import make_customer, make_invoice, make_plan, make_subscription, pay_in_cash

START = datetime(2027, 2, 1, 9, 30, tzinfo=UTC)
TRIAL_END = START + timedelta(days=14)


def trial_emails(db) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("trial_ended:%"))))


def test_an_ended_trial_moves_to_the_free_plan_with_one_email(db):
    sub = make_subscription(plan=make_plan(trial_days=14), now=START)
    assert end_expired_trials(TRIAL_END - timedelta(minutes=1)) == {"trials_ended": 0, "invoices_voided": 0}
    assert end_expired_trials(TRIAL_END + timedelta(hours=17)) == {"trials_ended": 1, "invoices_voided": 0}
    assert end_expired_trials(TRIAL_END + timedelta(hours=18))["trials_ended"] == 0
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.CANCELED and sub.cancellation_reason == "trial_ended"
    [email] = trial_emails(db)
    assert email.payload["template"] == "trial_ended" and email.payload["to"] == sub.customer.email
    assert email.payload["context"]["plan_name"] == "Pro" and email.payload["context"]["free_plan_name"] == "Free"
    assert entitlement_for(sub.customer, TRIAL_END + timedelta(days=1))["plan"] == "free"


def test_an_open_invoice_of_the_ended_trial_is_voided(db):
    sub = make_subscription(plan=make_plan(trial_days=14), now=START)
    invoice = invoice_for_period(sub, TRIAL_END, TRIAL_END + timedelta(days=28), actor="test", now=START)
    db.session.commit()
    assert end_expired_trials(TRIAL_END + timedelta(hours=1))["invoices_voided"] == 1
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.VOID
    assert check_books() == []


def test_credit_pays_an_invoice_once_through_the_ledger(db):
    customer = make_customer()
    pay_in_cash(make_invoice(customer, amount_minor=1000), 1000 + 2500)
    invoice = make_invoice(customer, amount_minor=4000)
    assert apply_credit(invoice, actor="test") == 2500
    assert apply_credit(invoice, actor="test") == 0  # spent already
    db.session.commit()
    db.session.refresh(customer)
    assert customer.credit_balance_minor == 0 and invoice.amount_paid_minor == 2500
    assert invoice.status == InvoiceStatus.OPEN
    assert balance(Account.RECEIVABLE, "USD", customer.id) == 1500
    txn = db.session.scalar(select(LedgerTransaction).where(LedgerTransaction.kind == "credit.applied"))
    assert txn.idempotency_key == f"credit.applied:{invoice.id}" and txn.invoice_id == invoice.id
    assert check_books() == []


def test_credit_that_covers_an_invoice_pays_it(db):
    customer = make_customer()
    pay_in_cash(make_invoice(customer, amount_minor=1000), 1000 + 5000)
    invoice = make_invoice(customer, amount_minor=4000)
    assert apply_credit(invoice, actor="test") == 4000
    db.session.commit()
    assert invoice.status == InvoiceStatus.PAID and invoice.paid_at is not None
    db.session.refresh(customer)
    assert customer.credit_balance_minor == 1000
    assert check_books() == []


def test_credit_in_another_currency_is_not_spent(db):
    customer = make_customer(currency="EUR")
    pay_in_cash(make_invoice(customer, amount_minor=1000), 1000 + 5000)
    invoice = make_invoice(customer, amount_minor=4000, currency="USD")
    assert apply_credit(invoice, actor="test") == 0
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).amount_paid_minor == 0
