"""Every operator route is guarded; a new route that forgets the guard fails here."""

import re

from tests.conftest import csrf_from, login
from tests.factories import make_user

# Routes anyone may reach: signing in, the customer's own account, static files.
PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.login_totp", "auth.logout", "auth.account", "auth.two_factor"}
# The JSON API: no session, a Bearer token instead (tests/api/test_auth.py walks every /api/v1 route for its 401).
PUBLIC_ENDPOINTS |= {
    "api.create_customer_route",
    "api.list_customers",
    "api.get_customer",
    "api.get_entitlement",
    "api.create_plan_route",
    "api.list_plans",
    "api.get_plan",
    "api.create_subscription",
    "api.list_subscriptions",
    "api.get_subscription",
    "api.change_subscription_plan",
    "api.create_invoice_route",
    "api.list_invoices",
    "api.get_invoice",
    "api.record_payment",
    "api.openapi_document",
}
# The customer's PDFs behind the pay-page token (the token is the key; only that invoice and its own payments;
# drafts stay hidden; rate-limited): tests/billing/test_document_downloads.py.
PUBLIC_ENDPOINTS |= {"documents.customer_invoice_pdf", "documents.customer_receipt_pdf"}
# The customer's pay page: no login by design, the unguessable token in the URL is the key to one invoice.
PUBLIC_ENDPOINTS |= {"checkout.pay_page"}
# The business logo shown on that page (a PNG/JPEG the operator uploaded, checked by content).
PUBLIC_ENDPOINTS |= {"checkout.logo"}

# Operations: monitors poll /api/health (statuses and latencies only, no versions or secrets); customers read the
# status page and its JSON (app/ops/public_views.py PUBLIC gives each reason).
PUBLIC_ENDPOINTS |= {"ops_public.health", "ops_public.status_page", "ops_public.status_json"}
# Stripe calls this with no session; the Stripe-Signature header (HMAC of the raw body) is the authentication.
PUBLIC_ENDPOINTS |= {"stripe_webhooks.receive"}
# The customer's card payment under the pay link: the unguessable pay token is the key, as for the pay page.
PUBLIC_ENDPOINTS |= {"card_checkout.card_page", "card_checkout.start", "card_checkout.returned", "card_checkout.manage"}


def _admin_routes(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "admin_only", False):
            yield rule


def _example_urls(rule) -> list[str]:
    """One URL per choice of an any() converter; placeholders for the other arguments."""
    urls = [rule.rule]
    for match in re.finditer(r"<([^>]+)>", rule.rule):
        converter = match.group(1).rpartition(":")[0]
        if converter.startswith("any("):
            choices = [c.strip("'\" ") for c in converter[4:-1].split(",")]
        else:
            choices = ["1" if converter == "int" else "example"]
        urls = [u.replace(match.group(0), c, 1) for u in urls for c in choices]
    return urls


def _admin_requests(app):
    for rule in _admin_routes(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for url in _example_urls(rule):
                yield method, url


def test_every_route_is_either_admin_guarded_or_known_public(app):
    unguarded = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if not getattr(app.view_functions[rule.endpoint], "admin_only", False)
    }
    assert unguarded <= PUBLIC_ENDPOINTS | getattr(app, "public_endpoints", set()), unguarded - PUBLIC_ENDPOINTS


def test_anonymous_visitors_are_sent_to_login_from_every_admin_route(app, client):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    requests = list(_admin_requests(app))
    assert len(requests) >= 10
    for method, url in requests:
        response = client.open(url, method=method, headers={"X-CSRFToken": token})
        assert response.status_code == 302, (method, url, response.status_code)
        assert response.headers["Location"].startswith("/login"), url


def test_signed_in_customers_get_403_from_every_admin_route(app, client):
    make_user(email="buyer@example.com", password="buyer password 1")
    assert login(client, "buyer@example.com", "buyer password 1").status_code == 302
    token = csrf_from(client.get("/account").get_data(as_text=True))
    for method, url in _admin_requests(app):
        response = client.open(url, method=method, headers={"X-CSRFToken": token})
        assert response.status_code == 403, (method, url, response.status_code)


def test_operator_reaches_every_area_from_the_navigation(operator_client):
    page = operator_client.get("/").get_data(as_text=True)
    for area in (
        "Dashboard",
        "Customers",
        "Invoices",
        "Payments",
        "Plans",
        "Reconciliation",
        "Proofs",
        "Reports",
        "Automation",
        "Outbox",
        "Status",
        "Settings",
    ):
        assert f">{area}</a>" in page, area
    for href in set(re.findall(r'<nav aria-label="Main">(.*?)</nav>', page, re.S)[0].split('href="')[1:]):
        url = href.split('"')[0]
        assert operator_client.get(url).status_code == 200, url
