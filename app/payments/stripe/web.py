"""Plugs the card rail into the app: its blueprints, and Stripe's hosted pages as allowed form targets."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask

from app.payments.disputes import EVIDENCE_SENT

#: where Checkout and the customer portal live; a form posting to us is redirected there
STRIPE_HOSTED_ORIGINS = ("https://checkout.stripe.com", "https://billing.stripe.com")


def register_card_rail(app: Flask) -> None:
    from app.payments.stripe.client import stripe_status
    from app.payments.stripe.pay_views import bp as card_checkout_bp
    from app.payments.stripe.views import bp as stripe_admin_bp
    from app.webhooks.stripe import bp as stripe_webhooks_bp

    for bp in (card_checkout_bp, stripe_admin_bp, stripe_webhooks_bp):
        app.register_blueprint(bp)
    # for the settings page's {% include "stripe/partials/_status.html" %}
    app.jinja_env.globals["card_rail_status"] = stripe_status
    # for the disputes tables: an open dispute whose evidence was sent asks nothing of the operator
    app.jinja_env.globals["evidence_sent"] = EVIDENCE_SENT

    @app.after_request
    def allow_stripe_form_targets(response):
        # Browsers apply CSP form-action to the redirect after a form post too: the card form posts to us and we
        # answer with a redirect to Stripe's hosted page. (Runs after the security headers hook has set the CSP.)
        policy = response.headers.get("Content-Security-Policy")
        if policy and "form-action 'self'" in policy and app.config.get("STRIPE_SECRET_KEY"):
            origins = " ".join(stripe_hosted_origins(app))
            response.headers["Content-Security-Policy"] = policy.replace(
                "form-action 'self'", f"form-action 'self' {origins}"
            )
        return response


def stripe_hosted_origins(app: Flask) -> tuple[str, ...]:
    base = app.config.get("STRIPE_API_BASE")
    if base:  # a stand-in serves its hosted pages from its own address
        parts = urlsplit(base)
        return (f"{parts.scheme}://{parts.netloc}",)
    return STRIPE_HOSTED_ORIGINS
