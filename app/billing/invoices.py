"""Invoices: numbering, reference codes, creation, and the one function that moves their status."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.audit.service import record_audit
from app.billing.models import Counter, Invoice, InvoiceLine, InvoiceStatus, Subscription
from app.customers.models import Customer
from app.db_types import utcnow
from app.extensions import db
from app.ledger.models import Account, LedgerTransaction
from app.ledger.service import Line, post
from app.money import normalise_currency
from app.settings.service import get_setting


class IllegalInvoiceTransition(ValueError):
    """The invoice's status does not allow this action."""


#: (current status, action) -> next status
TRANSITIONS: dict[tuple[InvoiceStatus, str], InvoiceStatus] = {
    (InvoiceStatus.DRAFT, "finalize"): InvoiceStatus.OPEN,
    (InvoiceStatus.DRAFT, "void"): InvoiceStatus.VOID,
    (InvoiceStatus.OPEN, "pay"): InvoiceStatus.PAID,
    (InvoiceStatus.OPEN, "void"): InvoiceStatus.VOID,
    (InvoiceStatus.OPEN, "mark_uncollectible"): InvoiceStatus.UNCOLLECTIBLE,
    (InvoiceStatus.OPEN, "expire"): InvoiceStatus.EXPIRED,
    #: the operator accepts a late payment held for review: the invoice is owed again, then paid
    (InvoiceStatus.EXPIRED, "reopen"): InvoiceStatus.OPEN,
    (InvoiceStatus.UNCOLLECTIBLE, "reopen"): InvoiceStatus.OPEN,
}


@dataclass(frozen=True)
class LineInput:
    description: str
    amount_minor: int
    quantity: int = 1


def next_number(name: str = "invoice") -> int:
    """Gap-free: the counter row is locked by the UPDATE until the caller's transaction ends."""
    return reserve_numbers(1, name).start


def reserve_numbers(count: int, name: str = "invoice") -> range:
    """`count` consecutive numbers in one UPDATE ... RETURNING (bulk renewals); gap-free as next_number is."""
    # No Counter objects are loaded in sessions, so the ORM need not search its identity map for them (that search
    # grows with the session and dominated long batch runs such as the demo seed).
    advance = (
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + count)
        .returning(Counter.value)
        .execution_options(synchronize_session=False)
    )
    value = db.session.scalar(advance)
    if value is None:
        try:
            with db.session.begin_nested():
                db.session.execute(insert(Counter).values(name=name, value=0))
        except IntegrityError:
            pass  # another transaction created it first
        value = db.session.scalar(advance)
    return range(int(value) - count + 1, int(value) + 1)


def new_reference_code() -> str:
    """ADV + 8 digits: letters and digits only, because banks strip punctuation from memos."""
    return f"ADV{secrets.randbelow(10**8):08d}"


def create_invoice(
    customer: Customer,
    currency: str,
    lines: list[LineInput],
    *,
    actor: str,
    subscription: Subscription | None = None,
    period: tuple[datetime, datetime] | None = None,
    due_days: int | None = None,
    now: datetime | None = None,
    memo: str | None = None,
    finalize: bool = True,
) -> Invoice:
    """Creates an invoice (open by default, posting the receivable) with a unique number and reference code."""
    now = now or utcnow()
    currency = normalise_currency(currency)
    if not lines:
        raise ValueError("an invoice needs at least one line")
    for line in lines:
        if line.amount_minor < 0 or line.quantity < 1:
            raise ValueError("line amounts must not be negative and quantities must be positive")
    due_days = get_setting("invoice.due_days") if due_days is None else due_days
    total = sum(line.amount_minor * line.quantity for line in lines)
    invoice = Invoice(
        number=next_number(),
        pay_token=secrets.token_urlsafe(24),
        customer_id=customer.id,
        currency=currency,
        subscription_id=subscription.id if subscription else None,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        amount_due_minor=total,
        amount_paid_minor=0,
        status=InvoiceStatus.DRAFT,
        due_at=now + timedelta(days=due_days),
        expires_at=now + timedelta(days=due_days + get_setting("invoice.expiry_days")),
        memo=memo,
        lines=[
            InvoiceLine(
                description=line.description[:500],
                quantity=line.quantity,
                unit_amount_minor=line.amount_minor,
                amount_minor=line.amount_minor * line.quantity,
            )
            for line in lines
        ],
    )
    _insert_with_unique_reference(invoice)
    record_audit("invoice.created", invoice, actor=actor, number=invoice.number, amount_minor=total, currency=currency)
    if finalize:
        finalize_invoice(invoice, actor=actor, now=now)
    return invoice


