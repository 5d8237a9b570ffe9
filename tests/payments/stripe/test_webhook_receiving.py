"""POST /webhooks/stripe: only genuine, fresh, well-formed events are stored, each once; nothing else changes."""

import json
import time

import pytest
import stripe
from sqlalchemy import func, select

from app.payments.stripe.events import DRAIN_FLAG
from app.payments.stripe.models import StripeEvent, StripeEventStatus
from tests.factories import make_invoice
from tests.fakes.stripe_server import sign
from tests.payments.stripe_helpers import books_snapshot, event_rows, post_event


def _event(fake, event_type="payment_intent.succeeded"):
    return fake.state.emit(event_type, {"id": "pi_test_123", "object": "payment_intent", "metadata": {}})


def _count(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(StripeEvent))


def test_a_signed_event_is_stored_and_one_drain_job_is_queued(client, db, redis, stripe_fake):
    event = _event(stripe_fake)
    response = post_event(client, stripe_fake, event)
    assert response.status_code == 200 and response.json == {"received": True, "duplicate": False}
    [row] = event_rows(db)
    assert (row.stripe_event_id, row.type, row.object_id) == (event["id"], "payment_intent.succeeded", "pi_test_123")
    assert row.status == StripeEventStatus.RECEIVED and row.deliveries == 1 and row.attempts == 0
    assert row.payload == event
    assert redis.get(DRAIN_FLAG) == b"1"
    assert redis.llen("rq:queue:default") == 1
    # A second event while the drain job waits queues nothing more.
    assert post_event(client, stripe_fake, _event(stripe_fake)).status_code == 200
    assert redis.llen("rq:queue:default") == 1


def test_the_same_event_delivered_ten_times_is_stored_once_and_counted(client, db, stripe_fake):
    event = _event(stripe_fake)
    answers = [post_event(client, stripe_fake, event) for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert [a.json["duplicate"] for a in answers] == [False] + [True] * 9
    [row] = event_rows(db)
    assert row.deliveries == 10


@pytest.mark.parametrize(
    "case",
    ["no header", "wrong secret", "tampered body", "stale timestamp", "garbage header"],
)
def test_a_bad_signature_is_refused_with_400_and_stores_nothing(client, db, stripe_fake, case):
    make_invoice()
    before = books_snapshot(db)
    body, header = stripe_fake.signed(_event(stripe_fake))
    headers = {"Content-Type": "application/json", "Stripe-Signature": header}
    if case == "no header":
        del headers["Stripe-Signature"]
    elif case == "wrong secret":
        headers["Stripe-Signature"] = sign(body, "whsec_someone_else")
    elif case == "tampered body":
        body = body.replace(b"pi_test_123", b"pi_test_999")
    elif case == "stale timestamp":
        headers["Stripe-Signature"] = sign(body, stripe_fake.webhook_secret, int(time.time()) - 301)
    elif case == "garbage header":
        headers["Stripe-Signature"] = "t=abc,v1=zzz"
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "Stripe-Signature"
    assert _count(db) == 0
    assert books_snapshot(db) == before


def test_a_signature_made_with_any_of_several_secrets_passes_during_rotation(client, db, stripe_fake):
    body, header = stripe_fake.signed(_event(stripe_fake))
    t = header.split(",")[0]
    old = sign(body, "whsec_old_one", int(t[2:])).split(",")[1]
    response = client.post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": f"{t},{old},{header.split(',')[1]}"}
    )
    assert response.status_code == 200
    assert _count(db) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"this is not json", "body"),
        (b"", "body"),
        (b'{"id": "evt_1", "type": "x"}', "body"),
        (b'{"id": "not-an-event", "type": "x", "data": {"object": {}}}', "body"),
        (b'["evt_1"]', "body"),
        (b'{"id": "evt_1", "type": "x", "data": [1]}', "body"),
        (b"\xff\xfe not utf-8", "body"),
    ],
)
def test_a_malformed_body_with_a_valid_signature_is_refused(client, db, stripe_fake, body, field):
    response = client.post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body, stripe_fake.webhook_secret)}
    )
    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    assert _count(db) == 0


