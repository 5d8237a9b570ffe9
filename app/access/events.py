"""Outbound events for the operator's product, written as deliveries in the caller's transaction."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.access.models import WebhookDelivery, WebhookEndpoint
from app.db_types import utcnow
from app.extensions import db

EVENT_TYPES = (
    "subscription.activated",
    "subscription.updated",
    "subscription.canceled",
    "invoice.paid",
    "payment.refunded",
    #: a card payment is contested (chargeback): your product may want to hold the account while it is open
    "payment.disputed",
    #: the dispute ended: `outcome` won (the money came back) or lost (it stays refunded)
    "payment.dispute_closed",
)


def emit_event(event_type: str, data: dict[str, Any], *, event_key: str) -> list[WebhookDelivery]:
    """One delivery per active endpoint that wants this type. `event_key` names the business event
    ("invoice.paid:42") so emitting it twice adds nothing."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    endpoints = db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))).all()
    deliveries = []
    event_id = f"evt_{secrets.token_hex(12)}"
    for endpoint in endpoints:
        if endpoint.events and event_type not in endpoint.events:
            continue
        payload = {"id": event_id, "type": event_type, "created": int(utcnow().timestamp()), "data": data}
        delivery = WebhookDelivery(
            endpoint_id=endpoint.id, event_id=event_id, event_type=event_type, event_key=event_key, payload=payload
        )
        try:
            with db.session.begin_nested():
                db.session.add(delivery)
        except IntegrityError:
            continue  # this endpoint already has this event
        deliveries.append(delivery)
    return deliveries
