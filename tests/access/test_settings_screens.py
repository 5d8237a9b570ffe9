"""The operator's screens for API tokens and webhooks, and the `flask api-token` commands."""

import re

from sqlalchemy import select

from app.access.delivery import deliver_due_webhooks
from app.access.events import emit_event
from app.access.models import ApiToken, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.audit.models import AuditEntry
from tests.conftest import csrf_from

HTMX = {"HX-Request": "true"}


def _api_status(client, token: str) -> int:
    return client.get("/api/v1/customers", headers={"Authorization": f"Bearer {token}"}).status_code


def test_creating_a_token_shows_it_once_and_it_works_until_revoked(operator_client, client, db):
    page = operator_client.get("/settings/api-tokens")
    assert page.status_code == 200 and "No tokens yet" in page.get_data(as_text=True)
    created = operator_client.post(
        "/settings/api-tokens", data={"name": "signup script", "csrf_token": csrf_from(page.get_data(as_text=True))}
    )
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and "it will not be shown again" in html
    token = re.search(r'<pre class="token-value" id="new-token">([^<]+)</pre>', html).group(1)
    assert _api_status(client, token) == 200

    row = db.session.scalar(select(ApiToken))
    again = operator_client.get("/settings/api-tokens").get_data(as_text=True)
    assert token not in again and row.prefix in again and "signup script" in again

    revoked = operator_client.post(
        f"/settings/api-tokens/{row.id}/revoke", headers=HTMX | {"X-CSRFToken": csrf_from(again)}
    )
    assert revoked.status_code == 200 and "revoked" in revoked.get_data(as_text=True)
    assert _api_status(client, token) == 401
    db.session.rollback()
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "api_tokens")).all()
    assert actions == ["api_token.created", "api_token.revoked"]


def test_a_token_needs_a_name(operator_client, db):
    page = operator_client.get("/settings/api-tokens").get_data(as_text=True)
    response = operator_client.post("/settings/api-tokens", data={"name": "  ", "csrf_token": csrf_from(page)})
    assert response.status_code == 400 and "Give the token a name" in response.get_data(as_text=True)
    assert db.session.scalar(select(ApiToken)) is None


def test_creating_a_token_without_csrf_is_refused(operator_client, db):
    assert operator_client.post("/settings/api-tokens", data={"name": "x"}).status_code == 400
    assert db.session.scalar(select(ApiToken)) is None


def test_cli_creates_a_token_on_its_last_line_and_revokes_it(app, client, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-token", "create", "billing cron"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert _api_status(client, token) == 200
    row = db.session.scalar(select(ApiToken).where(ApiToken.name == "billing cron"))
    assert "billing cron" in runner.invoke(args=["api-token", "list"]).output
    # The runner shares this test's session; each real `flask` command is a process with its own.
    db.session.rollback()
    revoked = runner.invoke(args=["api-token", "revoke", str(row.id)])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert _api_status(client, token) == 401
    assert runner.invoke(args=["api-token", "revoke", "999"]).exit_code != 0
    assert runner.invoke(args=["api-token", "create", " "]).exit_code != 0


def test_adding_an_endpoint_shows_its_signing_secret_and_it_can_be_disabled(operator_client, db):
    page = operator_client.get("/settings/webhooks").get_data(as_text=True)
    response = operator_client.post(
        "/settings/webhooks",
        data={
            "url": "https://app.example.com/hooks",
            "events": ["invoice.paid", "subscription.canceled"],
            "csrf_token": csrf_from(page),
        },
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    endpoint = db.session.scalar(select(WebhookEndpoint))
    assert endpoint.events == ["subscription.canceled", "invoice.paid"] and endpoint.secret.startswith("whsec_")
    assert endpoint.secret in html and "https://app.example.com/hooks" in html
    operator_client.post(
        f"/settings/webhooks/{endpoint.id}/active", data={"active": "0", "csrf_token": csrf_from(html)}
    )
    db.session.rollback()
    assert db.session.get(WebhookEndpoint, endpoint.id).active is False
    assert "disabled" in operator_client.get("/settings/webhooks").get_data(as_text=True)


def test_a_bad_endpoint_url_is_refused_with_a_message(operator_client, db):
    page = operator_client.get("/settings/webhooks").get_data(as_text=True)
    for url in ("ftp://files.example.com/x", "not a url", ""):
        response = operator_client.post("/settings/webhooks", data={"url": url, "csrf_token": csrf_from(page)})
        assert response.status_code == 400, url
        assert 'class="error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(WebhookEndpoint)) is None


def test_resending_a_failed_delivery_from_the_log_queues_it_again_with_its_attempts(
    operator_client, db, webhook_receiver
):
    emit_event("invoice.paid", {"id": 1}, event_key="invoice.paid:1")
    db.session.commit()
    delivery = db.session.scalar(select(WebhookDelivery))
    delivery.status, delivery.attempts, delivery.last_status_code = DeliveryStatus.FAILED, 10, 503
    delivery.last_error = "HTTP 503: down"
    db.session.commit()

    page = operator_client.get("/settings/webhooks?status=failed").get_data(as_text=True)
    assert f'id="delivery-{delivery.id}"' in page and "HTTP 503: down" in page
    row = operator_client.post(
        f"/settings/webhooks/deliveries/{delivery.id}/resend", headers=HTMX | {"X-CSRFToken": csrf_from(page)}
    )
    html = row.get_data(as_text=True)
    assert row.status_code == 200 and html.lstrip().startswith(f'<tr id="delivery-{delivery.id}">')
    assert "badge-pending" in html
    db.session.rollback()
    delivery = db.session.get(WebhookDelivery, delivery.id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 10)

    assert deliver_due_webhooks() == {"delivered": 1, "retrying": 0, "failed": 0}
    assert webhook_receiver.received[0].signature_ok
    log = operator_client.get("/settings/webhooks/deliveries").get_data(as_text=True)
    assert "badge-delivered" in log
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook.resent")).actor.startswith("user:")


def test_settings_overview_links_to_the_new_screens(operator_client):
    html = operator_client.get("/settings").get_data(as_text=True)
    assert 'href="/settings/api-tokens"' in html and 'href="/settings/webhooks"' in html
