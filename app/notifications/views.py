"""The operator's outbox screen: messages by status, one message's rendered text, send again."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from app.audit.service import current_actor
from app.auth.guards import admin_required
from app.extensions import db, htmx
from app.notifications import service
from app.notifications.models import OutboxMessage, OutboxStatus
from app.notifications.rendering import message_id_for, sender

bp = Blueprint("outbox", __name__, url_prefix="/outbox")

#: the filters the screen offers, in its order
FILTERS = (OutboxStatus.HELD, OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.SENT, OutboxStatus.DEAD)


def _status_filter() -> OutboxStatus | None:
    raw = request.args.get("status", "").strip()
    if not raw:
        return None
    try:
        return OutboxStatus(raw)
    except ValueError:
        abort(400, description=f"status must be one of {', '.join(s.value for s in FILTERS)}")


def _before_id() -> int | None:
    raw = request.args.get("before", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        abort(400, description="before must be a message id (digits)")
    return int(raw)


@bp.route("/")
@admin_required
def index():
    status = _status_filter()
    messages = service.list_messages(status, before_id=_before_id())
    return render_template(
        "notifications/index.html",
        messages=messages,
        status=status,
        filters=FILTERS,
        counts=service.status_counts(),
        held_status=OutboxStatus.HELD,
        smtp=service.smtp_description(),
        older=messages[-1].id if len(messages) == service.PAGE_SIZE else None,
    )


@bp.route("/<int:message_id>")
@admin_required
def message(message_id: int):
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    return render_template(
        "notifications/message.html",
        message=message,
        preview=service.preview(message),
        message_id=message_id_for(message, sender()),
        smtp=service.smtp_description(),
    )


@bp.route("/<int:message_id>/send", methods=["POST"])
@admin_required
def send_again(message_id: int):
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    try:
        service.request_delivery(message, actor=current_actor())
    except service.OutboxActionError as exc:
        db.session.rollback()
        if htmx:
            # htmx swaps only 2xx answers: the row says why, in place of the button.
            return _row(message, row_error=str(exc))
        flash(str(exc), "error")
        return redirect(url_for("outbox.message", message_id=message_id), 303)
    db.session.commit()
    if htmx:
        return _row(message)
    flash(f"Message {message_id} is queued; a worker sends it within seconds.", "success")
    return redirect(url_for("outbox.message", message_id=message_id), 303)


def _row(message: OutboxMessage, row_error: str | None = None) -> str:
    return render_template(
        "notifications/partials/_row.html", message=message, row_error=row_error, smtp=service.smtp_description()
    )


@bp.route("/release-held", methods=["POST"])
@admin_required
def release_held():
    try:
        released = service.release_held(actor=current_actor())
    except service.OutboxActionError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("outbox.index", status="held"), 303)
    db.session.commit()
    flash(f"{released} held message{'s' if released != 1 else ''} queued for sending.", "success")
    return redirect(url_for("outbox.index", status="pending"), 303)
