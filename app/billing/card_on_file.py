"""The one place renewals and dunning retries ask the card rail to charge a saved card.

The card rail (app/payments/stripe/charges.py) does the charging; without Stripe keys or a saved card nothing is
charged and the caller treats the invoice as one the customer pays from its pay link.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from app.billing.models import Invoice

#: why no card was charged, reported in the jobs' summaries so the automation screen says it plainly
CARD_RAIL_UNAVAILABLE = "no saved card, or the card rail is not configured"


class ChargeOutcome(enum.StrEnum):
    #: the money is settled against the invoice (through app.payments.settlement)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: the rail accepted the charge and will report the result by webhook
    PENDING = "pending"


@dataclass(frozen=True)
class ChargeAttempt:
    outcome: ChargeOutcome
    #: the rail's id for the attempt (Stripe pi_...)
    rail_payment_id: str | None = None
    #: the decline reason to show the customer and the operator
    failure_reason: str | None = None


def has_card_on_file(stripe_customer_id: str | None) -> bool:
    """A customer the card rail knows; renewals route these through the per-row path so the hook sees them
    (the rail itself checks for a saved payment method and says so when there is none)."""
    return bool(stripe_customer_id)


def charge_card_on_file(invoice: Invoice, *, now: datetime | None = None) -> ChargeAttempt | None:
    """Charges the customer's saved card for what the invoice still owes. `now` is the job's clock: the attempt's
    idempotency key holds its day, so a job run twice a day charges once and each dunning day is a new attempt.

    Returns None when no charge was attempted (see `CARD_RAIL_UNAVAILABLE`), otherwise the attempt; a
    succeeded attempt has already settled the invoice in the caller's transaction.
    """
    from app.payments.stripe.charges import ChargeOutcome as Card
    from app.payments.stripe.charges import charge_saved_card

    result = charge_saved_card(invoice, now=now)
    if result.outcome == Card.NOT_ATTEMPTED:
        return None
    return ChargeAttempt(ChargeOutcome(result.outcome.value), result.rail_payment_id, result.failure_reason)
