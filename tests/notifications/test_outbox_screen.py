"""The operator's outbox screen: held mail is visible (and on the dashboard), dead mail can be retried."""

from datetime import timedelta

from sqlalchemy import select, update

from app.audit.models import AuditEntry
from app.db_types import utcnow
from app.notifications.delivery import deliver_due
from app.notifications.models import OutboxMessage, OutboxStatus
from app.notifications.outbox import queue_accounting_sync
from tests.conftest import csrf_from, free_port
from tests.factories import make_email, make_invoice, make_settled_payment


def reload(db, message):
    db.session.commit()  # end our read transaction: on SQLite it would keep showing its old snapshot
    return db.session.get(OutboxMessage, message.id, populate_existing=True)


def test_without_smtp_mail_is_held_and_shown_on_the_outbox_and_the_dashboard(app, db, operator_client, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    invoice = make_invoice(amount_minor=4900)
    make_settled_payment(invoice)
    assert deliver_due().held == 1

    page = operator_client.get("/outbox/?status=held").get_data(as_text=True)
    assert "No SMTP server is configured, so email is held here, not sent." in page
    assert invoice.customer.email in page and f"Receipt for invoice {invoice.number}" in page
    assert "no SMTP server configured" in page  # the row's reason
    assert 'class="badge badge-held">held<' in page
    assert "Send now" not in page  # releasing would only hold it again

    dashboard = operator_client.get("/").get_data(as_text=True)
    assert "1 held" in dashboard and "No SMTP server: email is kept, not sent" in dashboard


def test_the_status_filter_shows_only_that_status_and_refuses_unknown_ones(db, operator_client, smtp_server):
    sent = make_email(subject="Already delivered")
    deliver_due()
    make_email(subject="Still waiting")
    queue_accounting_sync(object_type="payment", object_id=3)
    db.session.commit()
    assert reload(db, sent).status == OutboxStatus.SENT

    pending = operator_client.get("/outbox/?status=pending").get_data(as_text=True)
    assert "Still waiting" in pending and "Already delivered" not in pending
    assert "waits for the accounting capability; not sent" in pending
    assert "Already delivered" in operator_client.get("/outbox/?status=sent").get_data(as_text=True)
    everything = operator_client.get("/outbox/").get_data(as_text=True)
    assert "Already delivered" in everything and "Still waiting" in everything
    assert "Email goes out through <strong>127.0.0.1:" in everything

    response = operator_client.get("/outbox/?status=lost")
    assert response.status_code == 400
    assert "status must be one of held, pending, sending, sent, dead" in response.get_data(as_text=True)
    assert operator_client.get("/outbox/?before=abc").status_code == 400


def test_a_message_page_shows_the_rendered_text_and_its_attachments(db, operator_client):
    invoice = make_invoice(amount_minor=4900)
    payment = make_settled_payment(invoice)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("receipt:%")))
    page = operator_client.get(f"/outbox/{message.id}").get_data(as_text=True)
    assert "We received your payment of $49.00 (Wire transfer)" in page
    assert f"/payments/{payment.id}/receipt.pdf" in page
    assert f"&lt;outbox-{message.id}." in page  # its Message-ID
    assert operator_client.get("/outbox/999999").status_code == 404


def test_a_message_that_cannot_be_rendered_says_why_on_its_page(db, operator_client):
    message = make_email(template="trial_ended", context={"customer_name": "Ada"})
    page = operator_client.get(f"/outbox/{message.id}").get_data(as_text=True)
    assert "This message cannot be built" in page and "plan_name" in page


def test_retrying_a_dead_message_sends_it_with_a_fresh_set_of_attempts(
    app, db, operator_client, smtp_server, monkeypatch
):
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 1)
    live_port = smtp_server.port
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())
    message = make_email(to="retry@example.com")
    deliver_due()
    assert reload(db, message).status == OutboxStatus.DEAD
    monkeypatch.setitem(app.config, "SMTP_PORT", live_port)

    page = operator_client.get("/outbox/?status=dead").get_data(as_text=True)
    assert "Retry" in page and "ConnectionRefusedError" in page
    response = operator_client.post(
        f"/outbox/{message.id}/send", headers={"HX-Request": "true", "X-CSRFToken": csrf_from(page)}
    )
    assert response.status_code == 200
    row = response.get_data(as_text=True)
    assert f'id="outbox-{message.id}"' in row and "badge-pending" in row

    row = reload(db, message)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 0)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "outbox.retry"))
    assert entry.object_id == str(message.id) and entry.details["from"] == "dead" and entry.details["attempts"] == 1
    assert deliver_due().sent == 1
    assert [m["To"] for m in smtp_server.messages] == ["retry@example.com"]


def test_a_sent_message_is_not_sent_again_and_says_why(db, operator_client, smtp_server):
    message = make_email()
    deliver_due()
    page = operator_client.get(f"/outbox/{message.id}").get_data(as_text=True)
    response = operator_client.post(f"/outbox/{message.id}/send", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    assert f"message {message.id} is sent; it cannot be sent again" in operator_client.get(
        response.headers["Location"]
    ).get_data(as_text=True)
    assert reload(db, message).status == OutboxStatus.SENT and len(smtp_server.messages) == 1


def test_posting_without_a_csrf_token_changes_nothing(db, operator_client, smtp_server):
    message = make_email()
    db.session.execute(update(OutboxMessage).values(status=OutboxStatus.DEAD, attempts=10))
    db.session.commit()
    assert operator_client.post(f"/outbox/{message.id}/send").status_code == 400
    assert reload(db, message).status == OutboxStatus.DEAD


def test_held_mail_is_released_once_smtp_is_configured(app, db, operator_client, smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    messages = [make_email() for _ in range(2)]
    deliver_due()
    page = operator_client.get("/outbox/?status=held").get_data(as_text=True)
    refused = operator_client.post("/outbox/release-held", data={"csrf_token": csrf_from(page)})
    assert refused.status_code == 303
    assert {reload(db, m).status for m in messages} == {OutboxStatus.HELD}

    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    page = operator_client.get("/outbox/?status=held").get_data(as_text=True)
    assert "Send 2 held" in page
    response = operator_client.post("/outbox/release-held", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    assert {reload(db, m).status for m in messages} == {OutboxStatus.PENDING}
    assert deliver_due(now=utcnow() + timedelta(seconds=1)).sent == 2
    releases = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "outbox.release")).all()
    assert sorted(e.object_id for e in releases) == sorted(str(m.id) for m in messages)
