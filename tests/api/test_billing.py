"""Subscriptions, invoices and manual payments through /api/v1."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.billing.invoices import expire_invoice
from app.db_types import utcnow
from app.extensions import db as database
from app.ledger.service import check_books
from app.payments.models import Payment
from tests.api.conftest import assert_error, row_counts
from tests.factories import make_customer, make_invoice, make_plan


@pytest.fixture
def customer(db):
    return make_customer(external_id="user-1")


def test_subscribing_to_a_paid_plan_answers_incomplete_with_the_first_invoice(api, customer, app):
    make_plan(code="pro", amount_minor=4900)
    response = api.post("/subscriptions", {"customer": "user-1", "plan": "pro"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"] > 0 and body["status"] == "incomplete" and body["plan"] == "pro"
    invoice = body["invoice"]
    assert (invoice["status"], invoice["amount_due"], invoice["amount_remaining"]) == ("open", "49.00", "49.00")
    assert invoice["subscription"] == body["id"] and invoice["customer"] == "user-1"
    assert invoice["pay_url"].startswith(app.config["PUBLIC_URL"] + "/pay/")
    assert api.get(f"/subscriptions/{body['id']}").get_json() == {k: v for k, v in body.items() if k != "invoice"}


def test_a_trial_has_no_invoice_and_grants_access(api, customer):
    make_plan(code="trial", trial_days=14, limits={"seats": 3})
    body = api.post("/subscriptions", {"customer": "user-1", "plan": "trial"}).get_json()
    assert body["status"] == "trialing" and body["invoice"] is None and body["trial_end"]
    entitlement = api.get("/customers/user-1/entitlement").get_json()
    assert entitlement["active"] is True and entitlement["status"] == "trialing"
    assert entitlement["limits"] == {"seats": 3} and entitlement["paid_until"] is None


def test_subscribing_twice_is_409_so_a_retried_request_never_bills_twice(api, customer, db):
    make_plan(code="pro")
    first = api.post("/subscriptions", {"customer": "user-1", "plan": "pro"}).get_json()
    before = row_counts(db)
    error = assert_error(api.post("/subscriptions", {"customer": "user-1", "plan": "pro"}), 409, "customer")
    assert f"subscription {first['id']}" in error["message"]
    assert row_counts(db) == before


BAD_SUBSCRIPTIONS = [
    ({"customer": "nobody", "plan": "pro"}, 422, "customer"),
    ({"customer": "user-1", "plan": "nope"}, 422, "plan"),
    ({"plan": "pro"}, 422, "customer"),
    ({"customer": "user-1"}, 422, "plan"),
    ({"customer": "user-1", "plan": "pro", "coupon": "X"}, 422, "coupon"),
]


def test_bad_subscription_input_is_refused_naming_the_field(api, customer, db, subtests):
    make_plan(code="pro")
    before = row_counts(db)
    for body, status, field in BAD_SUBSCRIPTIONS:
        with subtests.test(body=body):
            assert_error(api.post("/subscriptions", body), status, field)
            assert row_counts(db) == before


def test_subscriptions_are_listed_and_filtered(api, customer):
    make_plan(code="pro")
    other = make_customer(external_id="user-2")
    api.post("/subscriptions", {"customer": "user-1", "plan": "pro"})
    api.post("/subscriptions", {"customer": other.external_id, "plan": "pro"})
    assert len(api.get("/subscriptions").get_json()["data"]) == 2
    assert [s["customer"] for s in api.get("/subscriptions", customer="user-2").get_json()["data"]] == ["user-2"]
    assert api.get("/subscriptions", status="active").get_json()["data"] == []
    assert_error(api.get("/subscriptions", status="bogus"), 422, "status")
    assert_error(api.get("/subscriptions/999"), 404, "subscription_id")


def test_creating_an_invoice_issues_it_with_a_pay_url(api, customer, app):
    response = api.post(
        "/invoices",
        {
            "customer": "user-1",
            "currency": "USD",
            "lines": [
                {"description": "Setup", "amount": "100.00"},
                {"description": "Seats", "amount": "9.50", "quantity": 3},
            ],
            "memo": "Thanks!",
        },
    )
    assert response.status_code == 201
    invoice = response.get_json()
    assert (invoice["status"], invoice["currency"], invoice["amount_due"]) == ("open", "USD", "128.50")
    assert (invoice["amount_paid"], invoice["amount_remaining"]) == ("0.00", "128.50")
    assert invoice["number"] >= 1 and invoice["reference_code"].startswith("ADV") and invoice["due_at"]
    assert invoice["lines"][1] == {"description": "Seats", "quantity": 3, "unit_amount": "9.50", "amount": "28.50"}
    assert invoice["pay_url"].startswith(app.config["PUBLIC_URL"] + "/pay/")
    assert api.get(f"/invoices/{invoice['id']}").get_json() == invoice
    assert check_books() == []


BAD_INVOICES = [
    ({"customer": "nobody"}, 422, "customer"),
    ({"customer": None}, 422, "customer"),
    ({"currency": "XXX"}, 422, "currency"),
    ({"currency": None}, 422, "currency"),
    ({"lines": []}, 422, "lines"),
    ({"lines": None}, 422, "lines"),
    ({"lines": [{"description": "A", "amount": "12.345"}]}, 422, "lines[0].amount"),
    (
        {"lines": [{"description": "A", "amount": "1.00"}, {"description": "B", "amount": 5}]},
        422,
        "lines[1].amount",
    ),
    ({"lines": [{"description": "A"}]}, 422, "lines[0].amount"),
    ({"lines": [{"amount": "1.00"}]}, 422, "lines[0].description"),
    ({"lines": [{"description": "A", "amount": "1.00", "quantity": 0}]}, 422, "lines[0].quantity"),
    ({"lines": [{"description": "A", "amount": "0.00"}]}, 422, "lines"),
    ({"lines": ["Setup: 100"]}, 400, "lines[0]"),
    ({"due_days": -3}, 422, "due_days"),
]


def test_bad_invoice_input_is_refused_naming_the_field_and_changes_nothing(api, customer, db, subtests):
    before = row_counts(db)
    for change, status, field in BAD_INVOICES:
        with subtests.test(change=change):
            body = {"customer": "user-1", "currency": "USD", "lines": [{"description": "Setup", "amount": "100.00"}]}
            body = {k: v for k, v in (body | change).items() if v is not None}
            assert_error(api.post("/invoices", body), status, field)
            assert row_counts(db) == before


def test_invoices_are_listed_with_a_status_filter(api, customer):
    paid = make_invoice(customer, amount_minor=1000)
    make_invoice(customer, amount_minor=2000)
    api.post(f"/invoices/{paid.id}/payments", {"method": "cash", "amount": "10.00", "reference": "R1"})
    assert [i["amount_due"] for i in api.get("/invoices", status="open").get_json()["data"]] == ["20.00"]
    assert [i["amount_due"] for i in api.get("/invoices", status="paid").get_json()["data"]] == ["10.00"]
    assert len(api.get("/invoices", customer="user-1").get_json()["data"]) == 2
    assert_error(api.get("/invoices", status="unpaid"), 422, "status")
    assert_error(api.get("/invoices/424242"), 404, "invoice_id")


def test_a_payment_is_recorded_and_the_same_reference_twice_is_one_payment(api, customer, db):
    invoice = make_invoice(customer, amount_minor=4900)
    body = {"method": "check", "amount": "49.00", "reference": "CHK-1001", "note": "mailed"}
    first = api.post(f"/invoices/{invoice.id}/payments", body)
    assert first.status_code == 201
    answer = first.get_json()
    assert answer["outcome"] == "paid" and answer["invoice"]["status"] == "paid"
    assert answer["invoice"]["amount_remaining"] == "0.00"
    payment = answer["payment"]
    assert (payment["method"], payment["reference"], payment["amount"], payment["status"]) == (
        "check",
        "CHK-1001",
        "49.00",
        "settled",
    )
    assert payment["recorded_by"].startswith("api-token:")
    before = row_counts(db)
    second = api.post(f"/invoices/{invoice.id}/payments", body)
    assert second.status_code == 200
    assert second.get_json()["outcome"] == "duplicate" and second.get_json()["payment"]["id"] == payment["id"]
    assert row_counts(db) == before
    assert database.session.scalar(select(func.count()).select_from(Payment)) == 1
    assert check_books() == []


def test_the_same_reference_with_another_amount_or_invoice_is_a_409(api, customer, db):
    invoice = make_invoice(customer, amount_minor=4900)
    other = make_invoice(customer, amount_minor=4900)
    api.post(f"/invoices/{invoice.id}/payments", {"method": "wire", "amount": "20.00", "reference": "W-1"})
    before = row_counts(db)
    assert_error(
        api.post(f"/invoices/{invoice.id}/payments", {"method": "wire", "amount": "25.00", "reference": "W-1"}),
        409,
        "reference",
    )
    assert_error(
        api.post(f"/invoices/{other.id}/payments", {"method": "wire", "amount": "20.00", "reference": "W-1"}),
        409,
        "reference",
    )
    assert row_counts(db) == before


def test_a_partial_payment_leaves_the_rest_due(api, customer):
    invoice = make_invoice(customer, amount_minor=10000)
    answer = api.post(f"/invoices/{invoice.id}/payments", {"method": "ach", "amount": "30.00", "reference": "A1"})
    assert answer.status_code == 201
    assert answer.get_json()["outcome"] == "partial"
    assert answer.get_json()["invoice"]["amount_remaining"] == "70.00"


def test_a_late_payment_on_an_expired_invoice_is_held_for_review_with_202(api, customer, db):
    invoice = make_invoice(customer, amount_minor=4900)
    expire_invoice(invoice, actor="test")
    db.session.commit()
    response = api.post(
        f"/invoices/{invoice.id}/payments", {"method": "bank_transfer", "amount": "49.00", "reference": "LATE-7"}
    )
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["outcome"] == "needs_review" and "review" in answer["message"]
    assert answer["payment"]["status"] == "needs_review" and "expired" in answer["payment"]["review_reason"]
    assert answer["invoice"]["status"] == "expired" and answer["invoice"]["amount_paid"] == "0.00"
    assert check_books() == []


BAD_PAYMENTS = [
    ({"amount": "12.345"}, "amount"),
    ({"amount": 49.0}, "amount"),
    ({"amount": "0.00"}, "amount"),
    ({"amount": "-5.00"}, "amount"),
    ({"amount": "1,000.00"}, "amount"),
    ({"amount": "49.00\n"}, "amount"),
    ({"amount": "\u0664\u0669"}, "amount"),
    ({"amount": None}, "amount"),
    ({"method": "card"}, "method"),
    ({"method": "bitcoin"}, "method"),
    ({"method": None}, "method"),
    ({"reference": ""}, "reference"),
    ({"reference": None}, "reference"),
    ({"reference": "x" * 201}, "reference"),
    ({"received_at": "yesterday"}, "received_at"),
    ({"received_at": "2026-01-01T10:00:00"}, "received_at"),
    ({"received_at": (utcnow() + timedelta(days=2)).isoformat()}, "received_at"),
    ({"currency": "EUR"}, "currency"),
]


def test_bad_payment_input_is_422_naming_the_field_and_changes_nothing(api, customer, db, subtests):
    invoice = make_invoice(customer, amount_minor=4900)
    before = row_counts(db)
    for change, field in BAD_PAYMENTS:
        with subtests.test(change=change):
            body = {"method": "cash", "amount": "49.00", "reference": "R-9"} | change
            body = {k: v for k, v in body.items() if v is not None}
            assert_error(api.post(f"/invoices/{invoice.id}/payments", body), 422, field)
            assert row_counts(db) == before


def test_a_payment_for_an_unknown_invoice_is_404(api, db):
    before = row_counts(db)
    assert_error(
        api.post("/invoices/777/payments", {"method": "cash", "amount": "1.00", "reference": "R"}), 404, "invoice_id"
    )
    assert row_counts(db) == before


def test_received_at_with_a_timezone_is_kept(api, customer):
    invoice = make_invoice(customer, amount_minor=4900)
    answer = api.post(
        f"/invoices/{invoice.id}/payments",
        {"method": "cash", "amount": "49.00", "reference": "R-10", "received_at": "2026-11-20T09:30:00-05:00"},
    ).get_json()
    assert answer["payment"]["received_at"] == "2026-11-20T14:30:00+00:00"
