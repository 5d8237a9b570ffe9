"""Outbound webhooks: signed POSTs to a real loopback receiver, retries with backoff, two workers, a real rq worker."""

import json
import threading
from datetime import timedelta

from rq import Queue
from sqlalchemy import select

from app.access.delivery import MAX_ATTEMPTS, RETRY_DELAYS, deliver_due_webhooks, next_retry_delay
from app.access.events import emit_event
from app.access.models import DeliveryStatus, WebhookDelivery
from app.access.signing import SignatureError, signature_header, verify_signature
from app.audit.models import AuditEntry
from app.automation.models import JobRun, RunOutcome
from app.billing.subscriptions import start_subscription
from app.db_types import utcnow
from app.payments.models import Rail
from app.payments.settlement import IncomingPayment, settle_payment
from tests.factories import make_customer, make_plan, make_webhook_endpoint


def _deliveries(db):
    db.session.rollback()
    return db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def _emit(db, key: str = "1", event_type: str = "invoice.paid"):
    emit_event(
        event_type, {"id": int(key) if key.isdigit() else key, "status": "paid"}, event_key=f"{event_type}:{key}"
    )
    db.session.commit()


def test_a_paid_first_invoice_reaches_the_product_signed_and_in_order(db, webhook_receiver):
    customer = make_customer(external_id="user-7")
    plan = make_plan(code="pro", amount_minor=2900)
    _, invoice = start_subscription(customer, plan, actor="test")
    settle_payment(
        invoice.id,
        IncomingPayment(Rail.CASH, "R-1", 2900, "USD", 2900),
        actor="test",
    )
    db.session.commit()

    assert deliver_due_webhooks() == {"delivered": 2, "retrying": 0, "failed": 0}

    received = webhook_receiver.received
    assert [r.json["type"] for r in received] == ["subscription.activated", "invoice.paid"]
    for request in received:
        assert request.signature_ok, request.headers
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Advancia-Event-Id"] == request.json["id"]
        assert request.path == "/hooks/advancia"
    assert received[0].json["data"]["customer"] == "user-7" and received[0].json["data"]["status"] == "active"
    assert received[1].json["data"]["amount_paid"] == "29.00"
    for delivery in _deliveries(db):
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 1, 200)
        assert delivery.delivered_at is not None and delivery.last_error is None
    assert deliver_due_webhooks() == {"delivered": 0, "retrying": 0, "failed": 0}
    assert len(received) == 2


def test_a_receiver_answering_500_gets_the_same_event_again_after_the_backoff(db, webhook_receiver):
    webhook_receiver.script = [500]
    _emit(db)
    t0 = utcnow()
    assert deliver_due_webhooks(now=t0) == {"delivered": 0, "retrying": 1, "failed": 0}
    (delivery,) = _deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
    assert delivery.last_error.startswith("HTTP 500: receiver is down")
    assert delivery.next_attempt_at == t0 + timedelta(minutes=1)

    assert deliver_due_webhooks(now=t0 + timedelta(seconds=59)) == {"delivered": 0, "retrying": 0, "failed": 0}
    assert deliver_due_webhooks(now=t0 + timedelta(minutes=1)) == {"delivered": 1, "retrying": 0, "failed": 0}
    (delivery,) = _deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 2, 200)
    first, second = webhook_receiver.received
    assert first.body == second.body and second.signature_ok
    assert [r.headers["Advancia-Delivery-Attempt"] for r in (first, second)] == ["1", "2"]


def test_retries_back_off_over_more_than_three_days_then_the_delivery_fails(db, webhook_receiver):
    webhook_receiver.script = [503] * (MAX_ATTEMPTS + 5)
    _emit(db)
    now = utcnow()
    attempt_times = []
    while (delivery := _deliveries(db)[0]).status == DeliveryStatus.PENDING:
        now = max(now, delivery.next_attempt_at)
        attempt_times.append(now)
        deliver_due_webhooks(now=now)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == MAX_ATTEMPTS == 10
    assert len(webhook_receiver.received) == MAX_ATTEMPTS
    gaps = [b - a for a, b in zip(attempt_times, attempt_times[1:], strict=False)]
    assert gaps == list(RETRY_DELAYS)
    assert gaps == sorted(gaps) and gaps[0] == timedelta(minutes=1) and gaps[-1] == timedelta(hours=24)
    assert attempt_times[-1] - attempt_times[0] >= timedelta(days=3)
    assert next_retry_delay(MAX_ATTEMPTS) is None
    failure = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook.delivery_failed"))
    assert failure.details["attempts"] == 10 and "HTTP 503" in failure.details["error"]


