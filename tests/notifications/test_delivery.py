"""Outbox delivery through a real SMTP server on loopback: what arrives, once, and what happens when it cannot."""

import shutil
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.audit.models import AuditEntry
from app.db_types import utcnow
from app.notifications.delivery import HELD_REASON, deliver_due
from app.notifications.models import OutboxKind, OutboxMessage, OutboxStatus
from app.notifications.outbox import queue_accounting_sync
from app.notifications.rendering import message_id_for
from tests.conftest import SMTP_TEST_PASSWORD, SMTP_TEST_USER, free_port
from tests.factories import make_customer, make_email, make_invoice, make_settled_payment


def pdf_text(pdf: bytes) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (Debian poppler-utils) is not installed")
    result = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return result.stdout.decode()


def reload(db, message):
    db.session.commit()  # end our read transaction: on SQLite it would keep showing its old snapshot
    return db.session.get(OutboxMessage, message.id, populate_existing=True)


def audit_actions(db, message) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "outbox_messages", AuditEntry.object_id == str(message.id))
            .order_by(AuditEntry.id)
        )
    )


def test_a_settled_payments_receipt_arrives_with_its_pdf_receipt_attached(db, smtp_server):
    customer = make_customer(name="Ada Lovelace", email="ada@example.com")
    invoice = make_invoice(customer, amount_minor=123456)
    payment = make_settled_payment(invoice, rail="wire")
    outbox = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"receipt:payment:{payment.id}"))

    report = deliver_due()

    assert report.sent == 1 and report.dead == 0
    [mail] = smtp_server.messages
    assert mail["To"] == "ada@example.com"
    assert mail["Subject"] == f"Receipt for invoice {invoice.number}"
    assert mail["Message-ID"] == message_id_for(reload(db, outbox), mail["From"])
    assert mail["Auto-Submitted"] == "auto-generated"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for body in (text, html):
        assert "$1,234.56" in body and str(invoice.number) in body and "Wire transfer" in body
    assert "Advancia Mini Demo Co." in html and "paid in full" in text
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"receipt-R-{payment.id}.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF-")
    printed = pdf_text(pdf)
    assert "RECEIPT" in printed and f"R-{payment.id}" in printed
    assert "$1,234.56" in printed and str(invoice.number) in printed and invoice.reference_code in printed
    message = reload(db, outbox)
    assert message.status == OutboxStatus.SENT and message.attempts == 1 and message.sent_at is not None
    assert audit_actions(db, message) == ["outbox.sent"]


def test_delivering_twice_sends_once(db, smtp_server):
    make_email(to="once@example.com")
    assert deliver_due().sent == 1
    assert deliver_due().sent == 0
    assert [m["To"] for m in smtp_server.messages] == ["once@example.com"]


def test_a_message_claimed_by_a_live_worker_is_left_alone(db, smtp_server):
    message = make_email()
    lease_until = utcnow() + timedelta(minutes=5)
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(status=OutboxStatus.SENDING, attempts=1, next_attempt_at=lease_until)
    )
    db.session.commit()
    assert deliver_due().sent == 0
    assert smtp_server.messages == []
    assert reload(db, message).status == OutboxStatus.SENDING


def test_after_a_worker_died_mid_send_the_resend_carries_the_same_message_id(db, smtp_server):
    message = make_email()
    assert deliver_due().sent == 1
    # The worker sent it and died before recording it: the row still says "sending", its lease lapsed.
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(status=OutboxStatus.SENDING, sent_at=None, next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    assert deliver_due().sent == 1
    first, second = smtp_server.messages
    assert first["Message-ID"] == second["Message-ID"] == message_id_for(reload(db, message), first["From"])
    assert reload(db, message).attempts == 2


def test_smtp_down_is_retried_with_backoff_then_delivered(app, db, smtp_server, monkeypatch):
    message = make_email(to="later@example.com")
    live_port = smtp_server.port
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())  # nothing listens there
    now = utcnow()

    report = deliver_due(now=now)
    row = reload(db, message)
    assert report.retrying == 1 and report.stopped and "Connection" in report.stopped
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert row.last_error.startswith("attempt 1: ConnectionRefusedError")
    assert row.next_attempt_at == now + timedelta(seconds=60)

    assert deliver_due(now=now + timedelta(seconds=59)).retrying == 0  # not due yet
    report = deliver_due(now=now + timedelta(seconds=60))
    row = reload(db, message)
    assert report.retrying == 1 and row.attempts == 2 and row.next_attempt_at == now + timedelta(seconds=180)

    monkeypatch.setitem(app.config, "SMTP_PORT", live_port)  # the server is back
    assert deliver_due(now=now + timedelta(seconds=180)).sent == 1
    row = reload(db, message)
    assert row.status == OutboxStatus.SENT and row.attempts == 3
    assert [m["To"] for m in smtp_server.messages] == ["later@example.com"]


