"""The customers list (search, pages without a full reload) and one customer's page with its timeline."""

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.billing.subscriptions import start_subscription
from app.customers.models import Customer
from app.payments.refunds import record_refund
from tests.factories import make_customer, make_invoice, make_manual_payment, make_plan
from tests.screens import htmx, is_fragment, text_of, token_of

pytestmark = pytest.mark.usefixtures("fresh_reads")


def test_list_shows_each_customer_with_plan_status_price_and_credit(operator_client, db):
    ada = make_customer(name="Ada Lovelace", email="ada@example.com", external_id="usr_ada")
    plan = make_plan(code="pro", amount_minor=4900)
    start_subscription(ada, plan, actor="test")
    ada.credit_balance_minor = 0
    db.session.commit()
    make_customer(name="Grace Hopper", external_id="usr_grace")

    html = operator_client.get("/customers").get_data(as_text=True)
    row = html[html.index("Ada Lovelace") : html.index("</tr>", html.index("Ada Lovelace"))]
    assert "ada@example.com" in row and "usr_ada" in row
    assert "incomplete" in row and "$49.00" in row and "/mo" in row
    assert "Grace Hopper" in html and "1–2 of 2" in html


def test_search_by_name_email_or_external_id_answers_htmx_with_the_results_fragment(operator_client):
    make_customer(name="Ada Lovelace", email="countess@analytical.example", external_id="usr_1815")
    make_customer(name="Grace Hopper", email="grace@navy.example", external_id="usr_1906")
    for query in ("lovelace", "COUNTESS@", "usr_18"):
        response = operator_client.get(f"/customers?q={query}", headers=htmx())
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and is_fragment(html), query
        assert "Ada Lovelace" in html and "Grace Hopper" not in html, query
        assert "HX-Request" in response.headers["Vary"]
    empty = operator_client.get("/customers?q=nobody", headers=htmx()).get_data(as_text=True)
    assert "No customer matches “nobody”" in empty


def test_search_takes_percent_and_underscore_literally(operator_client):
    make_customer(name="Under_score", external_id="a_b")
    make_customer(name="Plain", external_id="axb")
    html = operator_client.get("/customers?q=a_b", headers=htmx()).get_data(as_text=True)
    assert "Under_score" in html and "Plain" not in html
    assert "No customer matches" in operator_client.get("/customers?q=%25%25", headers=htmx()).get_data(as_text=True)


def test_pages_swap_only_the_results_and_push_their_url(operator_client, db):
    for n in range(27):
        make_customer(name=f"Customer {n:02d}", external_id=f"c-{n:02d}")
    first = operator_client.get("/customers").get_data(as_text=True)
    assert "Page 1 of 2" in first and 'hx-push-url="true"' in first and 'hx-target="#customer-results"' in first
    second = operator_client.get("/customers?page=2", headers=htmx()).get_data(as_text=True)
    assert is_fragment(second) and "26–27 of 27" in second
    assert "Customer 00" in second and "Customer 26" not in second  # newest first
    # Back/forward when htmx's history cache misses: the full page, not a fragment.
    restored = operator_client.get("/customers?page=2", headers=htmx(**{"HX-History-Restore-Request": "true"}))
    assert not is_fragment(restored.get_data(as_text=True))


def test_a_page_number_that_is_not_one_is_a_400_naming_it(operator_client):
    response = operator_client.get("/customers?page=abc")
    assert response.status_code == 400 and "page must be" in response.get_data(as_text=True)


def test_customer_page_shows_subscription_access_credit_and_a_timeline_newest_first(operator_client, db):
    customer = make_customer(name="Ada Lovelace", external_id="usr_ada")
    plan = make_plan(code="pro", amount_minor=4900, limits={"seats": 3})
    _, invoice = start_subscription(customer, plan, actor="test")
    db.session.commit()
    payment = make_manual_payment(invoice, "50.00", reference="CHK-100", method="check", actor="test")
    record_refund(payment.id, 100, "RF-1", actor="test", reason="overpaid")
    db.session.commit()

    html = operator_client.get(f"/customers/{customer.id}").get_data(as_text=True)
    text = text_of(html)
    assert "Pro" in text and "active" in text and "Granted" in text and "seats: 3" in text
    assert "$1.00" in text  # the cent paid over the invoice became credit
    timeline = html[html.index('class="timeline"') :]
    kinds = [timeline.index(marker) for marker in ("tl-refund", "tl-email", "tl-payment", "tl-invoice")]
    assert kinds == sorted(kinds), "newest first: refund, then the receipt email, the payment, the invoice"
    assert "Receipt for invoice" in timeline and "CHK-100" in timeline and "RF-1" in timeline
    assert "subscription.activate" in timeline and "customer.created" in timeline  # audit entries


def test_unknown_customer_is_404(operator_client):
    assert operator_client.get("/customers/999").status_code == 404


def test_new_customer_form_creates_the_customer_and_audits_the_operator(operator_client, operator, db):
    token = token_of(operator_client, "/customers/new")
    response = operator_client.post(
        "/customers/new",
        data={
            "csrf_token": token,
            "external_id": "usr_42",
            "email": " New@Example.com ",
            "name": "New One",
            "country": "de",
            "currency": "EUR",
        },
    )
    customer = db.session.scalar(select(Customer).where(Customer.external_id == "usr_42"))
    assert response.status_code == 302 and response.headers["Location"] == f"/customers/{customer.id}"
    assert (customer.email, customer.country, customer.preferred_currency) == ("new@example.com", "DE", "EUR")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "customer.created"))
    assert entry.actor == f"user:{operator.id}"


def test_new_customer_with_a_taken_external_id_says_whose_it_is_and_changes_nothing(operator_client, db):
    existing = make_customer(name="Ada Lovelace", external_id="usr_ada")
    token = token_of(operator_client, "/customers/new")
    response = operator_client.post(
        "/customers/new",
        data={"csrf_token": token, "external_id": "usr_ada", "email": "x@example.com", "currency": "USD"},
    )
    assert response.status_code == 409
    assert "already used by Ada Lovelace" in response.get_data(as_text=True)
    assert f"/customers/{existing.id}" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1


def test_new_customer_form_names_the_bad_fields(operator_client, db):
    token = token_of(operator_client, "/customers/new")
    response = operator_client.post(
        "/customers/new", data={"csrf_token": token, "external_id": "", "email": "not-an-email", "country": "Germany"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Invalid email address" in html and "two letters (ISO 3166)" in html and "This field is required" in html
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_an_invoice_on_the_timeline_links_to_its_page(operator_client):
    invoice = make_invoice(amount_minor=1000)
    html = operator_client.get(f"/customers/{invoice.customer_id}").get_data(as_text=True)
    assert f'href="/invoices/{invoice.id}"' in html
