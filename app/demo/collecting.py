"""Getting paid in the demo history: card charges and declines, transfers that arrive on time, late or never,
the invoice emails, reminders and expiry of the 10:00 job, dunning at 09:00, and what happens after the money is
in (refunds, disputes). The jobs' own per-item services do the work; the seed decides only what customers do."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from app.billing.dunning import parse_schedule, take_step
from app.billing.invoices import LineInput, create_invoice
from app.billing.models import Invoice, InvoiceStatus, SubscriptionStatus
from app.billing.reminders import expire_stale_invoice, reminder_days, send_invoice, send_reminder
from app.billing.subscriptions import cancel_subscription, mark_past_due
from app.demo.rails import ACTOR, COIN_OF, is_instant
from app.demo.state import Business, Member
from app.demo.timeline import daily_run, daily_run_days_after
from app.extensions import db
from app.payments.disputes import BalanceMovement, DisputeFacts, record_dispute
from app.payments.models import DisputeStatus, Payment, PaymentStatus, Rail
from app.payments.refunds import record_refund
from app.payments.settlement import SettlementOutcome
from app.settings.service import get_setting

#: chance a charge is declined, by why the invoice exists
DECLINE_RATE = {"first": 0.03, "switch": 0.02, "conversion": 0.05, "renewal": 0.05, "retry": 0.4}
#: chance a dunning retry of a declined card goes through
RETRY_SUCCESS = 0.4
#: late money held for review would have been dealt with by the operator long ago; the seed cannot say how, so
#: only the recent weeks of the history have any
REVIEW_WINDOW = timedelta(days=45)
#: what the card network keeps per dispute, in minor units of the payment's currency (Stripe: 15.00)
DISPUTE_FEE_MINOR = 1500
#: the share of disputes the operator wins with evidence
DISPUTES_WON = 0.35


def collect(biz: Business, member: Member, invoice: Invoice, kind: str) -> None:
    """Sets a new invoice on its way to being paid (or not) according to the customer's rail and habits."""
    if kind in ("first", "conversion") and biz.rails_to_show:
        member.rail = biz.rails_to_show.pop(0)
    if is_instant(member.rail):
        charge(biz, member, invoice, kind)
    else:
        _expect_transfer(biz, member, invoice, kind)
    if invoice.status == InvoiceStatus.OPEN:
        if kind == "renewal":
            mark_past_due(member.sub, actor=ACTOR, now=biz.clock.now)  # as the renewal job does with what it
            _schedule_dunning(biz, member, invoice)  # could not collect at once
        _follow_up(biz, member, invoice)


def _expect_transfer(biz: Business, member: Member, invoice: Invoice, kind: str) -> None:
    now, end = biz.clock.now, biz.end
    # When each kind of invoice must be issued for its late money to arrive before the end, and how late it is:
    # after a first invoice expired, or after dunning voided a renewal.
    window = {
        "first": (end - timedelta(days=80), end - timedelta(days=50), (46, 50)),
        "renewal": (end - timedelta(days=40), end - timedelta(days=20), (12, 18)),
    }
    earliest, latest, late_days = window.get(kind, (end, end, None))
    late = biz.take("late_money", earliest <= now <= latest)
    days = biz.rng.uniform(*late_days) if late else _transfer_delay(biz, kind)
    if days is None:
        return
    arrives = now + timedelta(days=days)
    if not late and days > 10 and arrives < end - REVIEW_WINDOW:
        return  # money this late, this long ago, would have been settled with the customer by now
    biz.timeline.at(arrives, transfer_arrives, biz, member, invoice, late)


