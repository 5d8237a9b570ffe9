"""Prices the demo's rails see: made-up but plausible coin prices and FX rates, and what each rail charges."""

from __future__ import annotations

import math
import random
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from app.money import convert, exponent

#: the coins' base units per the money module: satoshi, wei, USDC's 6 decimals
COINS = ("BTC", "ETH", "USDC")
#: dollars per one unit of the invoice currency, roughly
FX_TO_USD = {"USD": Decimal(1), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}


class Market:
    """A deterministic random walk per coin, one price per day of the history (not real market data)."""

    def __init__(self, seed: int, start: datetime) -> None:
        self._rng = random.Random(f"market:{seed}")
        self._usdc_rng = random.Random(f"usdc:{seed}")
        self._start = start
        self._usd: dict[str, list[Decimal]] = {"BTC": [], "ETH": []}
        self._level = {"BTC": 30000.0, "ETH": 1800.0}

    def _day(self, at: datetime) -> int:
        return max(0, (at - self._start).days)

    def _usd_price(self, coin: str, at: datetime) -> Decimal:
        prices = self._usd[coin]
        while len(prices) <= self._day(at):
            # Drifting upward with daily swings of a few percent, kept within a believable band.
            level = self._level[coin] * math.exp(self._rng.gauss(0.0009, 0.028))
            low, high = (18000.0, 110000.0) if coin == "BTC" else (1100.0, 4800.0)
            self._level[coin] = min(max(level, low), high)
            prices.append(Decimal(str(round(self._level[coin], 2))))
        return prices[self._day(at)]

    def rate(self, coin: str, currency: str, at: datetime) -> Decimal:
        """Units of `currency` per one coin, as the pay page quoted it."""
        if coin == "USDC":
            usd = Decimal(1) + Decimal(self._usdc_rng.randint(-8, 8)) / Decimal(10000)
        else:
            usd = self._usd_price(coin, at)
        places = Decimal("0.01") if coin != "USDC" else Decimal("0.000001")
        return (usd / FX_TO_USD[currency]).quantize(places, rounding=ROUND_HALF_UP)


def coin_amount_for(amount_minor: int, currency: str, coin: str, rate: Decimal) -> int:
    """The base units the pay page asks for: the amount divided by the rate, rounded up to a whole unit."""
    units = math.ceil(Decimal(amount_minor).scaleb(exponent(coin) - exponent(currency)) / rate)
    while convert(units, coin, currency, rate) < amount_minor:  # never short by a rounding
        units += 1
    return units


def card_fee(amount_minor: int) -> int:
    """2.9% + 30 minor units, rounded half up to the minor unit (the usual card processor price)."""
    percent = (Decimal(amount_minor) * Decimal("0.029")).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return min(amount_minor, int(percent) + 30)
