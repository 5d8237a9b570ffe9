"""Absolute links customers follow from emails and documents (they open outside this app, so never relative)."""

from __future__ import annotations

from flask import current_app

from app.billing.models import Invoice


def public_url(path: str) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + "/" + path.lstrip("/")


def pay_url(invoice: Invoice) -> str:
    """The customer's pay page for this invoice; the token is the only key to it."""
    return public_url(f"pay/{invoice.pay_token}")


def invoice_pdf_url(invoice: Invoice) -> str:
    return public_url(f"pay/{invoice.pay_token}/invoice.pdf")


def receipt_pdf_url(invoice: Invoice, payment_id: int) -> str:
    return public_url(f"pay/{invoice.pay_token}/receipts/{payment_id}.pdf")