def _transfer_delay(biz: Business, kind: str) -> float | None:
    """Days from the invoice to the money arriving; None for never."""
    draw = biz.rng.random()
    if kind == "conversion":
        return biz.rng.uniform(0.1, 2) if draw < 0.97 else None
    if kind != "renewal":
        return biz.rng.uniform(0.1, 6) if draw < 0.96 else None
    if draw < 0.82:
        return biz.rng.uniform(0.2, 6)
    if draw < 0.967:
        return biz.rng.uniform(6, 9.3)  # late: dunning has e-mailed, but the money comes before the downgrade
    if draw < 0.97:
        return biz.rng.uniform(11, 25)  # after the downgrade voided the invoice: held for review
    return None


def charge(biz: Business, member: Member, invoice: Invoice, kind: str) -> None:
    """The seed stands in for the card rail (app/billing/card_on_file.py charges nothing yet)."""
    if invoice.status != InvoiceStatus.OPEN:
        return
    if kind == "renewal" and biz.take("declined_near_end", biz.clock.now >= biz.end - timedelta(days=8)):
        member.card_keeps_failing = True  # guaranteed: dunning in progress today
    if not member.card_keeps_failing and biz.rng.random() >= DECLINE_RATE[kind]:
        settle(biz, member, invoice, Rail.CARD)
        return
    biz.cashier.decline(invoice, biz.clock.now)
    biz.tally["card declines"] += 1
    if kind in ("first", "switch") and biz.rng.random() < 0.6:
        retry_at = biz.clock.now + timedelta(days=1, hours=biz.rng.randint(0, 6))
        biz.timeline.at(retry_at, charge, biz, member, invoice, "retry")


def transfer_arrives(biz: Business, member: Member, invoice: Invoice, late: bool = False) -> None:
    if invoice.status != InvoiceStatus.OPEN and not late and biz.clock.now < biz.end - REVIEW_WINDOW:
        return  # too late for its invoice, too long ago: the operator would have sorted it out with the customer
    extra = 0
    if biz.rng.random() < 0.04 or biz.take("overpayment"):
        # Rounded up, or sent with the wrong figure: the surplus becomes the customer's credit.
        extra = biz.rng.choice((100, 500, 1000)) if member.rail not in COIN_OF else biz.rng.randint(20, 300)
    settle(biz, member, invoice, member.rail, extra)


def settle(biz: Business, member: Member, invoice: Invoice, rail: Rail, extra_minor: int = 0) -> None:
    result = biz.cashier.pay(invoice, rail, biz.clock.now, payer=member.customer.name, extra_minor=extra_minor)
    biz.tally[f"payments {rail.value}"] += 1
    if result.outcome == SettlementOutcome.NEEDS_REVIEW:
        biz.tally["held for review"] += 1
        return
    biz.tally["overpayments"] += extra_minor > 0
    _after_the_money(biz, member, result.payment)
    sub = member.sub
    if (
        sub is not None
        and invoice.subscription_id == sub.id
        and sub.status == SubscriptionStatus.ACTIVE
        and sub.current_period_end == invoice.period_end
    ):
        biz.on_new_period(biz, member)


def _after_the_money(biz: Business, member: Member, payment: Payment) -> None:
    """A few payments are later refunded (in full or in part) or disputed; a few customers are billed a one-off
    service (the guaranteed one is left unpaid, so an invoice is overdue today)."""
    now, draw = biz.clock.now, biz.rng.random()
    if biz.take("overdue_today", biz.end - timedelta(days=40) <= now < biz.end - timedelta(days=20)):
        biz.timeline.at(now + timedelta(days=1), bill_one_off, biz, member, False)
    card = payment.rail == Rail.CARD
    recent = biz.end - timedelta(days=60) <= now < biz.end - timedelta(days=20)
    if card and (draw < 0.002 or biz.take("dispute", recent)):
        biz.timeline.at(now + timedelta(days=biz.rng.uniform(5, 15)), dispute, biz, payment)
    elif payment.rail in (Rail.CARD, Rail.BANK_TRANSFER) and (draw < 0.006 or biz.take("refund_full", recent)):
        biz.timeline.at(now + timedelta(days=biz.rng.uniform(1, 10)), refund, biz, member, payment, True)
    elif card and (draw < 0.01 or biz.take("refund_partial", recent)):
        biz.timeline.at(now + timedelta(days=biz.rng.uniform(3, 15)), refund, biz, member, payment, False)


