"""The checks behind `flask ledger check`: the books balance and agree with invoices, payments and credit."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from app.billing.models import Invoice, InvoiceStatus
from app.customers.models import Customer
from app.extensions import db
from app.ledger.models import Account, LedgerEntry, LedgerTransaction
from app.payments.models import Dispute, Payment, PaymentStatus, Refund, RefundStatus

#: payment statuses whose applied amount counts toward an invoice
APPLIED_STATUSES = (PaymentStatus.SETTLED, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)


def find_problems() -> list[str]:
    return [
        *_unbalanced_transactions(),
        *_invoice_problems(),
        *_credit_problems(),
        *_suspense_problems(),
        *_cash_problems(),
    ]


def _unbalanced_transactions() -> list[str]:
    rows = db.session.execute(
        select(LedgerEntry.transaction_id, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .group_by(LedgerEntry.transaction_id, LedgerEntry.currency)
        .having(func.sum(LedgerEntry.amount_minor) != 0)
    )
    return [f"ledger transaction {txn} does not balance in {cur}: off by {total}" for txn, cur, total in rows]


def _receivable_by_invoice() -> dict[int, int]:
    rows = db.session.execute(
        select(LedgerTransaction.invoice_id, func.sum(LedgerEntry.amount_minor))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerEntry.account == Account.RECEIVABLE, LedgerTransaction.invoice_id.is_not(None))
        .group_by(LedgerTransaction.invoice_id)
    )
    return {invoice_id: int(total) for invoice_id, total in rows}


def _credit_applied_by_invoice() -> dict[int, int]:
    rows = db.session.execute(
        select(LedgerTransaction.invoice_id, func.sum(LedgerEntry.amount_minor))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerTransaction.kind == "credit.applied", LedgerEntry.account == Account.CUSTOMER_CREDIT)
        .group_by(LedgerTransaction.invoice_id)
    )
    return {invoice_id: int(total) for invoice_id, total in rows}


def _payments_by_invoice() -> dict[int, int]:
    rows = db.session.execute(
        select(Payment.invoice_id, func.sum(Payment.applied_minor))
        .where(Payment.invoice_id.is_not(None), Payment.status.in_(APPLIED_STATUSES))
        .group_by(Payment.invoice_id)
    )
    return {invoice_id: int(total) for invoice_id, total in rows}


def _invoice_problems() -> list[str]:
    problems = []
    receivable = _receivable_by_invoice()
    paid_by_payments = _payments_by_invoice()
    paid_by_credit = _credit_applied_by_invoice()
    invoices = db.session.execute(
        select(Invoice.id, Invoice.number, Invoice.status, Invoice.amount_due_minor, Invoice.amount_paid_minor)
    )
    for invoice_id, number, status, due, paid in invoices:
        backed = paid_by_payments.get(invoice_id, 0) + paid_by_credit.get(invoice_id, 0)
        if backed != paid:
            problems.append(f"invoice {number}: amount paid {paid} but payments and credit applied sum to {backed}")
        if status == InvoiceStatus.PAID and backed != due:
            problems.append(f"invoice {number} is paid but only {backed} of {due} is backed by payments")
        expected = due - paid if status == InvoiceStatus.OPEN else 0
        if status != InvoiceStatus.DRAFT and receivable.get(invoice_id, 0) != expected:
            problems.append(
                f"invoice {number} ({status.value}): receivable {receivable.get(invoice_id, 0)}, expected {expected}"
            )
    return problems


def _credit_problems() -> list[str]:
    rows = db.session.execute(
        select(LedgerEntry.customer_id, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .where(LedgerEntry.account == Account.CUSTOMER_CREDIT)
        .group_by(LedgerEntry.customer_id, LedgerEntry.currency)
    )
    ledger_credit = {(cid, cur): -int(total) for cid, cur, total in rows}
    problems = []
    for cid, external_id, currency, cached in db.session.execute(
        select(Customer.id, Customer.external_id, Customer.preferred_currency, Customer.credit_balance_minor)
    ):
        in_ledger = ledger_credit.pop((cid, currency), 0)
        if cached != in_ledger:
            problems.append(f"customer {external_id}: credit balance {cached} but the ledger holds {in_ledger}")
    for (cid, currency), amount in ledger_credit.items():
        if amount < 0:
            problems.append(f"customer #{cid}: negative credit of {amount} {currency}")
    return problems


def _suspense_problems() -> list[str]:
    held: dict[str, int] = defaultdict(int)
    for currency, amount in db.session.execute(
        select(Payment.currency, func.sum(Payment.amount_minor))
        .where(Payment.status == PaymentStatus.NEEDS_REVIEW)
        .group_by(Payment.currency)
    ):
        held[currency] = int(amount)
    rows = db.session.execute(
        select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .where(LedgerEntry.account == Account.SUSPENSE)
        .group_by(LedgerEntry.currency)
    )
    in_ledger = {currency: -int(total) for currency, total in rows}
    return [
        f"suspense holds {in_ledger.get(c, 0)} {c} but payments awaiting review total {held.get(c, 0)}"
        for c in set(held) | set(in_ledger)
        if held.get(c, 0) != in_ledger.get(c, 0)
    ]


def _cash_problems() -> list[str]:
    """Cash per rail is what payments brought in net of fees, less refunds and what disputes withdrew; fees,
    refunds and disputed funds match their rows."""
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for rail, currency, net, fees in db.session.execute(
        select(
            Payment.rail,
            Payment.currency,
            func.sum(Payment.amount_minor - Payment.fee_minor),
            func.sum(Payment.fee_minor),
        )
        .where(Payment.status != PaymentStatus.FAILED)
        .group_by(Payment.rail, Payment.currency)
    ):
        expected[(f"cash:{rail.value}", currency)] += int(net)
        expected[(Account.FEES.value, currency)] += int(fees)
    for rail, currency, refunded in db.session.execute(
        select(Payment.rail, Refund.currency, func.sum(Refund.amount_minor))
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Refund.status == RefundStatus.SUCCEEDED)
        .group_by(Payment.rail, Refund.currency)
    ):
        expected[(f"cash:{rail.value}", currency)] -= int(refunded)
        expected[(Account.REFUNDS.value, currency)] += int(refunded)
    _add_disputes(expected)
    # A refunded overpayment comes back out of customer credit, a returned held payment out of suspense:
    # neither is revenue given back.
    for currency, from_credit in db.session.execute(
        select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerTransaction.kind == "refund", LedgerEntry.account.in_([Account.CUSTOMER_CREDIT, Account.SUSPENSE]))
        .group_by(LedgerEntry.currency)
    ):
        expected[(Account.REFUNDS.value, currency)] -= int(from_credit)
    actual: dict[tuple[str, str], int] = defaultdict(int)
    for account, currency, total in db.session.execute(
        select(LedgerEntry.account, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .where(
            LedgerEntry.account.in_(
                [a for a in Account if a.value.startswith("cash:")]
                + [Account.FEES, Account.REFUNDS, Account.DISPUTED_FUNDS]
            )
        )
        .group_by(LedgerEntry.account, LedgerEntry.currency)
    ):
        actual[(account.value, currency)] = int(total)
    return [
        f"{account} {currency}: ledger {actual.get((account, currency), 0)}, payments, refunds and disputes say "
        f"{expected.get((account, currency), 0)}"
        for account, currency in sorted(set(expected) | set(actual))
        if actual.get((account, currency), 0) != expected.get((account, currency), 0)
    ]


def _add_disputes(expected: dict[tuple[str, str], int]) -> None:
    """What the rails withdrew for disputes left cash for disputed funds (the amount) and fees (the fee); what they
    reinstated came back. A lost dispute's refund was taken from disputed funds, so it is added back to the cash
    that the refunds above took it from."""
    for rail, currency, withdrawn, reinstated, fees in db.session.execute(
        select(
            Payment.rail,
            Dispute.currency,
            func.sum(Dispute.withdrawn_minor),
            func.sum(Dispute.reinstated_minor),
            func.sum(Dispute.fee_minor),
        )
        .join(Payment, Payment.id == Dispute.payment_id)
        .group_by(Payment.rail, Dispute.currency)
    ):
        held = int(withdrawn) - int(reinstated)
        expected[(f"cash:{rail.value}", currency)] -= held + int(fees)
        expected[(Account.DISPUTED_FUNDS.value, currency)] += held
        expected[(Account.FEES.value, currency)] += int(fees)
    for rail, currency, refunded in db.session.execute(
        select(Payment.rail, Refund.currency, func.sum(Refund.amount_minor))
        .join(Dispute, Dispute.refund_id == Refund.id)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Refund.status == RefundStatus.SUCCEEDED)
        .group_by(Payment.rail, Refund.currency)
    ):
        expected[(f"cash:{rail.value}", currency)] += int(refunded)
        expected[(Account.DISPUTED_FUNDS.value, currency)] -= int(refunded)
