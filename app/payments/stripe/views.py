"""The operator's card rail screens: every Stripe event with its result (re-run one), card refunds, disputes."""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from app.audit.service import current_actor
from app.auth.guards import admin_required
from app.extensions import db, htmx
from app.money import MoneyError, parse_minor, to_decimal_string
from app.payments.disputes import customer_disputes, open_disputes
from app.payments.models import Refund
from app.payments.stripe.client import stripe_status
from app.payments.stripe.events import process_event, reset_event
from app.payments.stripe.forms import CardRefundForm
from app.payments.stripe.models import StripeEvent, StripeEventStatus
from app.payments.stripe.refunds import CardRefundError, card_payment, refund_card_payment, refundable_minor

bp = Blueprint("stripe_admin", __name__, url_prefix="/payments")

PAGE_SIZE = 50


@bp.route("/stripe-events")
@admin_required
def events():
    status = request.args.get("status") or None
    if status and status not in {s.value for s in StripeEventStatus}:
        abort(400, f"status must be one of {', '.join(s.value for s in StripeEventStatus)}")
    kind = (request.args.get("type") or "").strip()[:100]
    before = request.args.get("before", type=int)
    query = select(StripeEvent).order_by(StripeEvent.id.desc()).limit(PAGE_SIZE + 1)
    if status:
        query = query.where(StripeEvent.status == status)
    if kind:
        query = query.where(StripeEvent.type.startswith(kind, autoescape=True))
    if before:
        query = query.where(StripeEvent.id < before)
    rows = list(db.session.scalars(query))
    counts = dict(db.session.execute(select(StripeEvent.status, func.count()).group_by(StripeEvent.status)).all())
    return render_template(
        "stripe/events.html",
        events=rows[:PAGE_SIZE],
        next_before=rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None,
        counts={s.value: counts.get(s, 0) for s in StripeEventStatus},
        status=status,
        kind=kind,
        stripe=stripe_status(),
    )


@bp.route("/stripe-events/<int:event_id>")
@admin_required
def event(event_id: int):
    row = db.session.get(StripeEvent, event_id) or abort(404)
    return render_template("stripe/event.html", event=row, payload=json.dumps(row.payload, indent=2, sort_keys=True))


@bp.route("/stripe-events/<int:event_id>/rerun", methods=["POST"])
@admin_required
def rerun(event_id: int):
    if db.session.get(StripeEvent, event_id) is None:
        abort(404)
    reset_event(event_id, actor=current_actor())
    db.session.commit()
    process_event(event_id)
    row = db.session.get(StripeEvent, event_id)
    if htmx:
        template = "stripe/partials/_event_row.html" if request.form.get("fragment") == "row" else None
        return render_template(template or "stripe/partials/_event_result.html", event=row, rerun=True)
    flash(f"Event {row.stripe_event_id} ran again: {row.status.value}.", "success")
    return redirect(url_for("stripe_admin.event", event_id=event_id))


@bp.route("/<int:payment_id>/card-refund", methods=["GET", "POST"])
@admin_required
def card_refund(payment_id: int):
    """The invoice page's refund box for one card payment (an HTMX fragment, loaded with hx-get)."""
    payment = card_payment(payment_id) or abort(404)
    form = CardRefundForm()
    message, status = None, 200
    if request.method == "POST":
        if form.validate():
            try:
                amount_minor = parse_minor(form.amount.data, payment.currency)
                result = refund_card_payment(
                    payment.id, amount_minor, actor=current_actor(), request_key=form.request_key.data
                )
                db.session.commit()
                message = ("success", result.message)
                form = CardRefundForm(formdata=None)
            except MoneyError as exc:
                form.amount.errors = [str(exc)]
            except CardRefundError as exc:
                db.session.rollback()
                (form.amount.errors if exc.field == "amount" else form.form_errors).append(str(exc))
        status = 422 if form.errors or form.form_errors else 200
    if not form.request_key.data or message:
        form.fresh_key()
    refunds = db.session.scalars(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.id)).all()
    return render_template(
        "stripe/partials/_card_refund.html",
        payment=payment,
        form=form,
        refunds=refunds,
        refundable=refundable_minor(payment),
        refundable_decimal=to_decimal_string(refundable_minor(payment), payment.currency),
        message=message,
    ), status


@bp.route("/disputes")
@admin_required
def disputes():
    """Open disputes with their deadlines; ?customer=<id>: that customer's, closed ones too (the customer page's
    fragment)."""
    customer_id = request.args.get("customer", type=int)
    if customer_id is None:
        return render_template("stripe/partials/_disputes.html", disputes=open_disputes(), for_customer=False)
    return render_template("stripe/partials/_disputes.html", disputes=customer_disputes(customer_id), for_customer=True)