ONE_OFF = (("Onboarding workshop (half day)", 45000), ("Data migration from a previous tool", 90000))


def bill_one_off(biz: Business, member: Member, pays: bool) -> None:
    """An invoice outside the subscription, paid by transfer on the usual terms (or not at all)."""
    description, usd_minor = biz.rng.choice(ONE_OFF)
    currency = member.customer.preferred_currency
    invoice = create_invoice(
        member.customer, currency, [LineInput(description, usd_minor)], actor=ACTOR, now=biz.clock.now
    )
    biz.tally["one-off invoices"] += 1
    if pays:
        rail = member.rail if not is_instant(member.rail) else Rail.BANK_TRANSFER
        arrives = biz.clock.now + timedelta(days=biz.rng.uniform(3, 24))
        biz.timeline.at(arrives, settle, biz, member, invoice, rail)
    _follow_up(biz, member, invoice)


def _follow_up(biz: Business, member: Member, invoice: Invoice) -> None:
    """What the 10:00 job does with an invoice left open: send it, remind about it when overdue, expire it."""
    biz.timeline.at(daily_run("invoice_auto_send", biz.clock.now), send_if_open, biz, invoice)
    for day in reminder_days():
        when = daily_run_days_after("invoice_auto_send", invoice.due_at, day)
        biz.timeline.at(when, remind_if_overdue, biz, member, invoice, day)
    biz.timeline.at(daily_run("invoice_auto_send", invoice.expires_at), expire_if_open, biz, member, invoice)


def send_if_open(biz: Business, invoice: Invoice) -> None:
    if invoice.status == InvoiceStatus.OPEN and invoice.sent_at is None:
        send_invoice(invoice, biz.clock.now, actor=ACTOR)


def remind_if_overdue(biz: Business, member: Member, invoice: Invoice, day: int) -> None:
    # Invoices of a past-due subscription are left to dunning, whose emails already ask for the money.
    in_dunning = member.sub is not None and member.sub.id == invoice.subscription_id
    in_dunning = in_dunning and member.sub.status == SubscriptionStatus.PAST_DUE
    if invoice.status == InvoiceStatus.OPEN and invoice.reminder_days_sent < day and not in_dunning:
        send_reminder(invoice, day, actor=ACTOR)


def expire_if_open(biz: Business, member: Member, invoice: Invoice) -> None:
    if invoice.status != InvoiceStatus.OPEN:
        return
    canceled = expire_stale_invoice(invoice, biz.clock.now, actor=ACTOR)
    if canceled and member.sub is not None and member.sub.id == invoice.subscription_id:
        member.replace(None)  # a subscription whose first invoice expired never started
    biz.tally["invoices expired"] += 1


def _schedule_dunning(biz: Business, member: Member, invoice: Invoice) -> None:
    sub = member.sub
    for step in parse_schedule(get_setting("dunning.schedule")):
        when = daily_run_days_after("dunning", sub.past_due_since, step.day)
        biz.timeline.at(when, dunning_step, biz, member, member.generation, invoice, step)


def dunning_step(biz: Business, member: Member, generation: int, invoice: Invoice, step) -> None:  # noqa: ANN001
    sub = biz.live(member, generation)
    if sub is None or sub.status != SubscriptionStatus.PAST_DUE or sub.dunning_step >= step.day:
        return
    if step.action == "retry" and member.rail == Rail.CARD and invoice.status == InvoiceStatus.OPEN:
        if not member.card_keeps_failing and biz.rng.random() < RETRY_SUCCESS:
            settle(biz, member, invoice, Rail.CARD)
            return  # recovered: the subscription is active again and dunning is over
        biz.cashier.decline(invoice, biz.clock.now)
        biz.tally["card declines"] += 1
    take_step(sub, step, biz.clock.now, actor=ACTOR)
    if sub.status == SubscriptionStatus.ACTIVE:
        biz.on_new_period(biz, member)  # the retry spent credit that paid the invoice
    elif step.action == "downgrade":
        biz.tally["downgraded by dunning"] += 1
        member.replace(_live_free_subscription(biz, member))


