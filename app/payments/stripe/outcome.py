"""What applying one Stripe object to our books did: a status for the event record and a sentence for the operator."""

from __future__ import annotations

from dataclasses import dataclass

from app.payments.stripe.models import StripeEventStatus


@dataclass(frozen=True)
class Outcome:
    status: StripeEventStatus
    text: str

    @classmethod
    def done(cls, text: str) -> Outcome:
        return cls(StripeEventStatus.PROCESSED, text)

    @classmethod
    def unmatched(cls, text: str) -> Outcome:
        return cls(StripeEventStatus.UNMATCHED, text)
