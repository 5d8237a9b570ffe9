"""How demo customers pay: which rail each one uses, and the payment each rail reports to settle_payment()."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

from app.billing.models import Invoice, InvoiceStatus
from app.demo.market import Market, card_fee, coin_amount_for
from app.money import convert, implied_rate
from app.payments.failures import record_failed_payment
from app.payments.models import Payment, Rail
from app.payments.settlement import IncomingPayment, SettlementResult, settle_payment

ACTOR = "seed"
#: the rails the demo business has switched on (the `rails.enabled` setting's default), by currency, weighted
RAIL_WEIGHTS: dict[str, tuple[tuple[Rail, int], ...]] = {
    "USD": (
        (Rail.CARD, 72), (Rail.BANK_TRANSFER, 5), (Rail.WIRE, 3), (Rail.CHECK, 3), (Rail.CASH, 1),
        (Rail.BTC, 7), (Rail.ETH, 3), (Rail.USDC, 6),
    ),
    "EUR": ((Rail.CARD, 70), (Rail.BANK_TRANSFER, 17), (Rail.WIRE, 4), (Rail.BTC, 4), (Rail.ETH, 1), (Rail.USDC, 2),
            (Rail.CASH, 1), (Rail.CHECK, 1)),
    "GBP": ((Rail.CARD, 74), (Rail.BANK_TRANSFER, 15), (Rail.WIRE, 3), (Rail.BTC, 4), (Rail.USDC, 2), (Rail.CHECK, 2)),
}  # fmt: skip
#: businesses on the top tier pay by wire and bank transfer more often
BUSINESS_RAIL_WEIGHTS = ((Rail.CARD, 55), (Rail.WIRE, 20), (Rail.BANK_TRANSFER, 15), (Rail.USDC, 6), (Rail.CHECK, 4))
COIN_OF = {Rail.BTC: "BTC", Rail.ETH: "ETH", Rail.USDC: "USDC"}
#: a share of the wires for USD invoices comes from abroad: what arrives, per US dollar owed (the payer's bank rate)
FOREIGN_WIRES = (("EUR", Decimal("0.9231")), ("GBP", Decimal("0.7874")))
FOREIGN_WIRE_SHARE = 0.3
DECLINES = (
    "card_declined: insufficient_funds",
    "card_declined: expired_card",
    "card_declined: do_not_honor",
    "card_declined: incorrect_cvc",
)


def choose_rail(rng: random.Random, currency: str, *, business: bool = False) -> Rail:
    table = BUSINESS_RAIL_WEIGHTS if business and currency == "USD" else RAIL_WEIGHTS[currency]
    return rng.choices([rail for rail, _ in table], weights=[weight for _, weight in table])[0]


def is_instant(rail: Rail) -> bool:
    """Cards are charged when the invoice is issued; every other rail waits for the customer to send money."""
    return rail == Rail.CARD


class Cashier:
    """Builds each rail's payment for an invoice and settles it through the one settlement path."""

    def __init__(self, rng: random.Random, market: Market) -> None:
        self.rng = rng
        self.market = market
        self._manual_serial = 1000

    def pay(self, invoice: Invoice, rail: Rail, at: datetime, *, payer: str, extra_minor: int = 0) -> SettlementResult:
        """Pays what the invoice still needs (plus `extra_minor`, an overpayment) on `rail`, received at `at`."""
        amount = invoice.amount_remaining_minor if invoice.status == InvoiceStatus.OPEN else invoice.amount_due_minor
        incoming = self._incoming(invoice, rail, amount + extra_minor, at, payer)
        return settle_payment(invoice.id, incoming, actor=ACTOR)

    def decline(self, invoice: Invoice, at: datetime) -> Payment:
        payment, _ = record_failed_payment(
            invoice.id,
            Rail.CARD,
            self._card_id("ch"),  # the card rail names a declined attempt by its charge
            invoice.amount_remaining_minor,
            reason=self.rng.choice(DECLINES),
            actor=ACTOR,
            at=at,
        )
        return payment

    def _incoming(self, invoice: Invoice, rail: Rail, amount: int, at: datetime, payer: str) -> IncomingPayment:
        currency = invoice.currency
        if rail in COIN_OF:
            coin = COIN_OF[rail]
            rate = self.market.rate(coin, currency, at)
            units = coin_amount_for(amount, currency, coin, rate)
            value = convert(units, coin, currency, rate)
            return IncomingPayment(
                rail=rail,
                rail_payment_id=self._chain_id(rail),
                amount_received_minor=units,
                currency_received=coin,
                amount_minor=value,
                exchange_rate=rate,
                fee_minor=min(value, self._network_fee(rail)),
                received_at=at,
            )
        fee = card_fee(amount) if rail == Rail.CARD else 0
        if rail == Rail.WIRE:
            fee = min(amount, 1500 if currency == "USD" else 1000)  # the receiving bank's incoming-wire fee
        reference, note = self._reference(rail, invoice, payer)
        received, received_currency = amount, currency
        if rail == Rail.WIRE and currency == "USD" and self.rng.random() < FOREIGN_WIRE_SHARE:
            received_currency, per_dollar = self.rng.choice(FOREIGN_WIRES)
            received = convert(amount, currency, received_currency, per_dollar)
        return IncomingPayment(
            rail=rail,
            rail_payment_id=reference,
            amount_received_minor=received,
            currency_received=received_currency,
            amount_minor=amount,
            exchange_rate=implied_rate(amount, currency, received, received_currency),
            fee_minor=fee,
            received_at=at,
            note=note,
        )

    def _network_fee(self, rail: Rail) -> int:
        """What sweeping the coins to the operator's wallet cost, in the invoice currency's minor units."""
        low, high = {Rail.BTC: (40, 450), Rail.ETH: (30, 380), Rail.USDC: (5, 60)}[rail]
        return self.rng.randint(low, high)

    def _card_id(self, prefix: str = "pi") -> str:
        return f"{prefix}_{self.rng.getrandbits(96):024x}"

    def _chain_id(self, rail: Rail) -> str:
        txid = f"{self.rng.getrandbits(256):064x}"
        if rail == Rail.BTC:
            return f"{txid}:{self.rng.randint(0, 3)}"
        return f"0x{txid}" if rail == Rail.ETH else f"0x{txid}:{self.rng.randint(0, 40)}"

    def _reference(self, rail: Rail, invoice: Invoice, payer: str) -> tuple[str, str | None]:
        self._manual_serial += 1
        serial = self._manual_serial
        if rail == Rail.CARD:
            return self._card_id(), None
        if rail == Rail.BANK_TRANSFER:
            return f"BT-{serial:07d}", f"Transfer from {payer} for invoice {invoice.number}"
        if rail == Rail.WIRE:
            return f"FW{self.rng.randint(10**11, 10**12 - 1)}", f"Wire from {payer} for invoice {invoice.number}"
        if rail == Rail.CHECK:
            return f"CHK-{self.rng.randint(1001, 9999)}-{serial}", f"Check from {payer}, deposited"
        return f"CASH-{serial:06d}", f"Cash received from {payer}, receipt issued"
