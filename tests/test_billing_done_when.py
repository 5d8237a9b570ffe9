"""The billing core's "done when", end to end on real components: a customer is invoiced and pays through a recorded
manual payment (the API), a real rq worker emails the receipt with its PDF to a real SMTP server and signs the
"grant access" webhooks to the operator's product, the entitlement API turns on, and when renewals go unpaid
dunning walks the customer down to the free plan."""

from datetime import timedelta

import time_machine

from app.billing.dunning import run_dunning
from app.billing.renewals import run_renewals
from app.ledger.service import check_books
from app.queues import get_queue


def test_invoiced_paid_receipted_entitled_then_dunned_to_free(
    client, db, api_token, webhook_receiver, smtp_server, run_worker
):
    auth = {"Authorization": f"Bearer {api_token}"}
    assert (
        client.post(
            "/api/v1/customers",
            json={"external_id": "u-42", "email": "ada@example.com", "name": "Ada Lovelace"},
            headers=auth,
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/plans",
            json={
                "code": "pro",
                "name": "Pro",
                "amount": "49.00",
                "currency": "USD",
                "interval": "month",
                "trial_days": 0,
            },
            headers=auth,
        ).status_code
        == 201
    )
    sub = client.post("/api/v1/subscriptions", json={"customer": "u-42", "plan": "pro"}, headers=auth).get_json()
    invoice = sub["invoice"]
    assert invoice["amount_due"] == "49.00" and invoice["pay_url"].endswith("/pay/" + invoice["pay_url"][-32:])
    assert client.get("/api/v1/customers/u-42/entitlement", headers=auth).get_json()["active"] is False

    paid = client.post(
        f"/api/v1/invoices/{invoice['id']}/payments",
        json={"method": "cash", "amount": "49.00", "reference": "CASH-0001"},
        headers=auth,
    )
    assert paid.status_code == 201, paid.get_json()

    # The outbox and the webhook deliveries are delivered by a real worker process.
    get_queue().enqueue("workers.jobs.outbox_delivery")
    get_queue().enqueue("workers.jobs.webhook_delivery")
    result = run_worker()
    assert result.returncode == 0, result.stderr

    receipts = [m for _, rcpts, m, _ in smtp_server.sink.received if "ada@example.com" in rcpts]
    assert len(receipts) == 1 and str(invoice["number"]) in receipts[0]["Subject"]
    pdfs = [part for part in receipts[0].iter_attachments() if part.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].get_content().startswith(b"%PDF")

    events = [(r.json["type"], r.signature_ok) for r in webhook_receiver.received]
    assert ("subscription.activated", True) in events and ("invoice.paid", True) in events

    access = client.get("/api/v1/customers/u-42/entitlement", headers=auth).get_json()
    assert access["active"] is True and access["plan"] == "pro" and access["paid_until"]

    # A month later the renewal is invoiced and not paid: dunning runs its days and ends on the free plan.
    from app.billing.models import Subscription

    db.session.rollback()  # a fresh snapshot: the requests and the worker committed in their own sessions
    period_end = db.session.get(Subscription, sub["id"]).current_period_end
    run_renewals(period_end + timedelta(hours=2))
    for day in (1, 3, 7, 10):
        run_dunning(period_end + timedelta(days=day, hours=9))
    with time_machine.travel(period_end + timedelta(days=11), tick=False):
        access = client.get("/api/v1/customers/u-42/entitlement", headers=auth).get_json()
    assert access["plan"] == "free"
    assert check_books() == []
