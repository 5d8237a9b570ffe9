"""Posting balanced transactions, reading balances, and proving the books hold together."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.ledger.models import Account, LedgerEntry, LedgerTransaction


class UnbalancedTransaction(ValueError):
    """Entries that do not sum to zero per currency; nothing was written."""


@dataclass(frozen=True)
class Line:
    account: Account
    amount_minor: int  # debit positive, credit negative
    customer_id: int | None = None


def post(
    kind: str,
    key: str,
    currency: str,
    lines: list[Line],
    *,
    description: str = "",
    invoice_id: int | None = None,
    payment_id: int | None = None,
    refund_id: int | None = None,
    customer_id: int | None = None,
) -> LedgerTransaction | None:
    """Writes one balanced transaction; returns None (and writes nothing) if `key` was posted before."""
    lines = [line for line in lines if line.amount_minor != 0]
    if sum(line.amount_minor for line in lines) != 0:
        raise UnbalancedTransaction(f"{kind} {key}: entries sum to {sum(x.amount_minor for x in lines)}")
    if not lines:
        return None
    txn = LedgerTransaction(
        kind=kind,
        idempotency_key=key,
        description=description[:300],
        invoice_id=invoice_id,
        payment_id=payment_id,
        refund_id=refund_id,
        customer_id=customer_id,
    )
    txn.entries = [
        LedgerEntry(
            account=line.account, amount_minor=line.amount_minor, currency=currency, customer_id=line.customer_id
        )
        for line in lines
    ]
    try:
        with db.session.begin_nested():
            db.session.add(txn)
    except IntegrityError:
        return None
    return txn


def balance(account: Account, currency: str, customer_id: int | None = None) -> int:
    query = select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
        LedgerEntry.account == account, LedgerEntry.currency == currency
    )
    if customer_id is not None:
        query = query.where(LedgerEntry.customer_id == customer_id)
    return int(db.session.scalar(query))


def trial_balance() -> dict[tuple[str, str], int]:
    """Balance of every (account, currency)."""
    rows = db.session.execute(
        select(LedgerEntry.account, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor)).group_by(
            LedgerEntry.account, LedgerEntry.currency
        )
    )
    return {(account.value, currency): int(total) for account, currency, total in rows}


def check_books() -> list[str]:
    """Every problem found; an empty list means the books hold together."""
    from app.ledger.invariants import find_problems

    return find_problems()


def totals_by_currency(balances: dict[tuple[str, str], int]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for (_, currency), amount in balances.items():
        totals[currency] += amount
    return dict(totals)