def test_after_the_last_attempt_the_message_is_dead_with_its_error(app, db, smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 3)
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())
    message = make_email()
    now = utcnow()
    for minutes in (0, 1, 3):
        deliver_due(now=now + timedelta(minutes=minutes))
    row = reload(db, message)
    assert row.status == OutboxStatus.DEAD and row.attempts == 3
    assert row.last_error.startswith("attempt 3: ConnectionRefusedError")
    assert deliver_due(now=now + timedelta(days=1)).summary() == {"sent": 0, "accounting_waiting": 0}
    assert audit_actions(db, row) == ["outbox.dead"]


def test_server_down_costs_one_attempt_per_run_not_one_per_message(app, db, smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())
    messages = [make_email() for _ in range(3)]
    report = deliver_due()
    assert report.retrying == 1 and report.stopped
    assert sorted(reload(db, m).attempts for m in messages) == [0, 0, 1]


def test_a_temporary_refusal_is_retried_and_a_permanent_one_is_dead_at_once(db, smtp_server):
    later = make_email(to="later@example.com")
    smtp_server.fail_next("451 4.3.0 mailbox busy, try later")
    now = utcnow()
    assert deliver_due(now=now).retrying == 1
    assert "451" in reload(db, later).last_error
    assert deliver_due(now=now + timedelta(minutes=1)).sent == 1

    never = make_email(to="never@example.com")
    smtp_server.fail_next("550 5.1.1 no such user")
    report = deliver_due(now=now + timedelta(minutes=2))
    row = reload(db, never)
    assert report.dead == 1 and row.status == OutboxStatus.DEAD and row.attempts == 1
    assert "550 5.1.1 no such user" in row.last_error


def test_a_message_missing_a_template_key_is_dead_and_names_the_key(db, smtp_server):
    message = make_email(template="trial_ended", context={"customer_name": "Ada"})
    assert deliver_due().dead == 1
    row = reload(db, message)
    assert row.status == OutboxStatus.DEAD
    assert "plan_name" in row.last_error and "cannot build the message" in row.last_error
    assert smtp_server.messages == []


def test_the_configured_smtp_login_is_used(app, db, smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_USER", SMTP_TEST_USER)
    monkeypatch.setitem(app.config, "SMTP_PASSWORD", SMTP_TEST_PASSWORD)
    monkeypatch.setitem(app.config, "MAIL_FROM", "Billing <billing@advancia.test>")
    make_email(to="login@example.com")
    assert deliver_due().sent == 1
    assert smtp_server.envelopes == [("billing@advancia.test", ["login@example.com"], SMTP_TEST_USER)]
    assert smtp_server.messages[0]["From"] == "Billing <billing@advancia.test>"


def test_a_refused_login_keeps_the_mail_for_later_and_stops_the_run(app, db, smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_USER", SMTP_TEST_USER)
    monkeypatch.setitem(app.config, "SMTP_PASSWORD", "wrong password")
    messages = [make_email() for _ in range(2)]
    report = deliver_due()
    assert report.retrying == 1 and "535" in report.stopped
    assert sorted(reload(db, m).status for m in messages) == [OutboxStatus.PENDING, OutboxStatus.PENDING]
    assert smtp_server.messages == []


def test_without_an_smtp_server_email_is_held_and_accounting_rows_wait(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    message = make_email()
    sync = queue_accounting_sync(object_type="payment", object_id=1)
    db.session.commit()

    report = deliver_due()

    assert report.held == 1 and report.sent == 0 and report.accounting_waiting == 1
    row = reload(db, message)
    assert row.status == OutboxStatus.HELD and row.attempts == 0 and row.last_error == HELD_REASON
    sync = reload(db, sync)
    assert sync.kind == OutboxKind.ACCOUNTING_SYNC and sync.status == OutboxStatus.PENDING and sync.attempts == 0
    assert audit_actions(db, row) == ["outbox.held"]
    assert deliver_due().held == 0  # held stays held; nothing is re-audited


def test_accounting_sync_rows_are_never_sent_as_email(db, smtp_server):
    queue_accounting_sync(object_type="payment", object_id=7)
    db.session.commit()
    report = deliver_due()
    assert report.accounting_waiting == 1 and report.sent == 0
    assert smtp_server.messages == []
    row = db.session.scalar(select(OutboxMessage))
    assert row.status == OutboxStatus.PENDING and row.attempts == 0 and row.sent_at is None
