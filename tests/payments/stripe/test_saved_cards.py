"""Cards on file: renewals and dunning charge them off-session through charge_saved_card."""

from datetime import timedelta

from sqlalchemy import select

from app.access.entitlement import entitlement_for
from app.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from app.billing.periods import period_end
from app.billing.subscriptions import invoice_for_period
from app.customers.models import Customer
from app.db_types import utcnow
from app.ledger.service import check_books
from app.notifications.models import OutboxMessage
from app.payments.models import Payment, PaymentStatus, Rail
from app.payments.stripe.charges import ChargeOutcome, charge_saved_card
from tests.conftest import csrf_from
from tests.factories import make_invoice, make_unpaid_subscription
from tests.payments.stripe_helpers import books_snapshot, paid_by_card, process_all


def _subscriber_with_a_saved_card(client, db, fake):
    """Subscribed 32 days ago, first month paid by card and the card kept: the renewal is due."""
    sub, first = make_unpaid_subscription(now=utcnow() - timedelta(days=32))
    paid_by_card(client, fake, first, save_card=True)
    process_all(client, fake)
    db.session.rollback()
    sub = db.session.get(Subscription, sub.id)
    assert sub.status == SubscriptionStatus.ACTIVE and sub.current_period_end < utcnow()
    renewal = invoice_for_period(
        sub, sub.current_period_end, period_end(sub.billing_anchor, sub.plan.interval, 2), actor="test"
    )
    db.session.commit()
    return sub, renewal


def _declines(db) -> list[Payment]:
    """The declined attempts the operator sees among the payments."""
    db.session.rollback()
    return list(db.session.scalars(select(Payment).where(Payment.status == PaymentStatus.FAILED).order_by(Payment.id)))


def test_a_declined_renewal_starts_dunning_and_the_day_3_retry_collects_it(client, db, stripe_fake):
    sub, renewal = _subscriber_with_a_saved_card(client, db, stripe_fake)
    customer = db.session.get(Customer, sub.customer_id)
    stripe_fake.state.behaviour[customer.stripe_payment_method_id] = "insufficient_funds"

    declined = charge_saved_card(renewal)
    db.session.commit()
    assert declined.outcome == ChargeOutcome.FAILED and declined.rail_payment_id.startswith("pi_")
    assert declined.failure_reason.startswith("insufficient_funds") and not declined.needs_customer
    off_session = [r for r in stripe_fake.requests if r.path == "/v1/payment_intents" and r.method == "POST"][-1]
    assert off_session.params["off_session"] == "true" and off_session.params["confirm"] == "true"
    assert off_session.params["payment_method"] == customer.stripe_payment_method_id
    assert off_session.params["metadata"] == {"advancia_invoice": renewal.reference_code}
    # Stripe's payment_intent.payment_failed reaches the app: the renewal's period has begun, so dunning starts.
    process_all(client, stripe_fake)
    sub = db.session.get(Subscription, sub.id)
    assert sub.status == SubscriptionStatus.PAST_DUE and sub.past_due_since is not None
    assert entitlement_for(sub.customer)["active"] is True  # grace during dunning
    # Our attempt and Stripe's event about it are one declined attempt, named by its charge, not in the books.
    [failed] = _declines(db)
    assert failed.rail == Rail.CARD and failed.rail_payment_id.startswith("ch_") and failed.invoice_id == renewal.id
    assert failed.note.startswith("insufficient_funds") and failed.amount_minor == renewal.amount_due_minor
    assert failed.applied_minor == 0

    # The job runs again the same day: Stripe replays the same answer, nothing is charged or recorded twice.
    before = books_snapshot(db)
    again = charge_saved_card(db.session.get(Invoice, renewal.id))
    db.session.commit()
    assert again.outcome == ChargeOutcome.FAILED and again.rail_payment_id == declined.rail_payment_id
    assert books_snapshot(db) == before

    # Day 3: the customer has funds again; the dunning retry collects the renewal.
    stripe_fake.state.behaviour[customer.stripe_payment_method_id] = "succeed"
    paid = charge_saved_card(db.session.get(Invoice, renewal.id), now=utcnow() + timedelta(days=2))
    db.session.commit()
    assert paid.outcome == ChargeOutcome.SUCCEEDED and paid.rail_payment_id != declined.rail_payment_id
    db.session.rollback()
    assert db.session.get(Invoice, renewal.id).status == InvoiceStatus.PAID
    sub = db.session.get(Subscription, sub.id)
    assert sub.status == SubscriptionStatus.ACTIVE and sub.past_due_since is None
    assert sub.current_period_end == db.session.get(Invoice, renewal.id).period_end
    # Its webhooks find it done.
    before = books_snapshot(db)
    process_all(client, stripe_fake)
    assert books_snapshot(db) == before


def test_a_card_that_needs_authentication_off_session_asks_for_the_customer(client, db, stripe_fake):
    sub, renewal = _subscriber_with_a_saved_card(client, db, stripe_fake)
    customer = db.session.get(Customer, sub.customer_id)
    stripe_fake.state.behaviour[customer.stripe_payment_method_id] = "authentication_required"
    result = charge_saved_card(renewal)
    db.session.commit()
    assert result.outcome == ChargeOutcome.FAILED and result.needs_customer is True
    assert db.session.get(Invoice, renewal.id).status == InvoiceStatus.OPEN
    # The customer is asked, once, to confirm it on the card page; a retry the same day asks no more.
    charge_saved_card(db.session.get(Invoice, renewal.id))
    db.session.commit()
    [ask] = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.payload["template"].as_string() == "card_needs_confirmation")
    ).all()
    assert ask.payload["to"] == customer.email
    assert ask.payload["context"]["confirm_url"].endswith(f"/pay/{renewal.pay_token}/card")
    assert ask.payload["subject"] == "Please confirm your payment of $49.00"


