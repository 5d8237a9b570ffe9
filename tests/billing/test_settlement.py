"""settle_payment: the one path every rail's money takes into the books."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.access.models import WebhookDelivery, WebhookEndpoint
from app.billing.invoices import expire_invoice
from app.billing.models import InvoiceStatus, SubscriptionStatus
from app.billing.subscriptions import start_subscription
from app.db_types import utcnow
from app.ledger.models import Account
from app.ledger.service import balance, check_books
from app.notifications.models import OutboxKind, OutboxMessage
from app.payments.models import Payment, PaymentStatus, Rail
from app.payments.refunds import RefundError, record_refund
from app.payments.settlement import IncomingPayment, SettlementError, SettlementOutcome, settle_payment
from tests.factories import make_customer, make_invoice, make_plan


def cash(reference: str, amount_minor: int, *, rail: Rail = Rail.CASH, fee: int = 0) -> IncomingPayment:
    return IncomingPayment(
        rail=rail,
        rail_payment_id=reference,
        amount_received_minor=amount_minor,
        currency_received="USD",
        amount_minor=amount_minor,
        fee_minor=fee,
    )


def settle(invoice, incoming):
    from app.extensions import db

    result = settle_payment(invoice.id, incoming, actor="test")
    db.session.commit()
    db.session.refresh(invoice)
    return result


def test_full_payment_marks_the_invoice_paid_and_writes_balanced_books(db):
    invoice = make_invoice(amount_minor=4900)
    result = settle(invoice, cash("R-1", 4900, rail=Rail.WIRE, fee=150))
    assert result.outcome == SettlementOutcome.PAID
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid_minor == 4900 and invoice.paid_at
    assert balance(Account.RECEIVABLE, "USD") == 0
    assert balance(Account.REVENUE, "USD") == -4900
    assert balance(Account.CASH_WIRE, "USD") == 4750 and balance(Account.FEES, "USD") == 150
    assert check_books() == []


def test_same_rail_id_twice_changes_nothing_the_second_time(db):
    invoice = make_invoice(amount_minor=4900)
    first = settle(invoice, cash("R-1", 2000))
    second = settle(invoice, cash("R-1", 2000))
    assert first.outcome == SettlementOutcome.PARTIAL and second.outcome == SettlementOutcome.DUPLICATE
    assert second.payment.id == first.payment.id
    assert invoice.amount_paid_minor == 2000
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
    assert (
        db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == OutboxKind.EMAIL))
        == 1
    )
    assert check_books() == []


def test_partial_payments_leave_the_remainder_due_until_paid(db):
    invoice = make_invoice(amount_minor=10000)
    assert settle(invoice, cash("A", 3000)).outcome == SettlementOutcome.PARTIAL
    assert (invoice.status, invoice.amount_remaining_minor) == (InvoiceStatus.OPEN, 7000)
    assert balance(Account.RECEIVABLE, "USD", invoice.customer_id) == 7000
    assert settle(invoice, cash("B", 7000)).outcome == SettlementOutcome.PAID
    assert invoice.status == InvoiceStatus.PAID
    assert check_books() == []


def test_overpayment_goes_to_the_customers_credit_balance(db):
    invoice = make_invoice(amount_minor=4900)
    settle(invoice, cash("A", 5000))
    customer = invoice.customer
    db.session.refresh(customer)
    assert customer.credit_balance_minor == 100
    assert balance(Account.CUSTOMER_CREDIT, "USD", customer.id) == -100
    assert check_books() == []


def test_payment_on_an_expired_invoice_is_held_for_review_not_lost(db):
    invoice = make_invoice(amount_minor=4900)
    expire_invoice(invoice, actor="test")
    db.session.commit()
    result = settle(invoice, cash("LATE-1", 4900, rail=Rail.BANK_TRANSFER))
    assert result.outcome == SettlementOutcome.NEEDS_REVIEW
    assert result.payment.status == PaymentStatus.NEEDS_REVIEW and "expired" in result.payment.review_reason
    assert invoice.status == InvoiceStatus.EXPIRED and invoice.amount_paid_minor == 0
    assert balance(Account.SUSPENSE, "USD") == -4900 and balance(Account.CASH_BANK_TRANSFER, "USD") == 4900
    review = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("review:%")))
    assert review.payload["to"] == "operator@advancia.test"
    assert check_books() == []


def test_second_full_payment_on_a_paid_invoice_is_held_for_review(db):
    invoice = make_invoice(amount_minor=4900)
    settle(invoice, cash("A", 4900))
    result = settle(invoice, cash("B", 4900, rail=Rail.CHECK))
    assert result.outcome == SettlementOutcome.NEEDS_REVIEW
    assert invoice.amount_paid_minor == 4900
    assert check_books() == []


def test_paying_the_first_invoice_activates_the_subscription_and_notifies_the_product(db):
    db.session.add(WebhookEndpoint(url="http://127.0.0.1:9/hook", secret="whsec_test", events=[]))
    customer = make_customer()
    plan = make_plan(amount_minor=2900)
    sub, invoice = start_subscription(customer, plan, actor="test")
    db.session.commit()
    assert sub.status == SubscriptionStatus.INCOMPLETE and invoice.amount_due_minor == 2900
    settle(invoice, cash("R", 2900))
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.current_period_end == invoice.period_end > utcnow() + timedelta(days=27)
    events = db.session.scalars(select(WebhookDelivery.event_type).order_by(WebhookDelivery.id)).all()
    assert events == ["subscription.activated", "invoice.paid"]
    kinds = db.session.scalars(select(OutboxMessage.kind)).all()
    assert sorted(kinds) == [OutboxKind.ACCOUNTING_SYNC, OutboxKind.EMAIL]


def test_refunds_are_idempotent_and_bounded_by_what_was_paid(db):
    invoice = make_invoice(amount_minor=4900)
    payment = settle(invoice, cash("A", 4900)).payment
    refund, created = record_refund(payment.id, 1000, "RF-1", actor="test")
    again, created_again = record_refund(payment.id, 1000, "RF-1", actor="test")
    db.session.commit()
    assert created and not created_again and again.id == refund.id
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED and payment.refunded_minor == 1000
    with pytest.raises(RefundError, match="39.00"):
        record_refund(payment.id, 4000, "RF-2", actor="test")
    record_refund(payment.id, 3900, "RF-3", actor="test")
    db.session.commit()
    assert payment.status == PaymentStatus.REFUNDED
    assert balance(Account.REFUNDS, "USD") == 4900 and balance(Account.CASH_CASH, "USD") == 0
    assert check_books() == []


@pytest.mark.parametrize(
    "bad",
    [
        dict(amount_minor=0),
        dict(amount_minor=-5),
        dict(fee_minor=99999),
        dict(exchange_rate=0.9),
        dict(rail_payment_id=""),
    ],
)
def test_bad_settlement_input_is_refused_and_changes_nothing(db, bad):
    invoice = make_invoice(amount_minor=4900)
    fields = (
        dict(
            rail=Rail.CASH,
            rail_payment_id="X",
            amount_received_minor=4900,
            currency_received="USD",
            amount_minor=4900,
            exchange_rate=Decimal(1),
            fee_minor=0,
        )
        | bad
    )
    with pytest.raises(SettlementError):
        settle_payment(invoice.id, IncomingPayment(**fields), actor="test")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0


def test_ledger_check_command_reports_balanced_books(app, db):
    invoice = make_invoice(amount_minor=4900)
    settle(invoice, cash("A", 5000))
    result = app.test_cli_runner().invoke(args=["ledger", "check"])
    assert result.exit_code == 0, result.output
    assert "books balance" in result.output and "customer_credit" in result.output


def test_refunding_an_overpayment_takes_the_surplus_back_from_credit_first(db):
    invoice = make_invoice(amount_minor=4900)
    payment = settle(invoice, cash("A", 5000)).payment
    customer = invoice.customer
    record_refund(payment.id, 5000, "RF-ALL", actor="test")
    db.session.commit()
    db.session.refresh(customer)
    # The customer gets their 50.00 back once: not 50.00 in cash plus 1.00 of credit.
    assert customer.credit_balance_minor == 0
    assert balance(Account.CUSTOMER_CREDIT, "USD", customer.id) == 0
    assert balance(Account.REFUNDS, "USD") == 4900 and balance(Account.CASH_CASH, "USD") == 0
    assert check_books() == []
