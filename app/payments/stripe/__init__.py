"""The card rail: Stripe Checkout, saved cards charged off-session, refunds, disputes and webhooks processed once."""