def test_no_charge_is_tried_without_a_saved_card_or_without_stripe(client, db, app, stripe_fake):
    invoice = make_invoice()
    result = charge_saved_card(invoice)
    assert (result.outcome, result.failure_reason) == (ChargeOutcome.NOT_ATTEMPTED, "no card on file")
    app.config["STRIPE_SECRET_KEY"] = ""
    result = charge_saved_card(invoice)
    assert result.outcome == ChargeOutcome.NOT_ATTEMPTED and "STRIPE_SECRET_KEY" in result.failure_reason
    assert stripe_fake.requests == []


def test_stripe_not_answering_is_pending_not_failed(client, db, stripe_fake):
    sub, renewal = _subscriber_with_a_saved_card(client, db, stripe_fake)
    stripe_fake.outage_path = "/v1/payment_intents"
    stripe_fake.outage = [500, 500, 500]  # the library retries twice with the same key, then gives up
    result = charge_saved_card(renewal)
    assert result.outcome == ChargeOutcome.PENDING and "sweep" in result.failure_reason
    keys = {r.idempotency_key for r in stripe_fake.requests[-3:]}
    assert len(keys) == 1 and keys.pop().startswith(f"advancia-offsession:{renewal.reference_code}:4900:")


def test_a_new_default_card_from_the_portal_is_the_one_renewals_charge(client, db, stripe_fake):
    sub, renewal = _subscriber_with_a_saved_card(client, db, stripe_fake)
    customer = db.session.get(Customer, sub.customer_id)
    old_card = customer.stripe_payment_method_id
    page = client.get(f"/pay/{renewal.pay_token}/card").get_data(as_text=True)
    portal = client.post(f"/pay/{renewal.pay_token}/card/manage", data={"csrf_token": csrf_from(page)})
    portal_id = portal.headers["Location"].rsplit("/", 1)[1]
    with stripe_fake.state.lock:
        stripe_fake.state.replace_default_card(stripe_fake.state.objects[portal_id]["customer"], "5555555555554444")
    process_all(client, stripe_fake)  # customer.updated: the new default is saved
    db.session.rollback()
    new_card = db.session.get(Customer, customer.id).stripe_payment_method_id
    assert new_card != old_card and stripe_fake.state.objects[new_card]["card"]["last4"] == "4444"
    assert charge_saved_card(db.session.get(Invoice, renewal.id)).outcome == ChargeOutcome.SUCCEEDED
    db.session.commit()
    charged = [r for r in stripe_fake.requests if r.path == "/v1/payment_intents" and r.method == "POST"][-1]
    assert charged.params["payment_method"] == new_card
    # A removed card is forgotten.
    with stripe_fake.state.lock:
        stripe_fake.state.emit("payment_method.detached", stripe_fake.state.objects[new_card])
    process_all(client, stripe_fake)
    db.session.rollback()
    assert db.session.get(Customer, customer.id).stripe_payment_method_id is None


def test_a_card_changed_in_the_portal_is_charged_even_if_its_webhook_was_lost(client, db, stripe_fake):
    sub, renewal = _subscriber_with_a_saved_card(client, db, stripe_fake)
    customer = db.session.get(Customer, sub.customer_id)
    with stripe_fake.state.lock:
        stripe_fake.state.replace_default_card(customer.stripe_customer_id, "5555555555554444")
    stripe_fake.new_events()  # customer.updated never arrives
    assert charge_saved_card(renewal).outcome == ChargeOutcome.SUCCEEDED
    db.session.commit()
    charged = [r for r in stripe_fake.requests if r.path == "/v1/payment_intents" and r.method == "POST"][-1]
    assert stripe_fake.state.objects[charged.params["payment_method"]]["card"]["last4"] == "4444"
    db.session.rollback()
    assert db.session.get(Customer, customer.id).stripe_payment_method_id == charged.params["payment_method"]


def test_the_jobs_decline_a_renewal_then_the_dunning_retry_collects_it_through_stripe(client, db, stripe_fake):
    """The issue's "failure then dunning retry success", through the renewals and dunning jobs themselves."""
    from app.billing.dunning import run_dunning
    from app.billing.renewals import run_renewals

    sub, first = make_unpaid_subscription(now=utcnow() - timedelta(days=32))
    paid_by_card(client, stripe_fake, first, save_card=True)
    process_all(client, stripe_fake)
    db.session.rollback()
    customer = db.session.get(Customer, sub.customer_id)
    stripe_fake.state.behaviour[customer.stripe_payment_method_id] = "insufficient_funds"

    now = utcnow()
    run_renewals(now)
    process_all(client, stripe_fake)  # Stripe's payment_intent.payment_failed about the same attempt
    sub = db.session.get(Subscription, sub.id)
    assert sub.status == SubscriptionStatus.PAST_DUE
    day1 = run_dunning(now + timedelta(days=1))  # the day-1 retry: a new attempt, declined again
    assert (day1["retried"], day1["recovered"]) == (1, 0)
    stripe_fake.state.behaviour[customer.stripe_payment_method_id] = "succeed"
    day3 = run_dunning(now + timedelta(days=3))
    assert (day3["retried"], day3["recovered"]) == (1, 1)
    process_all(client, stripe_fake)

    db.session.rollback()
    sub = db.session.get(Subscription, sub.id)
    assert sub.status == SubscriptionStatus.ACTIVE and sub.past_due_since is None
    assert len(_declines(db)) == 2  # the renewal's attempt and day 1's, each once
    assert entitlement_for(sub.customer)["active"] is True
    assert check_books() == []
