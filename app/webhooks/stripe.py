"""POST /webhooks/stripe: public and CSRF-exempt (Stripe signs the body instead); answers as soon as the event is
stored, and a worker processes it."""

from __future__ import annotations

from flask import Blueprint, request

from app.extensions import csrf, limiter
from app.payments.stripe.events import WebhookRejected, receive_event, request_processing

bp = Blueprint("stripe_webhooks", __name__)


@bp.route("/webhooks/stripe", methods=["POST"])
@csrf.exempt
@limiter.exempt  # Stripe's retries must never meet a 429; a forged request costs one HMAC and a 400
def receive():
    try:
        received = receive_event(request.get_data(cache=False), request.headers.get("Stripe-Signature"))
    except WebhookRejected as exc:
        return {"error": {"field": exc.field, "message": str(exc)}}, 400
    request_processing()  # the event is committed: a worker can read it
    return {"received": True, "duplicate": not received.created}, 200