def test_without_a_webhook_secret_nothing_is_accepted(client, db, app, stripe_fake):
    app.config["STRIPE_WEBHOOK_SECRET"] = ""
    response = post_event(client, stripe_fake, _event(stripe_fake))
    assert response.status_code == 400 and response.json["error"]["field"] == "configuration"
    assert _count(db) == 0


def test_the_webhook_needs_no_csrf_token_and_no_session(client, db, app, stripe_fake):
    assert app.config.get("WTF_CSRF_ENABLED", True)  # CSRF is on in tests, as in production
    assert post_event(client, stripe_fake, _event(stripe_fake)).status_code == 200


def test_verification_answers_exactly_as_the_librarys_construct_event(client, db, stripe_fake):
    """We verify with stripe.WebhookSignature.verify_header (what construct_event runs) and parse the body ourselves;
    every case is accepted or refused exactly as construct_event would."""
    secret = stripe_fake.webhook_secret
    now = int(time.time())
    good = json.dumps(_event(stripe_fake)).encode()
    cases = {
        "valid": (good, sign(good, secret, now)),
        "valid, 299 s old": (good, sign(good, secret, now - 299)),
        "301 s old": (good, sign(good, secret, now - 301)),
        "wrong secret": (good, sign(good, "whsec_other", now)),
        "tampered": (good.replace(b"pi_test_123", b"pi_test_124"), sign(good, secret, now)),
        "no v1": (good, f"t={now}"),
        "v0 only": (good, sign(good, secret, now).replace("v1=", "v0=")),
        "rotation: second v1 valid": (good, f"t={now},v1={'0' * 64},{sign(good, secret, now).split(',')[1]}"),
        "not JSON, signed": (b"not json", sign(b"not json", secret, now)),
        "JSON array, signed": (b"[1, 2]", sign(b"[1, 2]", secret, now)),
    }
    for name, (body, header) in cases.items():
        try:
            stripe.Webhook.construct_event(body, header, secret, tolerance=300)
            library_accepts = True
        except Exception:
            library_accepts = False
        response = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
        assert response.status_code == (200 if library_accepts else 400), name


def test_events_arriving_while_a_drain_job_runs_are_drained_without_asking_redis_each_time(
    app, client, db, redis, stripe_fake, monkeypatch
):
    """The web side asks Redis for a drain job at most every half settle time; the drain job's last scan starts a
    full settle time after it cleared the flag, so an event that skipped asking is still processed by that job."""
    import threading

    from app.payments.stripe import events

    monkeypatch.setitem(app.config, "STRIPE_DRAIN_SETTLE_MS", 3000)
    monkeypatch.setattr(events, "_drain_waiting_seen_at", float("-inf"))
    first = _event(stripe_fake, "customer.created")
    assert post_event(client, stripe_fake, first).status_code == 200
    assert redis.get(DRAIN_FLAG) == b"1" and redis.llen("rq:queue:default") == 1

    def drain() -> None:  # what the queued job's worker runs
        with app.app_context():
            events.process_received_events(settle_ms=3000)

    job = threading.Thread(target=drain)
    job.start()
    deadline = time.monotonic() + 10
    while [row.status for row in event_rows(db)] == [StripeEventStatus.RECEIVED] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert redis.get(DRAIN_FLAG) is None  # the job has started: a new event would normally queue another

    second = _event(stripe_fake, "customer.updated")
    assert post_event(client, stripe_fake, second).status_code == 200
    assert redis.get(DRAIN_FLAG) is None and redis.llen("rq:queue:default") == 1  # Redis was not asked
    job.join(timeout=20)
    assert [row.status == StripeEventStatus.RECEIVED for row in event_rows(db)] == [False, False]
