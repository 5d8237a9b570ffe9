"""The dashboard's figures against a small business built by hand, with the expected values worked out here."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.billing.invoices import expire_invoice, mark_uncollectible
from app.billing.subscriptions import cancel_subscription, mark_past_due, start_subscription
from app.dashboard.revenue import revenue
from app.dashboard.service import attention
from app.extensions import db as database
from app.payments.disputes import flag_dispute
from app.payments.failures import record_failed_payment
from app.payments.models import Dispute, Rail
from app.payments.refunds import record_refund
from tests.conftest import login
from tests.factories import make_customer, make_invoice, make_plan, make_settled_payment, make_subscription

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def at(moment: datetime):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def business(db):
    """Subscriptions, invoices and payments placed in time around NOW (2026-06-15 12:00 UTC)."""
    made = {}
    with at(NOW - timedelta(days=40)):
        usd, eur = make_customer(currency="USD"), make_customer(currency="EUR")
        monthly = make_plan(amount_minor=4900)
        # Yearly prices chosen so that flooring each one (4083 + 833) differs from flooring their sum (4917).
        yearly_a = make_plan(amount_minor=49006, interval="year")
        yearly_b = make_plan(amount_minor=10006, interval="year")
        monthly_eur = make_plan(amount_minor=4500, currency="EUR")
        for plan in (monthly, monthly, yearly_a, yearly_b):
            make_subscription(make_customer(), plan)  # active: 4900 + 4900 monthly, 59012 a year
        make_subscription(make_customer(currency="EUR"), monthly_eur)  # active: 4500 EUR
        lapsed = make_subscription(make_customer(), monthly)
        cancel_subscription(lapsed, actor="test")  # canceled: not in MRR
        free = make_plan(code="free", amount_minor=0)
        make_subscription(make_customer(), free)  # free: not in MRR
        never_paid, _ = start_subscription(make_customer(), monthly, actor="test")  # incomplete, its invoice open
    with at(NOW - timedelta(days=3)):
        behind = make_subscription(make_customer(), monthly)
        mark_past_due(behind, actor="test")
    with at(NOW - timedelta(days=5)):
        past_due_again = make_subscription(make_customer(), monthly)
        mark_past_due(past_due_again, actor="test")
    trial_plan = make_plan(amount_minor=1900, trial_days=14)
    with at(NOW - timedelta(days=10)):
        start_subscription(make_customer(), trial_plan, actor="test")  # trial ends NOW + 4 days
    with at(NOW - timedelta(days=16)):
        start_subscription(make_customer(), trial_plan, actor="test")  # ended 2 days ago, not cleaned up yet
    with at(NOW - timedelta(days=1)):
        start_subscription(make_customer(), trial_plan, actor="test")  # ends in 13 days
    database.session.commit()

    with at(NOW - timedelta(days=1)):
        made["open_usd"] = make_invoice(usd, amount_minor=1000)  # due in 13 days
    with at(NOW - timedelta(days=20)):
        made["overdue_usd"] = make_invoice(usd, amount_minor=2500)  # due 6 days ago
        make_settled_payment(made["overdue_usd"], 500, rail="wire")  # 2000 left
    with at(NOW - timedelta(days=30)):
        made["overdue_eur"] = make_invoice(eur, amount_minor=3000)  # due 16 days ago: the oldest
        gone = make_invoice(usd, amount_minor=999)
        mark_uncollectible(gone, actor="test")
        database.session.commit()
    made["never_paid"] = never_paid
    return made


def test_what_needs_the_operator_today(db, business):
    with at(NOW - timedelta(days=60)):
        late = make_invoice(amount_minor=700)
        expire_invoice(late, actor="test")
    with at(NOW - timedelta(days=2)):
        make_settled_payment(late, 700, rail="check")  # held: the invoice had expired
        disputed = make_settled_payment(make_invoice(amount_minor=800), rail="card")
        flag_dispute(disputed.id, respond_by=NOW + timedelta(days=5), actor="test")
        answered = make_settled_payment(make_invoice(amount_minor=800), rail="card")
        flag_dispute(answered.id, respond_by=NOW - timedelta(hours=1), actor="test")  # deadline passed
        evidence_sent = make_settled_payment(make_invoice(amount_minor=800), rail="card")
        flag_dispute(evidence_sent.id, respond_by=NOW + timedelta(days=5), actor="test")
        db.session.scalar(select(Dispute).where(Dispute.payment_id == evidence_sent.id)).rail_status = "under_review"
        record_failed_payment(business["open_usd"].id, Rail.CARD, "pi_no", 1000, reason="declined", actor="test")
        db.session.commit()

    today = attention(NOW)

    # Open: 1000 + 2000 (part paid) + the incomplete subscription's 4900 in USD; 3000 in EUR.
    assert today.open_invoices == 4
    assert today.open_by_currency == {"USD": 1000 + 2000 + 4900, "EUR": 3000}
    # The never-paid first invoice was issued 40 days ago with 14 days to pay: overdue too.
    assert today.overdue_invoices == 3
    assert today.overdue_by_currency == {"USD": 2000 + 4900, "EUR": 3000}
    assert today.oldest_overdue_due_at == NOW - timedelta(days=40) + timedelta(days=14)
    assert (today.held_payments, today.held_by_currency, today.open_disputes) == (1, {"USD": 700}, 1)
    assert today.past_due_subscriptions == 2 and today.oldest_past_due_since == NOW - timedelta(days=5)
    assert (today.trials_ending, today.trials_running) == (2, 3)


def test_mrr_counts_active_subscriptions_with_yearly_prices_summed_then_divided_by_12_rounding_down(db, business):
    figures = revenue(NOW)
    assert figures.mrr == {"USD": 4900 + 4900 + 59012 // 12, "EUR": 4500}
    assert figures.mrr["USD"] == 14717


def test_money_collected_by_month_is_net_of_refunds_and_leaves_out_held_and_failed_money(db):
    customer = make_customer()
    with at(datetime(2025, 5, 20, tzinfo=UTC)):
        make_settled_payment(make_invoice(customer, amount_minor=99900))  # 13 months ago: outside the chart
    with at(datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC)):
        make_settled_payment(make_invoice(customer, amount_minor=100))  # the last second of April
    with at(datetime(2026, 5, 10, tzinfo=UTC)):
        may = make_settled_payment(make_invoice(customer, amount_minor=4900), rail="card")
    with at(datetime(2026, 5, 20, tzinfo=UTC)):
        overpaid = make_settled_payment(make_invoice(customer, amount_minor=1000), 1500)  # 500 to credit
    with at(datetime(2026, 6, 1, tzinfo=UTC)):
        make_settled_payment(make_invoice(customer, amount_minor=300))  # the first second of June
        eur = make_invoice(make_customer(currency="EUR"), amount_minor=4500)
        make_settled_payment(eur)
    with at(datetime(2026, 6, 5, tzinfo=UTC)):
        record_refund(may.id, 1000, "re_1", actor="test")
        record_refund(overpaid.id, 200, "re_2", actor="test")  # comes out of the credit
        late = make_invoice(customer, amount_minor=700)
        expire_invoice(late, actor="test")
        make_settled_payment(late, 700)  # held for review: not collected
        record_failed_payment(make_invoice(customer).id, Rail.CARD, "pi_x", 4900, reason="declined", actor="test")
        db.session.commit()
    with at(datetime(2026, 6, 20, tzinfo=UTC)):
        make_settled_payment(make_invoice(customer, amount_minor=5000))  # after NOW: not yet

    figures = revenue(NOW)

    assert figures.months[0] == datetime(2025, 7, 1, tzinfo=UTC)
    assert figures.months[-1] == datetime(2026, 6, 1, tzinfo=UTC) and len(figures.months) == 12
    assert figures.collected["USD"] == [0] * 9 + [100, 4900 + 1500, 300 - 1000 - 200]
    assert figures.collected["EUR"] == [0] * 11 + [4500]
    assert figures.this_month == {"USD": -900, "EUR": 4500}
    assert figures.last_month == {"USD": 6400, "EUR": 0}


def test_the_page_shows_the_figures_links_to_the_lists_and_hands_the_chart_its_data(client, operator, business):
    with at(NOW):
        assert login(client, "op@example.com", "correct horse battery").status_code == 302
        page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "$147.17" in html and "€45.00" in html  # MRR
    assert "$69.00" in html and "€30.00" in html  # overdue
    assert "oldest due 26 days ago" in html
    for href in (
        "/invoices?status=overdue",
        "/invoices?status=open",
        "/payments?status=needs_review",
        "/customers?subscription=past_due",
        "/customers?subscription=trialing",
    ):
        assert f'href="{href}"' in html, href
    assert "<script>" not in html  # CSP: script-src 'self', no inline code
    data = re.search(r'<script type="application/json" id="revenue-chart-data">(.*?)</script>', html, re.S)
    figure = json.loads(data.group(1))
    assert [trace["name"] for trace in figure["data"]] == ["USD", "EUR"]
    usd, eur = figure["data"]
    assert len(usd["x"]) == 12 and usd["x"][-2:] == ["May 2026", "Jun 2026"]
    # May 6: first invoices 49.00 x 3, 490.06 and 100.06 a year, 5.00 towards an invoice; June: two of 49.00.
    assert usd["y"][-2:] == [742.12, 98.0] and eur["y"][-2:] == [45.0, 0.0]
