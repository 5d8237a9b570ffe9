"""POST /webhooks/stripe: public and CSRF-exempt (Stripe signs the body instead); answers as soon as the event is
stored, and a worker processes it."""

from __future__ import annotations

from flask import Blueprint, request

from app.extensions import csrf, db
from app.payments.stripe.events import WebhookRejected, receive_event, request_processing

bp = Blueprint("stripe_webhooks", __name__)


@bp.route("/webhooks/stripe", methods=["POST"])
@csrf.exempt
def receive():
    try:
        received = receive_event(request.get_data(cache=False), request.headers.get("Stripe-Signature"))
    except WebhookRejected as exc:
        db.session.rollback()
        return {"error": {"field": exc.field, "message": str(exc)}}, 400
    db.session.commit()
    request_processing()
    return {"received": True, "duplicate": not received.created}, 200
