"""Idempotency-Key on POST: a retry gets the first answer again and nothing happens twice."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.api.models import ApiIdempotencyKey
from app.billing.models import Invoice
from app.db_types import utcnow
from tests.api.conftest import ApiClient, assert_error, row_counts
from tests.factories import make_api_token, make_customer, make_invoice, make_plan

INVOICE = {"customer": "user-1", "currency": "USD", "lines": [{"description": "Setup", "amount": "120.00"}]}


@pytest.fixture
def customer(db):
    return make_customer(external_id="user-1")


def _invoices(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Invoice))


def test_a_retry_with_the_same_key_gets_the_same_invoice_and_creates_no_second(api, customer, db):
    first = api.post("/invoices", INVOICE, idempotency_key="order-77")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    reordered = {"lines": INVOICE["lines"], "currency": "USD", "customer": "user-1"}  # same request, other key order
    retry = api.post("/invoices", reordered, idempotency_key="order-77")
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert _invoices(db) == 1
    assert api.get(f"/invoices/{first.get_json()['id']}").get_json() == first.get_json()


def test_the_same_key_with_a_different_body_is_refused_and_names_the_header(api, customer, db):
    api.post("/invoices", INVOICE, idempotency_key="order-78")
    before = row_counts(db)
    other = INVOICE | {"memo": "a different request"}
    error = assert_error(api.post("/invoices", other, idempotency_key="order-78"), 422, "Idempotency-Key")
    assert "Idempotency-Key 'order-78' was already used with a different request" in error["message"]
    assert "POST /api/v1/invoices" in error["message"]
    # on another endpoint too: the key names one request
    someone = {"external_id": "u9", "email": "u9@example.com", "name": "U"}
    assert_error(api.post("/customers", someone, idempotency_key="order-78"), 422, "Idempotency-Key")
    assert row_counts(db) == before


def test_keys_belong_to_their_token(api, client, customer, db):
    api.post("/invoices", INVOICE, idempotency_key="shared-key")
    other_script = ApiClient(client, make_api_token(name="billing script")[1])
    second = other_script.post("/invoices", INVOICE, idempotency_key="shared-key")
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert _invoices(db) == 2


def test_a_key_is_remembered_for_24_hours_then_starts_afresh(api, customer, db):
    first = api.post("/invoices", INVOICE, idempotency_key="nightly-1").get_json()
    _age_keys(db, timedelta(hours=23, minutes=59))
    assert api.post("/invoices", INVOICE, idempotency_key="nightly-1").get_json()["id"] == first["id"]
    _age_keys(db, timedelta(hours=24, minutes=1))
    again = api.post("/invoices", INVOICE, idempotency_key="nightly-1")
    assert again.status_code == 201 and again.get_json()["id"] != first["id"]
    assert _invoices(db) == 2
    assert db.session.scalar(select(func.count()).select_from(ApiIdempotencyKey)) == 1  # the old row is gone


def _age_keys(db, age: timedelta) -> None:
    db.session.execute(update(ApiIdempotencyKey).values(created_at=utcnow() - age))
    db.session.commit()


def test_a_refused_request_does_not_use_up_its_key(api, customer, db):
    assert_error(api.post("/invoices", INVOICE | {"customer": "nobody"}, idempotency_key="k-1"), 422, "customer")
    fixed = api.post("/invoices", INVOICE, idempotency_key="k-1")
    assert fixed.status_code == 201 and _invoices(db) == 1


def test_a_malformed_key_is_refused(api, customer, db):
    assert_error(api.post("/invoices", INVOICE, idempotency_key="x" * 256), 400, "Idempotency-Key")
    assert_error(api.post("/invoices", INVOICE, idempotency_key="two words"), 400, "Idempotency-Key")
    assert _invoices(db) == 0


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/customers", {"external_id": "user-2", "email": "b@example.com", "name": "Bea"}, 201),
        ("/plans", {"code": "pro", "name": "Pro", "amount": "49.00", "currency": "USD", "interval": "month"}, 201),
        ("/subscriptions", {"customer": "user-1", "plan": "basic"}, 201),
        ("/invoices/{invoice}/payments", {"method": "wire", "amount": "20.00", "reference": "FW-1"}, 201),
        ("/subscriptions/{subscription}/plan", {"plan": "basic"}, 200),
    ],
)
def test_every_post_endpoint_replays_its_first_answer(api, customer, db, path, body, status):
    from app.billing.plans import free_plan
    from app.billing.subscriptions import start_subscription

    make_plan(code="basic", amount_minor=900)
    invoice = make_invoice(customer, amount_minor=4900)
    subscription = start_subscription(customer, free_plan(), actor="test")[0] if "{subscription}" in path else None
    db.session.commit()
    path = path.format(invoice=invoice.id, subscription=subscription.id if subscription else None)
    first = api.post(path, body, idempotency_key="retry-me")
    assert first.status_code == status, first.get_data(as_text=True)
    after_first = row_counts(db)
    retry = api.post(path, body, idempotency_key="retry-me")
    assert (retry.status_code, retry.get_data()) == (status, first.get_data())
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert row_counts(db) == after_first


def test_two_retries_at_the_same_moment_create_one_invoice(app, api, customer, db, monkeypatch):
    import app.api.views as views

    inside = threading.Event()
    real_create = views.create_invoice

    def slow_create(*args, **kwargs):
        inside.set()
        time.sleep(0.5)  # the second request arrives while the first is still creating
        return real_create(*args, **kwargs)

    monkeypatch.setattr(views, "create_invoice", slow_create)
    answers = {}

    def send(name: str) -> None:
        answers[name] = api.post("/invoices", INVOICE, idempotency_key="double-click")

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=send, args=("second",))
    second.start()
    first.join(30)
    second.join(30)
    assert answers["first"].status_code == answers["second"].status_code == 201
    assert answers["second"].get_json() == answers["first"].get_json()
    assert answers["second"].headers["Idempotent-Replayed"] == "true"
    assert _invoices(db) == 1
