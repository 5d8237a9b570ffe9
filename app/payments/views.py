"""Operator screens for payments: the list (with held payments to resolve), recording a manual payment and a
refund from the invoice page, and downloading a payment's scan."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from app.audit.service import current_actor
from app.auth.guards import admin_required
from app.billing.invoice_page import invoice_page_context
from app.billing.models import Invoice
from app.extensions import db
from app.fragments import render_page_or_fragment, wants_fragment
from app.money import format_money
from app.pagination import page_number
from app.payments import scans
from app.payments.forms import RecordPaymentForm, RefundForm
from app.payments.listing import FILTERS, list_payments, needs_review_count, payment_filter
from app.payments.manual import ManualPayment, ManualPaymentError, record_manual_payment
from app.payments.models import Payment
from app.payments.refunds import RefundError, record_refund
from app.payments.review import Resolution, ReviewError, resolve_held_payment
from app.payments.settlement import SettlementError, SettlementOutcome
from app.uploads import kind_of_stored, stored_path

bp = Blueprint("payments", __name__)


@bp.route("/payments")
@admin_required
def index():
    status = payment_filter(request.args.get("status"))
    page = list_payments(status, page_number(request.args.get("page")))
    return render_page_or_fragment(
        "payments/index.html",
        "payments/partials/_results.html",
        page=page,
        status=status,
        filters=FILTERS,
        held=needs_review_count(),
    )


def _invoice_page(invoice: Invoice, status: int, **forms):
    return render_template("billing/invoice.html", **invoice_page_context(invoice, **forms)), status


@bp.route("/invoices/<int:invoice_id>/payments", methods=["POST"])
@admin_required
def record(invoice_id: int):
    invoice = db.session.get(Invoice, invoice_id) or abort(404)
    form = RecordPaymentForm()
    if not form.validate_on_submit():
        return _invoice_page(invoice, 422, record_form=form)
    scan = scans.read_scan(form.scan)
    if form.scan.errors:
        return _invoice_page(invoice, 422, record_form=form)
    entry = ManualPayment(
        method=form.method.data,
        amount=form.amount.data or "",
        reference=form.reference.data or "",
        received_at=form.received_at(),
        note=form.note.data or None,
        scan_path=scan.name if scan else None,
        received_amount=form.received_amount.data or None,
        received_currency=form.received_currency.data or None,
    )
    try:
        result = record_manual_payment(invoice.id, entry, actor=current_actor())
    except (ManualPaymentError, SettlementError) as exc:
        db.session.rollback()
        getattr(form, getattr(exc, "field", "amount"), form.amount).errors.append(str(exc))
        return _invoice_page(db.session.get(Invoice, invoice_id), 422, record_form=form)
    if result.outcome == SettlementOutcome.DUPLICATE:
        db.session.rollback()
        return _invoice_page(db.session.get(Invoice, invoice_id), 200, record_form=form, duplicate=result.payment)
    if scan:
        scans.store(scan)
    db.session.commit()
    flash(*_recorded_message(result.payment, result.outcome))
    return redirect(url_for("billing.show_invoice", invoice_id=invoice_id) + "#payments")


def _recorded_message(payment: Payment, outcome: SettlementOutcome) -> tuple[str, str]:
    amount = format_money(payment.amount_minor, payment.currency)
    invoice = payment.invoice
    if outcome == SettlementOutcome.NEEDS_REVIEW:
        return (
            f"{amount} recorded but held for review: invoice #{invoice.number} is {invoice.status.value}, so the money "
            "was not applied. Apply it or move it to the customer's credit under Payments → Needs review.",
            "warn",
        )
    if outcome == SettlementOutcome.PAID:
        extra = payment.amount_minor - payment.applied_minor
        credit = (
            f" {format_money(extra, payment.currency)} over the amount due went to the customer's credit."
            if extra
            else ""
        )
        return (
            f"{amount} recorded. Invoice #{invoice.number} is paid; the receipt is queued for the customer.{credit}",
            "success",
        )
    left = format_money(invoice.amount_remaining_minor, invoice.currency)
    return f"{amount} recorded. Invoice #{invoice.number} is partly paid; {left} remains.", "success"


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(exc: RequestEntityTooLarge):
    limit_mb = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
    invoice_id = (request.view_args or {}).get("invoice_id")
    invoice = db.session.get(Invoice, invoice_id) if invoice_id else None
    if invoice is None:
        return render_template("error.html", code=413, title="File too large", error=exc), 413
    form = RecordPaymentForm.for_invoice(invoice)
    form.scan.errors = [f"the upload is larger than the {limit_mb:g} MB limit; scan at a lower resolution"]
    return _invoice_page(invoice, 413, record_form=form)


@bp.route("/invoices/<int:invoice_id>/refunds", methods=["POST"])
@admin_required
def refund(invoice_id: int):
    invoice = db.session.get(Invoice, invoice_id) or abort(404)
    form = RefundForm.for_invoice(invoice, submitted=True)
    if not form.validate_on_submit():
        return _invoice_page(invoice, 422, refund_form=form)
    payment = form.chosen_payment()
    try:
        refund, created = record_refund(
            payment.id, form.amount.minor, form.reference.data, actor=current_actor(), reason=form.reason.data or None
        )
    except RefundError as exc:
        db.session.rollback()
        form.amount.errors.append(str(exc))
        return _invoice_page(db.session.get(Invoice, invoice_id), 422, refund_form=form)
    if not created:
        db.session.rollback()
        return _invoice_page(db.session.get(Invoice, invoice_id), 200, refund_form=form, duplicate_refund=refund)
    db.session.commit()
    flash(
        f"Refund of {format_money(refund.amount_minor, refund.currency)} recorded (ref {refund.rail_refund_id}).",
        "success",
    )
    return redirect(url_for("billing.show_invoice", invoice_id=invoice_id) + "#payments")


@bp.route("/payments/<int:payment_id>/scan")
@admin_required
def scan(payment_id: int):
    payment = db.session.get(Payment, payment_id) or abort(404)
    if not payment.scan_path:
        abort(404)
    path = stored_path(payment.scan_path)
    if not path.is_file():
        abort(404)
    kind = kind_of_stored(payment.scan_path)
    return send_file(
        path, mimetype=kind.mimetype, as_attachment=True, download_name=f"payment-{payment.id}-scan{kind.suffix}"
    )


@bp.route("/payments/<int:payment_id>/apply", methods=["POST"])
@admin_required
def apply_to_invoice(payment_id: int):
    def act() -> str:
        outcome = resolve_held_payment(payment_id, Resolution.APPLY, actor=current_actor())
        invoice = db.session.get(Payment, payment_id).invoice
        state = "paid" if outcome == SettlementOutcome.PAID else "partly paid"
        return f"Applied to invoice #{invoice.number}, which is now {state}."

    return _review_action(payment_id, act)


@bp.route("/payments/<int:payment_id>/credit", methods=["POST"])
@admin_required
def move_to_credit(payment_id: int):
    def act() -> str:
        resolve_held_payment(payment_id, Resolution.CREDIT, actor=current_actor())
        payment = db.session.get(Payment, payment_id)
        return f"{format_money(payment.amount_minor, payment.currency)} moved to the customer's credit."

    return _review_action(payment_id, act)


@bp.route("/payments/<int:payment_id>/return", methods=["POST"])
@admin_required
def return_to_payer(payment_id: int):
    """The operator sent the money back; the reference of that transfer comes from htmx's prompt (or a form)."""
    reference = (request.headers.get("HX-Prompt") or request.form.get("reference") or "").strip()[:200]

    def act() -> str:
        resolve_held_payment(payment_id, Resolution.REFUND, actor=current_actor(), reference=reference or None)
        payment = db.session.get(Payment, payment_id)
        return f"{format_money(payment.amount_minor, payment.currency)} recorded as returned (ref {reference})."

    return _review_action(payment_id, act)


def _review_action(payment_id: int, act):
    db.session.get(Payment, payment_id) or abort(404)
    try:
        message, category, status = act(), "success", 200
        db.session.commit()
    except (ReviewError, SettlementError) as exc:
        db.session.rollback()
        message, category, status = str(exc)[:1].upper() + str(exc)[1:] + ".", "error", 409
    payment = db.session.get(Payment, payment_id)
    if wants_fragment():
        from app.customers.models import Customer

        customer = db.session.get(Customer, payment.customer_id)
        return render_template(
            "payments/partials/_payment_row.html",
            payment=payment,
            customer=customer,
            row_message=message,
            row_category=category,
        ), status
    flash(message, category)
    return redirect(url_for("payments.index", status="needs_review"))
