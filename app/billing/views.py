"""Operator screens for invoices: the filtered list with inline actions, one invoice's page, a new invoice."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.audit.service import current_actor
from app.auth.guards import admin_required
from app.billing.forms import MAX_LINES, NewInvoiceForm
from app.billing.invoice_page import invoice_page_context
from app.billing.invoices import IllegalInvoiceTransition, create_invoice, invoice_for_update, mark_uncollectible
from app.billing.invoices import void_invoice as void_service
from app.billing.listing import FILTERS, display_status, invoice_filter, list_invoices, sent_counts
from app.billing.models import Invoice
from app.billing.sending import InvoiceSendError, send_invoice
from app.customers.models import Customer
from app.extensions import db
from app.fragments import render_page_or_fragment, wants_fragment
from app.money import format_money
from app.pagination import page_number
from app.settings.service import get_setting

bp = Blueprint("billing", __name__)


@bp.app_template_filter("invoice_status")
def invoice_status_filter(invoice: Invoice) -> str:
    return display_status(invoice)


@bp.route("/invoices")
@admin_required
def invoices():
    status = invoice_filter(request.args.get("status"))
    page = list_invoices(status, page_number(request.args.get("page")))
    return render_page_or_fragment(
        "billing/invoices.html",
        "billing/partials/_invoice_results.html",
        page=page,
        status=status,
        filters=FILTERS,
        sends=sent_counts([invoice.id for invoice in page.items]),
    )


@bp.route("/invoices/<int:invoice_id>")
@admin_required
def show_invoice(invoice_id: int):
    invoice = db.session.get(Invoice, invoice_id) or abort(404)
    return render_template("billing/invoice.html", **invoice_page_context(invoice))


def _sequence_argument() -> int:
    raw = request.form.get("n", "")
    if not raw.isdigit() or int(raw) < 1:
        abort(400, description="n (which send of this invoice this is) must be a whole number from 1")
    return int(raw)


@bp.route("/invoices/<int:invoice_id>/send", methods=["POST"])
@admin_required
def send(invoice_id: int):
    sequence = _sequence_argument()

    def act() -> str:
        invoice, message, queued = send_invoice(invoice_id, sequence=sequence, actor=current_actor())
        if not queued:
            return f"Invoice #{invoice.number} was already sent to {message.payload['to']}; nothing sent again."
        return f"Invoice #{invoice.number} queued for {invoice.customer.email}."

    return _invoice_action(invoice_id, act)


@bp.route("/invoices/<int:invoice_id>/void", methods=["POST"])
@admin_required
def void(invoice_id: int):
    def act() -> str:
        invoice = _locked(invoice_id)
        void_service(invoice, actor=current_actor(), reason=request.form.get("reason", "")[:200])
        return f"Invoice #{invoice.number} voided; nothing more is owed on it."

    return _invoice_action(invoice_id, act)


@bp.route("/invoices/<int:invoice_id>/uncollectible", methods=["POST"])
@admin_required
def uncollectible(invoice_id: int):
    def act() -> str:
        invoice = _locked(invoice_id)
        mark_uncollectible(invoice, actor=current_actor())
        return f"Invoice #{invoice.number} marked uncollectible and written off as bad debt."

    return _invoice_action(invoice_id, act)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _locked(invoice_id: int) -> Invoice:
    return invoice_for_update(invoice_id) or abort(404)


def _invoice_action(invoice_id: int, act: Callable[[], str]) -> Response | str:
    """Runs one action on an invoice and commits; an illegal move changes nothing and says why (409).
    HTMX gets the invoice's row back; a plain form post goes back to the page it came from."""
    db.session.get(Invoice, invoice_id) or abort(404)
    try:
        message, category, status = act(), "success", 200
        db.session.commit()
    except (IllegalInvoiceTransition, InvoiceSendError) as exc:
        db.session.rollback()
        message, category, status = _sentence(str(exc)), "error", 409
    invoice = db.session.get(Invoice, invoice_id)
    if wants_fragment():
        return render_template(
            "billing/partials/_invoice_row.html",
            invoice=invoice,
            sends=sent_counts([invoice.id]),
            row_message=message,
            row_category=category,
        ), status
    flash(message, category)
    return redirect(url_for("billing.show_invoice", invoice_id=invoice_id))


@bp.route("/customers/<int:customer_id>/invoices/new", methods=["GET", "POST"])
@admin_required
def new_invoice(customer_id: int):
    customer = db.session.get(Customer, customer_id) or abort(404)
    form = NewInvoiceForm()
    form.due_days.render_kw = {**form.due_days.render_kw, "placeholder": f"{get_setting('invoice.due_days')} (default)"}
    if request.method == "GET":
        form.currency.data = customer.preferred_currency
    if form.validate_on_submit():
        invoice = create_invoice(
            customer,
            form.currency.data,
            form.line_inputs(),
            actor=current_actor(),
            due_days=form.due_days.data,
            memo=form.memo.data or None,
        )
        db.session.commit()
        flash(
            f"Invoice #{invoice.number} created for {format_money(invoice.amount_due_minor, invoice.currency)}.",
            "success",
        )
        return redirect(url_for("billing.show_invoice", invoice_id=invoice.id))
    return render_template("billing/new_invoice.html", form=form, customer=customer), 422 if form.errors else 200


@bp.route("/customers/<int:customer_id>/invoices/new/line")
@admin_required
def new_invoice_line(customer_id: int):
    """One more empty line row for the new-invoice form (with the next "Add line" button, swapped out of band)."""
    raw = request.args.get("index", "")
    if not raw.isdigit() or int(raw) >= MAX_LINES:
        abort(400, description=f"index must be a whole number below {MAX_LINES}")
    index = int(raw)
    form = NewInvoiceForm(formdata=None)
    while len(form.lines.entries) <= index:
        form.lines.append_entry()
    return render_template(
        "billing/partials/_line_row.html",
        line=form.lines.entries[index],
        index=index,
        customer_id=customer_id,
        oob=True,
    )
