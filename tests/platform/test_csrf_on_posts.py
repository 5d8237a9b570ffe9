"""Every state-changing operator route refuses a request without the CSRF token and changes nothing."""

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.billing.models import InvoiceStatus
from tests.factories import make_invoice, make_manual_payment
from tests.platform.test_route_guards import _admin_requests

pytestmark = pytest.mark.usefixtures("fresh_reads")


def test_every_admin_post_without_a_csrf_token_is_refused_and_changes_nothing(app, operator_client, db):
    invoice = make_invoice(amount_minor=4900)  # id 1: the example URLs of the route walk point at it
    make_manual_payment(make_invoice(amount_minor=100), "1.00")
    audit_before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    posts = [(method, url) for method, url in _admin_requests(app) if method == "POST"]
    assert len(posts) >= 10
    for _, url in posts:
        response = operator_client.post(url, data={"n": "1", "amount": "49.00", "reference": "X"})
        assert response.status_code == 400, url
        assert "CSRF" in response.get_data(as_text=True), url
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == audit_before
    db.session.refresh(invoice)
    assert invoice.status == InvoiceStatus.OPEN and invoice.amount_paid_minor == 0
