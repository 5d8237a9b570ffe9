"""The one place renewals and dunning retries ask the card rail to charge a saved card.

The Stripe capability replaces the body of `charge_card_on_file`; until then no card is charged and every
caller treats the invoice as one the customer pays from its pay link.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.billing.models import Invoice

#: why no card was charged, reported in the jobs' summaries so the automation screen says it plainly
CARD_RAIL_UNAVAILABLE = "card rail not built yet"


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
    """A customer the card rail knows; renewals route these through the per-row path so the hook sees them."""
    return bool(stripe_customer_id)


def charge_card_on_file(invoice: Invoice) -> ChargeAttempt | None:
    """Charges the customer's saved card for what the invoice still owes.

    Returns None when no charge was attempted (see `CARD_RAIL_UNAVAILABLE`), otherwise the attempt; a
    succeeded attempt has already settled the invoice in the caller's transaction.
    """
    return None