def test_an_unreachable_receiver_is_recorded_as_a_connection_error(db):
    make_webhook_endpoint(url="http://127.0.0.1:9/nothing-listens-here")
    _emit(db)
    assert deliver_due_webhooks() == {"delivered": 0, "retrying": 1, "failed": 0}
    (delivery,) = _deliveries(db)
    assert delivery.last_status_code is None and "ConnectionError" in delivery.last_error


def test_two_workers_at_once_send_each_delivery_exactly_once(app, db, webhook_receiver):
    for n in range(30):
        emit_event("invoice.paid", {"n": n}, event_key=f"invoice.paid:{n}")
    db.session.commit()
    results, errors = [], []

    def worker():
        with app.app_context():
            try:
                results.append(deliver_due_webhooks())
            except Exception as exc:  # surfaced below
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r["delivered"] for r in results) == 30
    event_ids = [r.json["id"] for r in webhook_receiver.received]
    assert len(event_ids) == 30 and len(set(event_ids)) == 30
    assert {d.attempts for d in _deliveries(db)} == {1}


def test_a_disabled_endpoint_gets_nothing_until_it_is_enabled_again(db, webhook_receiver):
    from app.access.endpoints import set_endpoint_active

    _emit(db)
    set_endpoint_active(webhook_receiver.endpoint.id, False, actor="test")
    db.session.commit()
    _emit(db, "2")  # not even queued for a disabled endpoint
    assert deliver_due_webhooks() == {"delivered": 0, "retrying": 0, "failed": 0}
    assert webhook_receiver.received == [] and len(_deliveries(db)) == 1
    set_endpoint_active(webhook_receiver.endpoint.id, True, actor="test")
    db.session.commit()
    assert deliver_due_webhooks() == {"delivered": 1, "retrying": 0, "failed": 0}


def test_an_endpoint_only_gets_the_event_types_it_asked_for(db, webhook_receiver):
    webhook_receiver.endpoint.events = ["payment.refunded"]
    db.session.commit()
    _emit(db)
    _emit(db, "5", "payment.refunded")
    deliver_due_webhooks()
    assert [r.json["type"] for r in webhook_receiver.received] == ["payment.refunded"]


def test_a_payment_through_the_api_is_delivered_by_a_real_rq_worker(
    app, client, db, redis, webhook_receiver, run_worker
):
    from tests.factories import make_api_token, make_invoice

    token = make_api_token()[1]
    invoice = make_invoice(make_customer(external_id="user-9"), amount_minor=1500)
    response = client.post(
        f"/api/v1/invoices/{invoice.id}/payments",
        headers={"Authorization": f"Bearer {token}"},
        json={"method": "wire", "amount": "15.00", "reference": "WIRE-55"},
    )
    assert response.status_code == 201
    # The request queued a delivery run as soon as it committed; no need to wait for the 30 s schedule.
    assert Queue("default", connection=redis).count == 1
    result = run_worker()
    assert result.returncode == 0, result.stderr
    (request,) = webhook_receiver.received
    assert request.signature_ok and request.json["type"] == "invoice.paid"
    assert request.json["data"]["id"] == invoice.id
    db.session.rollback()
    run = db.session.scalar(select(JobRun).where(JobRun.job_name == "webhook_delivery"))
    assert run.outcome == RunOutcome.SUCCEEDED and run.summary["delivered"] == 1


def test_the_documented_signature_check_accepts_ours_and_refuses_tampering():
    body = json.dumps({"id": "evt_1", "type": "invoice.paid"}).encode()
    header = signature_header("whsec_abc", body, timestamp=1_800_000_000)
    assert header.startswith("t=1800000000,v1=")
    assert verify_signature("whsec_abc", header, body, now=1_800_000_100) == 1_800_000_000
    for secret, candidate, now in [
        ("whsec_other", body, 1_800_000_100),
        ("whsec_abc", body + b" ", 1_800_000_100),
        ("whsec_abc", body, 1_800_000_000 + 301),
    ]:
        try:
            verify_signature(secret, header, candidate, now=now)
        except SignatureError:
            continue
        raise AssertionError(f"accepted {secret} {candidate!r} at {now}")