def _live_free_subscription(biz: Business, member: Member):  # noqa: ANN202
    from app.access.entitlement import current_subscription

    return current_subscription(member.customer)


def refund(biz: Business, member: Member, payment: Payment, full: bool) -> None:
    if payment.status not in (PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED):
        return
    left = payment.amount_minor - payment.refunded_minor
    amount = left if full else max(1, left * biz.rng.choice((20, 25, 50)) // 100)
    reason = "requested_by_customer" if full else "service credit for an outage"
    record_refund(payment.id, amount, f"re_{biz.rng.getrandbits(96):024x}", actor=ACTOR, reason=reason)
    biz.tally["refunds full" if full else "refunds partial"] += 1
    if full and _pays_for_the_current_period(member, payment):
        cancel_subscription(
            member.sub,
            actor=ACTOR,
            reason=biz.rng.choice(("no_longer_needed", "too_expensive")),
            feedback="Asked for a refund and closed the account.",
            now=biz.clock.now,
        )
        member.replace(None)
        biz.tally["cancelled with a refund"] += 1


def _pays_for_the_current_period(member: Member, payment: Payment) -> bool:
    sub, invoice = member.sub, payment.invoice
    return (
        sub is not None
        and invoice is not None
        and invoice.subscription_id == sub.id
        and sub.status == SubscriptionStatus.ACTIVE
        and sub.current_period_end == invoice.period_end
    )


def dispute(biz: Business, payment: Payment) -> None:
    """A chargeback as the card rail reports one: the amount and the network's fee leave the balance at once; the
    operator sends evidence before the deadline; weeks later the bank decides (steps left in the future are not
    taken, so the last weeks' disputes are still open)."""
    payment = _locked(payment.id)
    if payment.status not in (PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED):
        return
    amount = payment.amount_minor - payment.refunded_minor
    respond_by = biz.clock.now + timedelta(days=biz.rng.randint(7, 21))
    opened = DisputeFacts(
        rail_dispute_id=f"du_{biz.rng.getrandbits(96):024x}",
        status=DisputeStatus.OPEN,
        amount_minor=amount,
        rail_status="needs_response",
        reason=biz.rng.choice(("fraudulent", "subscription_canceled", "product_not_received", "duplicate")),
        due_by=respond_by,
        movements=(BalanceMovement(f"txn_{biz.rng.getrandbits(96):024x}", -amount, DISPUTE_FEE_MINOR),),
    )
    record_dispute(payment, opened, actor=ACTOR)
    biz.tally["disputes"] += 1
    evidence_sent = replace(opened, rail_status="under_review")
    biz.timeline.at(respond_by - timedelta(days=biz.rng.uniform(1, 5)), dispute_moves, biz, payment.id, evidence_sent)
    won = biz.rng.random() < DISPUTES_WON
    decided = replace(
        opened,
        status=DisputeStatus.WON if won else DisputeStatus.LOST,
        rail_status="won" if won else "lost",
        movements=opened.movements + ((BalanceMovement(f"txn_{biz.rng.getrandbits(96):024x}", amount),) if won else ()),
    )
    # banks take two to three months to decide after the evidence (Stripe: up to 75 days)
    biz.timeline.at(respond_by + timedelta(days=biz.rng.uniform(40, 75)), dispute_moves, biz, payment.id, decided)


def dispute_moves(biz: Business, payment_id: int, facts: DisputeFacts) -> None:
    record_dispute(_locked(payment_id), facts, actor=ACTOR)
    biz.tally[f"disputes_{facts.rail_status}"] += 1


def _locked(payment_id: int) -> Payment:
    return db.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
