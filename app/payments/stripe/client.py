"""The card rail's configuration and its one Stripe client (the official library)."""

from __future__ import annotations

from functools import lru_cache

import stripe
from flask import current_app

from app.settings.service import get_setting

#: our own answer time for one Stripe call; the library's default (80 s) would hold a worker or a page too long
TIMEOUT_SECONDS = 20


class CardRailUnavailable(RuntimeError):
    """Stripe is not configured; the message says what is missing."""


def stripe_status() -> tuple[bool, str]:
    """(enabled, why): the settings page shows the reason; without keys the card rail is hidden."""
    config = current_app.config
    key = config.get("STRIPE_SECRET_KEY") or ""
    if not key:
        return False, "STRIPE_SECRET_KEY is not set, so card payments are off and the pay page does not offer them."
    if not key.startswith(("sk_", "rk_")):
        return False, "STRIPE_SECRET_KEY is not a Stripe secret key (sk_... or rk_...): card payments are off."
    if not config.get("STRIPE_WEBHOOK_SECRET"):
        return False, (
            "STRIPE_WEBHOOK_SECRET is not set: Stripe's confirmations could not be verified, so card payments are off."
        )
    mode = "live" if "_live_" in key else "test"
    where = f" through {config['STRIPE_API_BASE']}" if config.get("STRIPE_API_BASE") else ""
    return True, f"Card payments are on: Stripe in {mode} mode{where}."


def card_rail_enabled() -> bool:
    """Configured and enabled by the operator (setting "rails.enabled")."""
    return stripe_status()[0] and "card" in (get_setting("rails.enabled") or [])


def stripe_client() -> stripe.StripeClient:
    enabled, reason = stripe_status()
    if not enabled:
        raise CardRailUnavailable(reason)
    config = current_app.config
    return _client(config["STRIPE_SECRET_KEY"], config.get("STRIPE_API_BASE") or None)


@lru_cache(maxsize=4)
def _client(key: str, api_base: str | None) -> stripe.StripeClient:
    # Two retries of network errors and 409/5xx answers, with the same Idempotency-Key, as Stripe advises.
    return stripe.StripeClient(
        key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


def webhook_secret() -> str:
    return current_app.config.get("STRIPE_WEBHOOK_SECRET") or ""
