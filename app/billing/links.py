"""Addresses customers are given: the pay page of an invoice."""

from __future__ import annotations

from flask import current_app

from app.billing.models import Invoice


def pay_url(invoice: Invoice) -> str:
    """The public address, from PUBLIC_URL, so emails and the operator's copy button agree whatever host served us."""
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/pay/{invoice.pay_token}"
