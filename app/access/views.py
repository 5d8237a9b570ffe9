"""Settings screens for how the operator's product connects: API tokens and outbound webhooks."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.access import delivery as delivery_service
from app.access import endpoints as endpoint_service
from app.access import tokens as token_service
from app.access.dispatch import enqueue_delivery_run, kick_after_request
from app.access.events import EVENT_TYPES
from app.access.forms import ApiTokenForm, WebhookEndpointForm
from app.access.models import DeliveryStatus, WebhookDelivery
from app.auth.guards import admin_required
from app.extensions import db, htmx

bp = Blueprint("access", __name__, url_prefix="/settings")
bp.teardown_app_request(kick_after_request)


def _actor() -> str:
    return f"user:{current_user.id}"


# API tokens


@bp.route("/api-tokens", methods=["GET", "POST"])
@admin_required
def api_tokens():
    """POST creates a token and answers with it in the page: it is shown this once and stored only as a hash."""
    form = ApiTokenForm()
    new_token = None
    if form.validate_on_submit():
        try:
            row, new_token = token_service.create_api_token(form.name.data, actor=_actor())
            db.session.commit()
            form = ApiTokenForm(formdata=None)
        except token_service.ApiTokenError as exc:
            db.session.rollback()
            form.name.errors = [str(exc)]
    template = "access/partials/_api_tokens.html" if htmx else "access/api_tokens.html"
    # htmx swaps only 2xx answers, so a form error goes back to it as 200 with the message in the form
    status = 400 if form.errors and not htmx else 200
    return render_template(template, form=form, new_token=new_token, tokens=token_service.list_api_tokens()), status


@bp.post("/api-tokens/<int:token_id>/revoke")
@admin_required
def revoke_api_token(token_id: int):
    try:
        row = token_service.revoke_api_token(token_id, actor=_actor())
    except token_service.ApiTokenError:
        abort(404)
    db.session.commit()
    if htmx:
        return render_template(
            "access/partials/_api_tokens.html",
            form=ApiTokenForm(formdata=None),
            new_token=None,
            tokens=token_service.list_api_tokens(),
        )
    flash(f"Token “{row.name}” ({row.prefix}…) is revoked; requests using it now get 401.", "success")
    return redirect(url_for("access.api_tokens"))


# Webhooks


def _delivery_filter() -> DeliveryStatus | None:
    raw = request.args.get("status") or None
    try:
        return DeliveryStatus(raw) if raw else None
    except ValueError:
        abort(400)


def _webhooks_page(form: WebhookEndpointForm, status: int = 200):
    chosen = _delivery_filter()
    return render_template(
        "access/webhooks.html",
        form=form,
        endpoints=endpoint_service.list_endpoints(),
        deliveries=delivery_service.recent_deliveries(status=chosen),
        statuses=list(DeliveryStatus),
        chosen=chosen,
        event_types=EVENT_TYPES,
    ), status


@bp.get("/webhooks")
@admin_required
def webhooks():
    return _webhooks_page(WebhookEndpointForm(formdata=None))


@bp.post("/webhooks")
@admin_required
def add_webhook_endpoint():
    form = WebhookEndpointForm()
    if form.validate_on_submit():
        try:
            endpoint = endpoint_service.create_endpoint(form.url.data, form.events.data or [], actor=_actor())
            db.session.commit()
            flash(f"Endpoint added: {endpoint.url}. Configure your product with its signing secret below.", "success")
            return redirect(url_for("access.webhooks"))
        except endpoint_service.EndpointError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors = [str(exc)]
    return _webhooks_page(form, 400)


@bp.post("/webhooks/<int:endpoint_id>/active")
@admin_required
def set_webhook_endpoint_active(endpoint_id: int):
    active = request.form.get("active") == "1"
    try:
        endpoint = endpoint_service.set_endpoint_active(endpoint_id, active, actor=_actor())
    except endpoint_service.EndpointError:
        abort(404)
    db.session.commit()
    if active:
        enqueue_delivery_run()  # deliveries that waited while it was disabled go out now
    flash(f"{endpoint.url} is {'enabled' if active else 'disabled'}.", "success")
    return redirect(url_for("access.webhooks"))


@bp.get("/webhooks/deliveries")
@admin_required
def webhook_deliveries():
    return render_template(
        "access/partials/_deliveries.html", deliveries=delivery_service.recent_deliveries(status=_delivery_filter())
    )


@bp.post("/webhooks/deliveries/<int:delivery_id>/resend")
@admin_required
def resend_webhook_delivery(delivery_id: int):
    try:
        delivery = delivery_service.resend_delivery(delivery_id, actor=_actor())
    except LookupError:
        abort(404)
    db.session.commit()
    enqueue_delivery_run()
    if htmx:
        return render_template("access/partials/_delivery_row.html", d=db.session.get(WebhookDelivery, delivery.id))
    flash(f"Delivery {delivery.id} ({delivery.event_type}) is queued again.", "success")
    return redirect(url_for("access.webhooks"))