def _insert_with_unique_reference(invoice: Invoice, attempts: int = 5) -> None:
    for _ in range(attempts):
        invoice.reference_code = new_reference_code()
        try:
            with db.session.begin_nested():
                db.session.add(invoice)
            return
        except IntegrityError:
            if db.session.scalar(select(Invoice.id).where(Invoice.reference_code == invoice.reference_code)) is None:
                raise  # another constraint (e.g. the subscription period): not ours to retry
    raise RuntimeError("could not find a free reference code")


def transition(invoice: Invoice, action: str, *, actor: str, now: datetime | None = None, **details) -> None:
    now = now or utcnow()
    target = TRANSITIONS.get((invoice.status, action))
    if target is None:
        raise IllegalInvoiceTransition(f"invoice {invoice.number} is {invoice.status.value}; cannot {action}")
    previous = invoice.status
    invoice.status = target
    if target == InvoiceStatus.PAID:
        invoice.paid_at = now
    elif target == InvoiceStatus.VOID:
        invoice.voided_at = now
    elif target == InvoiceStatus.OPEN and action == "finalize":
        invoice.issued_at = now
    record_audit(f"invoice.{action}", invoice, actor=actor, **{"from": previous.value, "to": target.value}, **details)


def finalize_invoice(invoice: Invoice, *, actor: str, now: datetime | None = None) -> None:
    transition(invoice, "finalize", actor=actor, now=now)
    post(
        "invoice.issued",
        f"invoice.issued:{invoice.id}",
        invoice.currency,
        [
            Line(Account.RECEIVABLE, invoice.amount_due_minor, invoice.customer_id),
            Line(Account.REVENUE, -invoice.amount_due_minor),
        ],
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        description=f"Invoice {invoice.number}",
    )


def _release_receivable(invoice: Invoice, kind: str, account: Account) -> None:
    """Once per open stretch of the invoice: a reopened invoice (a late payment accepted) that expires again releases
    what is still owed again, under a key of its own; the first release keeps the plain key."""
    remaining = invoice.amount_remaining_minor
    earlier = db.session.scalar(
        select(func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.invoice_id == invoice.id, LedgerTransaction.kind == kind)
    )
    post(
        kind,
        f"{kind}:{invoice.id}" if not earlier else f"{kind}:{invoice.id}:{earlier + 1}",
        invoice.currency,
        [
            Line(account, remaining),
            Line(Account.RECEIVABLE, -remaining, invoice.customer_id),
        ],
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        description=f"Invoice {invoice.number}",
    )


def void_invoice(invoice: Invoice, *, actor: str, reason: str = "") -> None:
    """Cancels what is still owed (revenue reversed). Payments already applied stay; refund them separately."""
    was_open = invoice.status == InvoiceStatus.OPEN
    transition(invoice, "void", actor=actor, reason=reason)
    if was_open:
        _release_receivable(invoice, "invoice.voided", Account.REVENUE)


def mark_uncollectible(invoice: Invoice, *, actor: str) -> None:
    transition(invoice, "mark_uncollectible", actor=actor)
    _release_receivable(invoice, "invoice.uncollectible", Account.BAD_DEBT)


def expire_invoice(invoice: Invoice, *, actor: str, now: datetime | None = None) -> None:
    """Past its expiry the pay page stops quoting; what is still owed leaves the receivables."""
    transition(invoice, "expire", actor=actor, now=now)
    _release_receivable(invoice, "invoice.expired", Account.REVENUE)


def reopen_invoice(invoice: Invoice, *, actor: str, now: datetime | None = None) -> None:
    """Owed again (e.g. the operator accepts a late payment): the released amount returns to receivables. An expiry
    already past moves a fresh expiry period ahead, or the next reminders run would expire what is still owed of a
    partly paid invoice again the same day."""
    now = now or utcnow()
    previous = invoice.status
    transition(invoice, "reopen", actor=actor, now=now)
    if invoice.expires_at is not None and invoice.expires_at <= now:
        invoice.expires_at = now + timedelta(days=get_setting("invoice.expiry_days"))
    account = Account.BAD_DEBT if previous == InvoiceStatus.UNCOLLECTIBLE else Account.REVENUE
    remaining = invoice.amount_remaining_minor
    post(
        "invoice.reopened",
        f"invoice.reopened:{invoice.id}:{secrets.token_hex(4)}",
        invoice.currency,
        [
            Line(Account.RECEIVABLE, remaining, invoice.customer_id),
            Line(account, -remaining),
        ],
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        description=f"Invoice {invoice.number} reopened",
    )


def invoice_for_update(invoice_id: int) -> Invoice | None:
    """The invoice, locked until the transaction ends, so two settlements on it run one after the other."""
    return db.session.scalar(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update().execution_options(populate_existing=True)
    )
