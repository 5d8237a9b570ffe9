"""Webhook endpoints: where the operator's product listens, which events it wants, and its signing secret."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from sqlalchemy import select

from app.access.events import EVENT_TYPES
from app.access.models import WebhookEndpoint
from app.audit.service import record_audit
from app.extensions import db


class EndpointError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def validate_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise EndpointError("url", "URL must start with https:// (or http://) and name a host; at most 500 characters")
    if parts.username or parts.password:
        raise EndpointError("url", "URL must not carry a user name or password")
    return url


def create_endpoint(url: str, events: list[str], *, actor: str) -> WebhookEndpoint:
    """`events` empty means every event type, including ones added later."""
    url = validate_url(url)
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise EndpointError("events", f"unknown event type(s): {', '.join(unknown)}")
    endpoint = WebhookEndpoint(
        url=url, secret=new_signing_secret(), events=[e for e in EVENT_TYPES if e in events], active=True
    )
    db.session.add(endpoint)
    record_audit("webhook_endpoint.created", endpoint, actor=actor, url=url, events=endpoint.events)
    return endpoint


def set_endpoint_active(endpoint_id: int, active: bool, *, actor: str) -> WebhookEndpoint:
    """A disabled endpoint gets no new events, and its pending deliveries are not sent."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise EndpointError("endpoint", f"no webhook endpoint {endpoint_id}")
    if endpoint.active != active:
        endpoint.active = active
        record_audit(
            "webhook_endpoint.enabled" if active else "webhook_endpoint.disabled",
            endpoint,
            actor=actor,
            url=endpoint.url,
        )
    return endpoint


def list_endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
