"""The 10:00 job: invoices go out once with their pay link, overdue ones get reminders at 3, 7 and 14 days
(only the latest due after missed days), and invoices past their expiry expire."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.billing.models import Invoice, InvoiceStatus, SubscriptionStatus
from app.billing.reminders import run_invoice_auto_send, send_payment_reminders
from app.billing.renewals import run_renewals
from app.billing.subscriptions import start_subscription
from app.ledger.models import Account
from app.ledger.service import balance, check_books
from app.notifications.models import OutboxMessage
from app.settings.service import set_setting
from tests.factories import make_customer, make_invoice, make_plan, make_subscription

ISSUED = datetime(2027, 5, 3, 15, 0, tzinfo=UTC)
DUE = ISSUED + timedelta(days=14)


def ten_am(days_after_due: int) -> datetime:
    return datetime(2027, 5, 17, 10, 0, tzinfo=UTC) + timedelta(days=days_after_due)


def emails(db, template: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.payload["template"].as_string() == template)
            .order_by(OutboxMessage.id)
        )
    )


def test_a_new_invoice_goes_out_once_with_its_pay_link_and_pdf(db, app):
    invoice = make_invoice(amount_minor=12000, now=ISSUED)
    first = run_invoice_auto_send(ISSUED + timedelta(hours=1))
    second = run_invoice_auto_send(ISSUED + timedelta(hours=2))
    assert first["invoices_sent"] == 1 and second["invoices_sent"] == 0
    [message] = emails(db, "invoice")
    db.session.refresh(invoice)
    assert invoice.sent_at == ISSUED + timedelta(hours=1)
    assert message.dedupe_key == f"invoice:sent:{invoice.id}" and message.payload["to"] == invoice.customer.email
    assert message.payload["attachments"] == [{"kind": "invoice_pdf", "invoice_id": invoice.id}]
    context = message.payload["context"]
    assert context["pay_url"] == f"{app.config['PUBLIC_URL']}/pay/{invoice.pay_token}"
    assert context["amount"] == "$120.00" and context["invoice_number"] == invoice.number


def test_reminders_at_3_7_and_14_days_overdue_each_once(db):
    invoice = make_invoice(now=ISSUED)
    reminded_on = []
    for day in range(-2, 20):
        for _ in range(2):
            run_invoice_auto_send(ten_am(day))
        sent = emails(db, "payment_reminder")
        if len(sent) > len(reminded_on):
            reminded_on.append(day)
    assert reminded_on == [3, 7, 14]
    assert [m.payload["context"]["days_overdue"] for m in emails(db, "payment_reminder")] == [3, 7, 14]
    db.session.refresh(invoice)
    assert invoice.reminder_days_sent == 14


def test_missed_days_send_only_the_most_recent_reminder_due(db):
    invoice = make_invoice(now=ISSUED)
    assert send_payment_reminders(ten_am(9))["reminders_sent"] == 1
    assert [m.payload["context"]["days_overdue"] for m in emails(db, "payment_reminder")] == [7]
    assert send_payment_reminders(ten_am(13))["reminders_sent"] == 0
    assert send_payment_reminders(ten_am(16))["reminders_sent"] == 1
    db.session.refresh(invoice)
    assert invoice.reminder_days_sent == 14


def test_the_reminder_days_come_from_the_settings(db):
    make_invoice(now=ISSUED)
    set_setting("reminders.days_overdue", [1, 5], actor="test")
    db.session.commit()
    for day in range(0, 8):
        send_payment_reminders(ten_am(day))
    assert [m.payload["context"]["days_overdue"] for m in emails(db, "payment_reminder")] == [1, 5]


def test_a_paid_invoice_gets_no_reminder(db):
    from tests.factories import pay_in_cash

    pay_in_cash(make_invoice(now=ISSUED))
    assert send_payment_reminders(ten_am(20))["reminders_sent"] == 0


def test_a_past_due_subscriptions_invoice_is_left_to_dunning(db):
    set_setting("invoice.due_days", 0, actor="test")  # due at once, so it is overdue while dunning runs
    db.session.commit()
    sub = make_subscription(now=datetime(2027, 4, 30, 12, tzinfo=UTC))
    run_renewals(datetime(2027, 5, 31, 2, tzinfo=UTC))
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.PAST_DUE
    assert send_payment_reminders(datetime(2027, 6, 5, 10, tzinfo=UTC))["reminders_sent"] == 0


def test_an_invoice_past_its_expiry_expires_and_leaves_the_receivables(db):
    invoice = make_invoice(now=ISSUED)
    assert invoice.expires_at == ISSUED + timedelta(days=44)
    assert run_invoice_auto_send(invoice.expires_at - timedelta(minutes=1))["invoices_expired"] == 0
    summary = run_invoice_auto_send(invoice.expires_at + timedelta(hours=1))
    assert summary["invoices_expired"] == 1 and summary["reminders_sent"] == 0
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.EXPIRED
    assert balance(Account.RECEIVABLE, "USD", invoice.customer_id) == 0
    assert run_invoice_auto_send(invoice.expires_at + timedelta(days=1))["invoices_expired"] == 0
    assert check_books() == []


def test_a_subscription_whose_first_invoice_expires_is_canceled(db):
    sub, invoice = start_subscription(make_customer(), make_plan(), actor="test", now=ISSUED)
    db.session.commit()
    summary = run_invoice_auto_send(invoice.expires_at + timedelta(hours=1))
    assert summary == summary | {"invoices_expired": 1, "subscriptions_canceled": 1}
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.CANCELED and sub.cancellation_reason == "first_invoice_expired"
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.EXPIRED
    assert check_books() == []
