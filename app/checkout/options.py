"""The ways to pay a customer sees on the pay page: the enabled rails that have a pay-page option today.

Card and crypto rails are enabled in the default settings but have no option yet: they stay hidden until their own
capability adds an entry here, so the page never offers a way to pay that does not work."""

from __future__ import annotations

from dataclasses import dataclass

from app.billing.models import Invoice
from app.settings.service import get_setting


@dataclass(frozen=True)
class PayOption:
    #: stable id for the page's anchors and tests
    key: str
    title: str
    #: the partial under templates/checkout/partials/ that shows the instructions
    template: str
    rails: tuple[str, ...]


#: rails grouped into what a customer recognises as one way to pay
OPTIONS: tuple[PayOption, ...] = (
    PayOption("bank", "Bank transfer", "checkout/partials/_option_bank.html", ("bank_transfer", "wire", "ach")),
    PayOption("check", "Check or money order", "checkout/partials/_option_check.html", ("check", "money_order")),
    PayOption("cash", "Cash", "checkout/partials/_option_cash.html", ("cash",)),
)

#: offered only when Stripe keys are configured (app.payments.stripe.client.card_rail_enabled)
CARD_OPTION = PayOption("card", "Card", "checkout/partials/_card.html", ("card",))

_BANK_TITLES = {"bank_transfer": "Bank transfer", "wire": "Wire", "ach": "ACH"}


def pay_options(invoice: Invoice) -> list[tuple[PayOption, tuple[str, ...]]]:
    """(option, which of its rails are enabled) for every option with at least one enabled rail."""
    enabled = set(get_setting("rails.enabled") or [])
    if not get_setting("bank.instructions").strip():
        enabled -= {"bank_transfer", "wire", "ach"}  # no account to send money to: do not offer it
    result = []
    from app.payments.stripe.client import card_rail_enabled

    if "card" in enabled and card_rail_enabled():
        result.append((CARD_OPTION, ("card",)))
    for option in OPTIONS:
        rails = tuple(r for r in option.rails if r in enabled)
        if rails:
            result.append((option, rails))
    return result


def option_title(option: PayOption, rails: tuple[str, ...]) -> str:
    if option.key == "bank":
        names = [_BANK_TITLES[r] for r in rails]
        text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        return text[:1] + text[1:].replace("Bank transfer", "bank transfer").replace("Wire", "wire")
    if option.key == "check":
        return {("check",): "Check", ("money_order",): "Money order"}.get(rails, option.title)
    return option.title
